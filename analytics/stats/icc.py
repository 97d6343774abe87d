"""Intraclass correlation coefficients (Shrout & Fleiss 1979; McGraw & Wong 1996), as R's ``psych::ICC``.

Which ICC to report
-------------------
* **Inter-rater reliability** (different readers, one read each): ``ICC2`` = Shrout–Fleiss ICC(2,1) =
  McGraw–Wong ICC(A,1), two-way random effects, absolute agreement, single rater. The readers are a sample
  of the readers who will use the method, and a reader who measures systematically higher than another
  counts as disagreement. This is VBQ Reader's default (``recommended="ICC2"``).
* **Intra-rater reliability** (the same reader, read 1 vs read 2 after a washout): put the reads in the
  columns of one reader's table. Koo & Li (2016) recommend the two-way *mixed* effects model, absolute
  agreement, single measurement, because the reads are not a random sample of readers; McGraw & Wong's
  ICC(A,1) has the same formula under the random and the mixed model, so the number to report is again the
  ``ICC2`` row (only its name in the paper changes: "two-way mixed, absolute agreement"). Use
  ``purpose="intra"`` to get that wording in :attr:`ICCResult.recommendation`.
* ``ICC3`` (consistency) ignores a constant shift between readers or reads; report it only when such a
  shift is irrelevant (for example a second reader known to be calibrated differently), and say so.
* The ``...k`` forms are the reliability of the *mean* of the k readers; use them when the study's score is
  that mean (VBQ Reader's default consensus score is the mean of the readers' first reads).

Koo & Li (2016) interpretation of the estimate: < 0.5 poor, 0.5–0.75 moderate, 0.75–0.9 good, > 0.9
excellent. They recommend judging by the 95 % confidence interval rather than the point estimate (an ICC of
0.86 with CI 0.78–0.92 is "good to excellent"); :attr:`ICCForm.ci_interpretation` gives that reading.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from ._validation import as_numeric, check_conf_level, missing_label_mask

__all__ = ["ICC_FORMS", "ICCForm", "ICCResult", "icc", "icc_long", "koo_li_interpretation"]

#: psych's row name, Shrout & Fleiss name, McGraw & Wong name, model in words.
ICC_FORMS: tuple[tuple[str, str, str, str], ...] = (
    ("ICC1", "ICC(1,1)", "ICC(1)", "one-way random effects, absolute agreement, single rater"),
    ("ICC2", "ICC(2,1)", "ICC(A,1)", "two-way random effects, absolute agreement, single rater"),
    ("ICC3", "ICC(3,1)", "ICC(C,1)", "two-way mixed effects, consistency, single rater"),
    ("ICC1k", "ICC(1,k)", "ICC(k)", "one-way random effects, absolute agreement, mean of k raters"),
    ("ICC2k", "ICC(2,k)", "ICC(A,k)", "two-way random effects, absolute agreement, mean of k raters"),
    ("ICC3k", "ICC(3,k)", "ICC(C,k)", "two-way mixed effects, consistency, mean of k raters"),
)

_RECOMMENDATION = {
    "inter": (
        "Inter-rater reliability: report ICC2 = ICC(2,1) = McGraw–Wong ICC(A,1), two-way random effects, "
        "absolute agreement, single rater (ICC2k if the study uses the mean of the readers)."
    ),
    "intra": (
        "Intra-rater reliability: report the ICC2 row as ICC(A,1), two-way mixed effects, absolute "
        "agreement, single measurement (Koo & Li 2016); its formula is the same as the random-effects one."
    ),
}


def koo_li_interpretation(value: float) -> str:
    """Koo & Li (2016) label of an ICC value.

    < 0.5 poor; 0.5 to < 0.75 moderate; 0.75 to 0.9 good; > 0.9 excellent. ``NaN`` is "undefined".
    """
    if not np.isfinite(value):
        return "undefined"
    if value < 0.5:
        return "poor"
    if value < 0.75:
        return "moderate"
    if value <= 0.9:
        return "good"
    return "excellent"


@dataclass(frozen=True)
class ICCForm:
    """One of the six ICCs, with psych's F test and confidence interval."""

    type: str
    shrout_fleiss: str
    mcgraw_wong: str
    model: str
    estimate: float
    F: float
    df1: float
    df2: float
    p_value: float
    conf_low: float
    conf_high: float
    interpretation: str
    ci_interpretation: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ICCResult:
    """All six ICC forms for one targets × raters table.

    Attributes
    ----------
    forms : tuple of ICCForm
        In psych's order ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k; also reachable as ``result["ICC2"]``.
    recommended : str
        The form to report for ``purpose`` (see the module docstring).
    n_targets, n_raters : int
        Size of the complete-case table analysed.
    targets_dropped : tuple
        Targets left out because at least one rater's rating was missing (complete-case analysis).
    ms_between, ms_within, ms_raters, ms_error : float
        Mean squares between targets, within targets, between raters and residual.
    """

    forms: tuple[ICCForm, ...]
    recommended: str
    purpose: str
    recommendation: str
    n_targets: int
    n_raters: int
    targets_dropped: tuple[Any, ...]
    ms_between: float
    ms_within: float
    ms_raters: float
    ms_error: float
    conf_level: float

    def __getitem__(self, name: str) -> ICCForm:
        for form in self.forms:
            if name in (form.type, form.shrout_fleiss, form.mcgraw_wong):
                return form
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["forms"] = {form.type: form.to_dict() for form in self.forms}
        out["targets_dropped"] = list(self.targets_dropped)
        return out


def icc(
    ratings: Any,
    *,
    targets: Any = None,
    conf_level: float = 0.95,
    purpose: Literal["inter", "intra"] = "inter",
) -> ICCResult:
    r"""Six intraclass correlations of a targets × raters table, exactly as ``psych::ICC(x, lmer=FALSE)``.

    Parameters
    ----------
    ratings : array_like, shape (n_targets, n_raters)
        One row per target (subject, vertebra), one column per rater or per read; ``NaN`` is a missing
        rating. Targets with any missing rating are dropped (complete-case analysis, as psych requires)
        and listed in :attr:`ICCResult.targets_dropped`.
    targets : array_like, optional
        Labels of the rows, used in the report of dropped targets (default: row numbers from 0).
    conf_level : float
        Confidence level of the intervals (psych's ``alpha = 1 - conf_level``).
    purpose : {"inter", "intra"}
        Which reliability question is asked; it only changes :attr:`ICCResult.recommendation`.

    Returns
    -------
    ICCResult

    Notes
    -----
    With :math:`n` targets, :math:`k` raters and the two-way ANOVA mean squares between targets
    :math:`MS_B`, between raters :math:`MS_J`, residual :math:`MS_E`, and the one-way within-target mean
    square :math:`MS_W = (SS_J + SS_E) / (n(k-1))`:

    .. math::

        ICC(1,1) &= \frac{MS_B - MS_W}{MS_B + (k-1) MS_W}, \qquad
        ICC(1,k) = \frac{MS_B - MS_W}{MS_B} \\
        ICC(2,1) &= \frac{MS_B - MS_E}{MS_B + (k-1) MS_E + k (MS_J - MS_E)/n}, \qquad
        ICC(2,k) = \frac{MS_B - MS_E}{MS_B + (MS_J - MS_E)/n} \\
        ICC(3,1) &= \frac{MS_B - MS_E}{MS_B + (k-1) MS_E}, \qquad
        ICC(3,k) = \frac{MS_B - MS_E}{MS_B}

    F tests: :math:`F = MS_B/MS_W` on :math:`(n-1, n(k-1))` df for the one-way forms, :math:`F =
    MS_B/MS_E` on :math:`(n-1, (n-1)(k-1))` df for the two-way forms. Confidence intervals follow Shrout &
    Fleiss (1979), with psych's conventions: the ICC(2,1) interval uses Shrout & Fleiss's approximate
    (Satterthwaite) df :math:`v` for the F quantiles, and the ICC(2,k) interval is the Spearman–Brown step-up
    :math:`L k / (1 + (k-1) L)` of the ICC(2,1) bounds, not McGraw & Wong's own ICC(A,k) formula.

    The mean squares are those of ``aov`` (psych's ``lmer=FALSE``). psych's default ``lmer=TRUE`` estimates
    the same variance components by REML; on complete data it agrees to the optimiser's tolerance (about
    1e-5) unless the rater variance is estimated at zero (:math:`MS_J < MS_E`), where REML truncates it and
    the two differ (see ``tests/reference/icc_reference.txt``). The ANOVA route is the published one.

    References
    ----------
    .. [1] Shrout PE, Fleiss JL. Intraclass correlations: uses in assessing rater reliability. Psychol Bull.
       1979;86(2):420-428.
    .. [2] McGraw KO, Wong SP. Forming inferences about some intraclass correlation coefficients. Psychol
       Methods. 1996;1(1):30-46.
    .. [3] Koo TK, Li MY. A guideline of selecting and reporting intraclass correlation coefficients for
       reliability research. J Chiropr Med. 2016;15(2):155-163.
    .. [4] Revelle W. psych: Procedures for Psychological, Psychometric, and Personality Research, ``ICC``.

    Examples
    --------
    Shrout & Fleiss (1979), 6 targets rated by 4 judges:

    >>> r = icc([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    >>> [round(f.estimate, 2) for f in r.forms]
    [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]
    """
    conf_level = check_conf_level(conf_level)
    if purpose not in _RECOMMENDATION:
        raise ValueError(f"purpose must be 'inter' or 'intra', got {purpose!r}")
    try:
        matrix = np.asarray(ratings, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("ratings contain non-numeric values") from None
    if matrix.ndim != 2:
        raise ValueError("ratings must be a table with one row per target and one column per rater")
    if np.isinf(matrix).any():
        raise ValueError("ratings contain infinite values")
    labels = list(range(matrix.shape[0])) if targets is None else list(targets)
    if len(labels) != matrix.shape[0]:
        raise ValueError(f"{len(labels)} target labels were given for {matrix.shape[0]} rows of ratings")
    if matrix.shape[1] < 2:
        raise ValueError("at least 2 raters (or reads) are needed to estimate agreement")
    complete = ~np.isnan(matrix).any(axis=1)
    dropped = tuple(labels[i] for i in np.flatnonzero(~complete))
    matrix = matrix[complete]
    if matrix.shape[0] < 2:
        raise ValueError(
            f"at least 2 targets rated by every rater are needed, got {matrix.shape[0]}"
            + (f" ({len(dropped)} targets dropped for missing ratings)" if dropped else "")
        )
    if np.all(matrix == matrix.flat[0]):
        raise ValueError(
            f"all ratings are identical ({matrix.flat[0]:g}), so agreement between raters cannot be estimated"
        )
    return _icc_complete(matrix, conf_level, purpose, dropped)


def icc_long(
    target: Any,
    rater: Any,
    rating: Any,
    *,
    conf_level: float = 0.95,
    purpose: Literal["inter", "intra"] = "inter",
) -> ICCResult:
    """ICCs from a long table with one row per (target, rater, rating); see :func:`icc`.

    Parameters
    ----------
    target, rater : array_like
        Labels of the target (subject, vertebra) and of the rater (or read number) of each rating.
    rating : array_like
        The ratings; missing values (``NaN``/``None``) count as not rated.
    conf_level, purpose
        As in :func:`icc`.

    A target lacking any rater's rating is dropped (complete-case analysis) and reported in
    :attr:`ICCResult.targets_dropped`; a (target, rater) pair given twice is an error, since averaging or
    choosing between repeated reads is a study decision, not a statistical one.
    """
    target = np.asarray(target)
    rater = np.asarray(rater)
    if target.ndim != 1 or rater.ndim != 1:
        raise ValueError("targets and raters must each be a single column of labels")
    values = as_numeric(rating, "ratings", allow_missing=True)
    if not len(target) == len(rater) == len(values):
        raise ValueError(
            f"targets, raters and ratings must have the same number of rows "
            f"(got {len(target)}, {len(rater)} and {len(values)})"
        )
    for labels, name in ((target, "target"), (rater, "rater")):
        missing = np.flatnonzero(missing_label_mask(labels))
        if missing.size:
            raise ValueError(f"row {missing[0] + 1} has no {name}")
    target_levels, target_index = _factorize(target)
    rater_levels, rater_index = _factorize(rater)
    n_targets, n_raters = len(target_levels), len(rater_levels)
    if n_raters < 2:
        raise ValueError("at least 2 raters (or reads) are needed to estimate agreement")
    cell = target_index * n_raters + rater_index
    counts = np.bincount(cell, minlength=n_targets * n_raters)
    if (counts > 1).any():
        first = int(np.flatnonzero(counts > 1)[0])
        raise ValueError(
            f"target {target_levels[first // n_raters]!r} has more than one rating from rater "
            f"{rater_levels[first % n_raters]!r}; average repeated reads or analyse them as separate raters"
        )
    matrix = np.full((n_targets, n_raters), np.nan)
    matrix.reshape(-1)[cell] = values
    return icc(matrix, targets=list(target_levels), conf_level=conf_level, purpose=purpose)


def _factorize(labels: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """Distinct labels and each row's index into them (fast path through numpy, fallback for mixed types)."""
    try:
        levels, index = np.unique(labels, return_inverse=True)
        return levels.tolist(), index.reshape(-1)
    except TypeError:
        mapping: dict[Any, int] = {}
        index = np.fromiter((mapping.setdefault(label, len(mapping)) for label in labels), dtype=np.intp)
        return list(mapping), index


def _icc_complete(y: np.ndarray, conf_level: float, purpose: str, dropped: tuple[Any, ...]) -> ICCResult:
    n, k = y.shape
    alpha = 1.0 - conf_level
    centred = y - y.mean()
    row_means = centred.mean(axis=1)
    col_means = centred.mean(axis=0)
    ss_between = k * float(np.sum(row_means**2))
    ss_raters = n * float(np.sum(col_means**2))
    ss_error = float(np.sum((centred - row_means[:, None] - col_means[None, :]) ** 2))
    df_b, df_j, df_e = n - 1, k - 1, (n - 1) * (k - 1)
    msb = np.float64(ss_between / df_b)
    msj = np.float64(ss_raters / df_j)
    mse = np.float64(ss_error / df_e)
    msw = np.float64((ss_raters + ss_error) / (df_j + df_e))

    with np.errstate(divide="ignore", invalid="ignore"):
        icc1 = (msb - msw) / (msb + (k - 1) * msw)
        icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
        icc3 = (msb - mse) / (msb + (k - 1) * mse)
        icc1k = (msb - msw) / msb
        icc2k = (msb - mse) / (msb + (msj - mse) / n)
        icc3k = (msb - mse) / msb

        f11, df11n, df11d = msb / msw, n - 1, n * (k - 1)
        f21, df21n, df21d = msb / mse, n - 1, (n - 1) * (k - 1)
        p11 = float(stats.f.sf(f11, df11n, df11d))
        p21 = float(stats.f.sf(f21, df21n, df21d))

        q = 1.0 - alpha / 2.0
        f1l = f11 / stats.f.ppf(q, df11n, df11d)
        f1u = f11 * stats.f.ppf(q, df11d, df11n)
        f3l = f21 / stats.f.ppf(q, df21n, df21d)
        f3u = f21 * stats.f.ppf(q, df21d, df21n)
        bounds = {
            "ICC1": ((f1l - 1) / (f1l + (k - 1)), (f1u - 1) / (f1u + k - 1)),
            "ICC3": ((f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)),
            "ICC1k": (1 - 1 / f1l, 1 - 1 / f1u),
            "ICC3k": (1 - 1 / f3l, 1 - 1 / f3u),
        }
        # ICC(2,1): Satterthwaite df v (Shrout & Fleiss 1979, eq. 12), in psych's algebra.
        fj = msj / mse
        vn = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        vd = (n - 1) * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        v = vn / vd
        f_upper = stats.f.ppf(q, n - 1, v)
        f_lower = stats.f.ppf(q, v, n - 1)
        low2 = n * (msb - f_upper * mse) / (f_upper * (k * msj + (k * n - k - n) * mse) + n * msb)
        high2 = n * (f_lower * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f_lower * msb)
        bounds["ICC2"] = (low2, high2)
        # psych: ICC(2,k) bounds are the Spearman-Brown step-up of the ICC(2,1) bounds.
        bounds["ICC2k"] = (low2 * k / (1 + low2 * (k - 1)), high2 * k / (1 + high2 * (k - 1)))

    estimates = {"ICC1": icc1, "ICC2": icc2, "ICC3": icc3, "ICC1k": icc1k, "ICC2k": icc2k, "ICC3k": icc3k}
    tests = {
        "ICC1": (f11, df11n, df11d, p11),
        "ICC1k": (f11, df11n, df11d, p11),
    }
    for name in ("ICC2", "ICC3", "ICC2k", "ICC3k"):
        tests[name] = (f21, df21n, df21d, p21)

    forms = []
    for name, sf_name, mw_name, model in ICC_FORMS:
        f_value, d1, d2, p = tests[name]
        low, high = (float(b) for b in bounds[name])
        estimate = float(estimates[name])
        low_label, high_label = koo_li_interpretation(low), koo_li_interpretation(high)
        forms.append(
            ICCForm(
                type=name,
                shrout_fleiss=sf_name,
                mcgraw_wong=mw_name,
                model=model,
                estimate=estimate,
                F=float(f_value),
                df1=float(d1),
                df2=float(d2),
                p_value=p,
                conf_low=low,
                conf_high=high,
                interpretation=koo_li_interpretation(estimate),
                ci_interpretation=low_label if low_label == high_label else f"{low_label} to {high_label}",
            )
        )
    return ICCResult(
        forms=tuple(forms),
        recommended="ICC2",
        purpose=purpose,
        recommendation=_RECOMMENDATION[purpose],
        n_targets=n,
        n_raters=k,
        targets_dropped=dropped,
        ms_between=float(msb),
        ms_within=float(msw),
        ms_raters=float(msj),
        ms_error=float(mse),
        conf_level=conf_level,
    )
