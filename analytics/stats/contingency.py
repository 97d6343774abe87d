"""Tests of independence for categorical data: Pearson's chi-square and Fisher's exact test (2 × 2).

Unlike R's ``chisq.test``, Yates' continuity correction is *off* unless asked for (``correct=True``), as
the design requires; the result says which was used. When asked for, it is applied to 2 × 2 tables only,
exactly as R does: each |O − E| is reduced by min(0.5, |O − E|).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.stats.contingency import odds_ratio

from ._validation import as_labels, check_conf_level, check_same_length, missing_label_mask, sorted_levels

__all__ = [
    "ChiSquareResult",
    "ContingencyTable",
    "FisherExactResult",
    "chi_square_test",
    "crosstab",
    "fisher_exact_test",
]


@dataclass(frozen=True)
class ContingencyTable:
    """Counts with their row and column levels (rows: ``a``, columns: ``b``)."""

    counts: np.ndarray
    row_levels: tuple[Any, ...]
    col_levels: tuple[Any, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts.tolist(),
            "row_levels": list(self.row_levels),
            "col_levels": list(self.col_levels),
        }


@dataclass(frozen=True)
class ChiSquareResult:
    """Pearson's chi-square test of independence, as ``chisq.test(table, correct = ...)``."""

    statistic: float
    df: int
    p_value: float
    expected: np.ndarray
    observed: np.ndarray
    row_levels: tuple[Any, ...]
    col_levels: tuple[Any, ...]
    correct: bool
    method: str
    warning: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "statistic": self.statistic,
            "df": self.df,
            "p_value": self.p_value,
            "expected": self.expected.tolist(),
            "observed": self.observed.tolist(),
            "row_levels": list(self.row_levels),
            "col_levels": list(self.col_levels),
            "correct": self.correct,
            "method": self.method,
            "warning": self.warning,
        }


@dataclass(frozen=True)
class FisherExactResult:
    """Fisher's exact test of a 2 × 2 table, as ``fisher.test``.

    ``estimate`` is the conditional maximum-likelihood odds ratio (R's), with its exact interval.
    """

    p_value: float
    estimate: float
    conf_low: float
    conf_high: float
    observed: np.ndarray
    row_levels: tuple[Any, ...]
    col_levels: tuple[Any, ...]
    alternative: str
    method: str = "Fisher's Exact Test for Count Data"

    def to_dict(self) -> dict[str, Any]:
        return {
            "p_value": self.p_value,
            "estimate": self.estimate,
            "conf_low": self.conf_low,
            "conf_high": self.conf_high,
            "observed": self.observed.tolist(),
            "row_levels": list(self.row_levels),
            "col_levels": list(self.col_levels),
            "alternative": self.alternative,
            "method": self.method,
        }


def crosstab(
    a: Any,
    b: Any,
    *,
    row_levels: Sequence[Hashable] | None = None,
    col_levels: Sequence[Hashable] | None = None,
) -> ContingencyTable:
    """Cross-tabulate two label columns, as R's ``table(a, b)`` (rows with a missing label are left out)."""
    x = as_labels(a, "a")
    y = as_labels(b, "b")
    check_same_length(x, y, "the two columns")
    keep = ~(missing_label_mask(x) | missing_label_mask(y))
    x, y = x[keep], y[keep]
    rows = list(row_levels) if row_levels is not None else sorted_levels(x.tolist())
    cols = list(col_levels) if col_levels is not None else sorted_levels(y.tolist())
    row_index = {level: i for i, level in enumerate(rows)}
    col_index = {level: j for j, level in enumerate(cols)}
    counts = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for p, q in zip(x, y, strict=True):
        try:
            counts[row_index[p], col_index[q]] += 1
        except KeyError as missing:
            raise ValueError(f"{missing.args[0]!r} is not one of the levels given") from None
    return ContingencyTable(counts=counts, row_levels=tuple(rows), col_levels=tuple(cols))


def _as_table(table: Any) -> ContingencyTable:
    if isinstance(table, ContingencyTable):
        return table
    try:
        counts = np.asarray(table, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("the table contains non-numeric counts") from None
    if counts.ndim != 2:
        raise ValueError("a contingency table must have rows and columns")
    if np.isnan(counts).any() or (counts < 0).any() or np.any(counts != np.round(counts)):
        raise ValueError("the table must contain counts (whole numbers, not negative)")
    return ContingencyTable(
        counts=counts.astype(np.int64),
        row_levels=tuple(range(counts.shape[0])),
        col_levels=tuple(range(counts.shape[1])),
    )


def chi_square_test(table: Any, *, correct: bool = False) -> ChiSquareResult:
    r"""Pearson's chi-square test of independence.

    Parameters
    ----------
    table : array_like or ContingencyTable
        Counts, rows × columns (use :func:`crosstab` to build one from two label columns).
    correct : bool
        Apply Yates' continuity correction (2 × 2 tables only, as R). Off by default, unlike R.

    Returns
    -------
    ChiSquareResult
        With the expected counts; ``warning`` repeats R's "Chi-squared approximation may be incorrect"
        when an expected count is below 5.

    Notes
    -----
    :math:`E_{ij} = R_i C_j / N`, :math:`X^2 = \sum (|O_{ij} - E_{ij}| - c_{ij})^2 / E_{ij}` on
    :math:`(r-1)(c-1)` df, with :math:`c_{ij} = \min(0.5, |O_{ij} - E_{ij}|)` under Yates' correction and
    0 otherwise.

    References
    ----------
    .. [1] Pearson K. On the criterion that a given system of deviations... Philos Mag. 1900;50:157-175.
    .. [2] Yates F. Contingency tables involving small numbers and the chi-squared test. Suppl J R Stat
       Soc. 1934;1:217-235.
    """
    tab = _as_table(table)
    counts = tab.counts
    if counts.shape[0] < 2 or counts.shape[1] < 2:
        which = "a" if counts.shape[0] < 2 else "b"
        raise ValueError(f"only one category of {which} has data, so independence cannot be tested")
    if (counts.sum(axis=1) == 0).any() or (counts.sum(axis=0) == 0).any():
        raise ValueError("a row or column of the table has no observations")
    is_2x2 = counts.shape == (2, 2)
    result = stats.chi2_contingency(counts, correction=bool(correct and is_2x2))
    expected = np.asarray(result.expected_freq, dtype=float)
    method = "Pearson's Chi-squared test"
    if correct and is_2x2:
        method += " with Yates' continuity correction"
    return ChiSquareResult(
        statistic=float(result.statistic),
        df=int(result.dof),
        p_value=float(result.pvalue),
        expected=expected,
        observed=counts,
        row_levels=tab.row_levels,
        col_levels=tab.col_levels,
        correct=bool(correct and is_2x2),
        method=method,
        warning="Chi-squared approximation may be incorrect (an expected count is below 5)"
        if (expected < 5).any()
        else None,
    )


def fisher_exact_test(table: Any, *, alternative: str = "two-sided", conf_level: float = 0.95) -> FisherExactResult:
    """Fisher's exact test of a 2 × 2 table, as R's ``fisher.test``.

    The p-value is :func:`scipy.stats.fisher_exact`'s (two-sided: the sum of the probabilities of the
    tables no more likely than the observed one, as R). The odds ratio is the conditional MLE with its
    exact interval (:func:`scipy.stats.contingency.odds_ratio`, ``kind="conditional"``), which is what R
    prints; R finds it with ``uniroot`` at tolerance ~1e-4, so R's printed estimate agrees to about 1e-5.

    References
    ----------
    .. [1] Fisher RA. On the interpretation of chi-square from contingency tables, and the calculation of
       P. J R Stat Soc. 1922;85:87-94.
    """
    conf_level = check_conf_level(conf_level)
    tab = _as_table(table)
    counts = tab.counts
    if counts.shape != (2, 2):
        raise ValueError(f"Fisher's exact test here needs a 2 x 2 table, got {counts.shape[0]} x {counts.shape[1]}")
    if (counts.sum(axis=1) == 0).any() or (counts.sum(axis=0) == 0).any():
        raise ValueError("a row or column of the table has no observations")
    p_value = float(stats.fisher_exact(counts, alternative=alternative).pvalue)
    ratio = odds_ratio(counts, kind="conditional")
    ci = ratio.confidence_interval(conf_level, alternative=alternative)
    return FisherExactResult(
        p_value=p_value,
        estimate=float(ratio.statistic),
        conf_low=float(ci.low),
        conf_high=float(ci.high),
        observed=counts,
        row_levels=tab.row_levels,
        col_levels=tab.col_levels,
        alternative=alternative,
    )
