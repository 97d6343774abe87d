"""Empirical ROC analysis: AUC with DeLong's 95 % CI, SPSS's p against AUC = 0.5, Youden cut-off.

Conventions (matching R's pROC and the design):

* ``direction`` is always explicit. ``"higher"``: a higher score means positive (pROC's ``direction =
  "<"``, controls < cases; e.g. VBQ, where higher means worse bone). ``"lower"``: a lower score means
  positive (pROC's ``">"``; e.g. BMD or T-score). The AUC is that of the stated direction, so it can be
  below 0.5; it is never flipped silently.
* Thresholds are pROC's: −∞, the midpoints between adjacent distinct scores, +∞. With ``"higher"`` a
  subject is called positive when score ≥ threshold, with ``"lower"`` when score ≤ threshold.
* The Youden index is J = sensitivity + specificity − 1. Thresholds tying for the best J (compared
  exactly, in integer counts) are all listed; the reported cut-off is the one with the highest sensitivity.
* ``p_value`` is the one SPSS prints for "Asymptotic Sig." — the test of AUC = 0.5 with the standard error
  under the null hypothesis, :math:`SE_0 = \\sqrt{(n_1 + n_0 + 1)/(12 n_1 n_0)}`, two-sided (the VBQ
  study's "AUC 0.754, P = 0.006" with 19 vs 21 subjects is exactly this). ``p_value_delong`` is the Wald
  test with DeLong's standard error, named as such.

The DeLong variance uses the O(N log N) algorithm of Sun & Xu (2014): one sort of the pooled scores gives
every placement value, every threshold's confusion matrix and the AUC.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ._validation import as_labels, as_numeric, check_conf_level, check_direction, check_same_length

__all__ = [
    "PairedDeLongResult",
    "ProportionCI",
    "ROCCurve",
    "ROCResult",
    "YoudenCutoff",
    "roc_analysis",
    "roc_auc_delong",
    "roc_auc_null_test",
    "roc_test_delong",
    "wilson_ci",
]


@dataclass(frozen=True)
class ProportionCI:
    """A proportion ``count / total`` with its Wilson score interval (R's ``prop.test(correct = FALSE)``)."""

    estimate: float
    conf_low: float
    conf_high: float
    count: int
    total: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "conf_low": self.conf_low,
            "conf_high": self.conf_high,
            "count": self.count,
            "total": self.total,
        }


@dataclass(frozen=True)
class ROCCurve:
    """Every threshold of the empirical ROC curve, in increasing order of threshold (pROC's ``coords``)."""

    threshold: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    tn: np.ndarray
    fn: np.ndarray
    sensitivity: np.ndarray
    specificity: np.ndarray
    ppv: np.ndarray
    npv: np.ndarray
    youden: np.ndarray

    def to_dict(self) -> dict[str, list[Any]]:
        return {name: getattr(self, name).tolist() for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class YoudenCutoff:
    """The threshold maximising J = sensitivity + specificity − 1, with Wilson 95 % CIs."""

    threshold: float
    youden: float
    sensitivity: ProportionCI
    specificity: ProportionCI
    ppv: ProportionCI
    npv: ProportionCI
    tp: int
    fp: int
    tn: int
    fn: int
    tied_thresholds: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "youden": self.youden,
            "sensitivity": self.sensitivity.to_dict(),
            "specificity": self.specificity.to_dict(),
            "ppv": self.ppv.to_dict(),
            "npv": self.npv.to_dict(),
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
            "tied_thresholds": list(self.tied_thresholds),
        }


@dataclass(frozen=True)
class ROCResult:
    """ROC analysis of one score against a binary outcome.

    Attributes
    ----------
    auc, conf_low, conf_high : float
        AUC and DeLong interval (clipped to [0, 1], as pROC).
    variance, se : float
        DeLong variance of the AUC and its square root.
    p_value, statistic_null, se_null : float
        SPSS's test of AUC = 0.5 (standard error under H0).
    p_value_delong, statistic_delong : float
        Wald test of AUC = 0.5 with DeLong's standard error.
    cutoff : YoudenCutoff
        The Youden-optimal threshold.
    curve : ROCCurve
        All thresholds.
    n_positive, n_negative, n_excluded : int
        Subjects analysed, and those left out (missing score or outcome, or an outcome neither positive
        nor among the negatives).
    """

    auc: float
    conf_low: float
    conf_high: float
    variance: float
    se: float
    p_value: float
    statistic_null: float
    se_null: float
    p_value_delong: float
    statistic_delong: float
    cutoff: YoudenCutoff
    curve: ROCCurve
    n_positive: int
    n_negative: int
    n_excluded: int
    direction: str
    conf_level: float

    def to_dict(self, *, curve: bool = False) -> dict[str, Any]:
        """Plain-data form; the full threshold table only when ``curve`` is true (it has N + 1 rows)."""
        out: dict[str, Any] = {
            name: getattr(self, name) for name in self.__dataclass_fields__ if name not in ("cutoff", "curve")
        }
        out["cutoff"] = self.cutoff.to_dict()
        if curve:
            out["curve"] = self.curve.to_dict()
        return out


@dataclass(frozen=True)
class PairedDeLongResult:
    """DeLong's test of two correlated AUCs (two scores on the same subjects), as ``roc.test(paired=TRUE)``."""

    auc1: float
    auc2: float
    estimate: float
    statistic: float
    p_value: float
    conf_low: float
    conf_high: float
    se: float
    n_positive: int
    n_negative: int
    conf_level: float
    method: str = "DeLong's test for two correlated ROC curves"

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def wilson_ci(count: int, total: int, conf_level: float = 0.95) -> ProportionCI:
    r"""Wilson score interval of ``count / total`` without continuity correction.

    .. math:: \frac{\hat p + z^2/(2n) \pm z\sqrt{\hat p(1-\hat p)/n + z^2/(4n^2)}}{1 + z^2/n}

    Identical to R's ``prop.test(count, total, correct = FALSE)$conf.int`` (bounds are exactly 0 and 1
    when ``count`` is 0 or ``total``). ``NaN`` when ``total`` is 0.

    References
    ----------
    .. [1] Wilson EB. Probable inference, the law of succession, and statistical inference. JASA.
       1927;22:209-212.
    """
    conf_level = check_conf_level(conf_level)
    count, total = int(count), int(total)
    if total == 0:
        nan = float("nan")
        return ProportionCI(estimate=nan, conf_low=nan, conf_high=nan, count=count, total=total)
    z = float(stats.norm.ppf((1 + conf_level) / 2))
    p = count / total
    z22n = z * z / (2 * total)
    half = z * np.sqrt(p * (1 - p) / total + z22n / (2 * total))
    low = 0.0 if p <= 0 else float((p + z22n - half) / (1 + 2 * z22n))
    high = 1.0 if p >= 1 else float((p + z22n + half) / (1 + 2 * z22n))
    return ProportionCI(estimate=p, conf_low=low, conf_high=high, count=count, total=total)


# --------------------------------------------------------------------------------------------------------
# outcome handling


def _same(label: Any, wanted: Any) -> bool:
    return bool(label == wanted) or str(label) == str(wanted)


def _outcome_groups(truth: Any, positive: Hashable | None, negative: Any) -> tuple[np.ndarray, np.ndarray, Hashable]:
    """Boolean masks (is positive, is negative) over the rows, and the positive label used.

    Rows that are neither (missing outcome, or an outcome not among ``negative``) are in neither mask.
    """
    raw = np.asarray(truth)
    if raw.ndim != 1:
        raise ValueError("outcomes must be a single column of labels, not a table")
    if raw.dtype.kind in "biuf":
        values = raw.astype(float) if raw.dtype.kind != "b" else raw
        present = ~np.isnan(values) if raw.dtype.kind == "f" else np.ones(raw.size, dtype=bool)
        distinct = [v.item() for v in np.unique(values[present])]
        if positive is None:
            if set(distinct) <= {0, 1}:
                positive = True if raw.dtype.kind == "b" else 1
            else:
                raise ValueError(f"say which outcome value is positive (the outcome has values {distinct[:6]})")
        try:
            wanted = float(positive)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"the positive outcome {positive!r} does not occur in the data") from None
        is_pos = present & (values == wanted)
        if negative is None:
            others = [v for v in distinct if v != wanted]
            if len(others) > 1:
                raise ValueError(f"the outcome has more than two values {distinct[:6]}; say which are negative")
            is_neg = present & ~is_pos
        else:
            negatives = [float(v) for v in (negative if isinstance(negative, list | tuple | set) else [negative])]
            is_neg = present & np.isin(values, negatives) & ~is_pos
        return is_pos, is_neg, positive

    labels = as_labels(raw, "outcomes")
    text = np.array(["" if v is None else str(v).strip() for v in labels.tolist()], dtype=object)
    present = (text != "") & (text != "nan")
    distinct = list(dict.fromkeys(text[present].tolist()))
    if positive is None:
        lowered = {v.lower() for v in distinct}
        if lowered <= {"0", "1"} or lowered <= {"true", "false"}:
            positive = next((v for v in distinct if v.lower() in ("1", "true")), "1")
        else:
            raise ValueError(f"say which outcome value is positive (the outcome has values {distinct[:6]})")
    wanted = str(positive).strip()
    if wanted not in distinct:
        lowered_map = {v.lower(): v for v in distinct}
        if wanted.lower() in lowered_map and wanted.lower() in ("true", "false"):
            wanted = lowered_map[wanted.lower()]
        else:
            raise ValueError(f"the positive outcome {positive!r} does not occur in the data (values {distinct[:6]})")
    is_pos = present & (text == wanted)
    if negative is None:
        others = [v for v in distinct if v != wanted]
        if len(others) > 1:
            raise ValueError(f"the outcome has more than two values {distinct[:6]}; say which are negative")
        is_neg = present & ~is_pos
    else:
        negatives = [str(v).strip() for v in (negative if isinstance(negative, list | tuple | set) else [negative])]
        is_neg = present & np.isin(text, np.array(negatives, dtype=object)) & ~is_pos
    return is_pos, is_neg, positive


def _split(scores: Any, truth: Any, positive: Hashable | None, negative: Any) -> tuple[np.ndarray, np.ndarray, int]:
    s = as_numeric(scores, "scores", allow_missing=True)
    is_pos, is_neg = _outcome_groups(truth, positive, negative)[:2]
    check_same_length(s, is_pos, "scores and outcomes")
    ok = ~np.isnan(s)
    cases, controls = s[is_pos & ok], s[is_neg & ok]
    _check_counts(cases.size, controls.size)
    return cases, controls, int(s.size - cases.size - controls.size)


def _check_counts(n_pos: int, n_neg: int) -> None:
    if n_pos == 0 or n_neg == 0:
        raise ValueError("only one outcome group has data, so a ROC curve cannot be drawn")
    if n_pos < 2 or n_neg < 2:
        raise ValueError(
            f"at least 2 positive and 2 negative subjects are needed, got {n_pos} positive and {n_neg} negative"
        )


# --------------------------------------------------------------------------------------------------------
# core computations


@dataclass(frozen=True)
class _Ranked:
    """Pooled distinct scores with per-value counts of cases and controls."""

    values: np.ndarray  # sorted distinct scores
    inverse: np.ndarray  # index into values of each case, then each control
    cases: np.ndarray  # number of cases at each distinct score
    controls: np.ndarray  # number of controls at each distinct score
    m: int
    n: int


def _rank(cases: np.ndarray, controls: np.ndarray) -> _Ranked:
    pooled = np.concatenate([cases, controls])
    values, inverse = np.unique(pooled, return_inverse=True)
    m = cases.size
    return _Ranked(
        values=values,
        inverse=inverse.reshape(-1),
        cases=np.bincount(inverse[:m], minlength=values.size),
        controls=np.bincount(inverse[m:], minlength=values.size),
        m=m,
        n=controls.size,
    )


def _placements(r: _Ranked, direction: str) -> tuple[np.ndarray, np.ndarray]:
    """DeLong placement values per distinct score (Sun & Xu 2014, via counts instead of mid-ranks).

    V10(x) = P(control "below" x) + ½ P(control = x) for a case with score x, and V01(y) = P(case "above"
    y) + ½ P(case = y) for a control, where "below/above" follow the direction.
    """
    controls_below = np.cumsum(r.controls) - r.controls
    cases_above = r.m - np.cumsum(r.cases)
    if direction == "higher":
        v10 = (controls_below + 0.5 * r.controls) / r.n
        v01 = (cases_above + 0.5 * r.cases) / r.m
    else:
        controls_above = r.n - controls_below - r.controls
        cases_below = r.m - cases_above - r.cases
        v10 = (controls_above + 0.5 * r.controls) / r.n
        v01 = (cases_below + 0.5 * r.cases) / r.m
    return v10, v01


def _delong(r: _Ranked, direction: str) -> tuple[float, float]:
    v10, v01 = _placements(r, direction)
    auc = float(np.dot(r.cases, v10) / r.m)
    s10 = float(np.dot(r.cases, (v10 - auc) ** 2) / (r.m - 1))
    s01 = float(np.dot(r.controls, (v01 - auc) ** 2) / (r.n - 1))
    return auc, s10 / r.m + s01 / r.n


def _thresholds(values: np.ndarray, direction: str) -> np.ndarray:
    """pROC's ``roc.utils.thresholds``: −∞, midpoints of adjacent distinct values, +∞.

    A midpoint that rounds onto one of its two neighbours (adjacent floating-point numbers) is moved so
    that the classification "score ≥ t" (higher) or "score ≤ t" (lower) still separates them.
    """
    lower = np.concatenate([[-np.inf], values])
    upper = np.concatenate([values, [np.inf]])
    with np.errstate(over="ignore", invalid="ignore"):
        mid = (lower + upper) / 2
        halves = lower / 2 + upper / 2
    thresholds = np.where(np.abs(mid) > 1e100, halves, mid)
    inner = slice(1, -1)
    t, lo, hi = thresholds[inner], lower[inner], upper[inner]
    if direction == "higher":
        thresholds[inner] = np.where(t == lo, hi, t)
    else:
        thresholds[inner] = np.where(t == hi, lo, t)
    return thresholds


def _curve(r: _Ranked, direction: str) -> ROCCurve:
    cases_cum = np.concatenate([[0], np.cumsum(r.cases)])  # cases with score below threshold i
    controls_cum = np.concatenate([[0], np.cumsum(r.controls)])
    if direction == "higher":
        tp, fp = r.m - cases_cum, r.n - controls_cum
    else:
        tp, fp = cases_cum, controls_cum
    fn, tn = r.m - tp, r.n - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        sensitivity = tp / r.m
        specificity = tn / r.n
        ppv = tp / (tp + fp)
        npv = tn / (tn + fn)
    return ROCCurve(
        threshold=_thresholds(r.values, direction),
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        sensitivity=sensitivity,
        specificity=specificity,
        ppv=ppv,
        npv=npv,
        youden=sensitivity + specificity - 1.0,
    )


def _youden(curve: ROCCurve, m: int, n: int, conf_level: float) -> YoudenCutoff:
    # J * m * n = tp * n + tn * m - m * n: compare in integers, so ties are exact.
    score = curve.tp.astype(np.int64) * n + curve.tn.astype(np.int64) * m
    tied = np.flatnonzero(score == score.max())
    best = int(tied[np.argmax(curve.tp[tied])])
    tp, fp, tn, fn = (int(a[best]) for a in (curve.tp, curve.fp, curve.tn, curve.fn))
    return YoudenCutoff(
        threshold=float(curve.threshold[best]),
        youden=float(curve.youden[best]),
        sensitivity=wilson_ci(tp, tp + fn, conf_level),
        specificity=wilson_ci(tn, tn + fp, conf_level),
        ppv=wilson_ci(tp, tp + fp, conf_level),
        npv=wilson_ci(tn, tn + fn, conf_level),
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        tied_thresholds=tuple(float(curve.threshold[i]) for i in tied),
    )


def roc_auc_null_test(auc: float, n_positive: int, n_negative: int) -> tuple[float, float, float]:
    r"""SPSS's test of AUC = 0.5: ``(statistic, p_value, se_null)``.

    :math:`SE_0 = \sqrt{(n_1 + n_0 + 1)/(12\, n_1 n_0)}` is the standard error of the AUC when the
    score does not discriminate (the variance of the Mann–Whitney U statistic under H0, divided by
    :math:`(n_1 n_0)^2`); :math:`z = (AUC - 0.5)/SE_0`, two-sided normal p. For the VBQ study's AUC 0.754
    with 19 positives and 21 negatives, p = 0.00605.

    References
    ----------
    .. [1] Hanley JA, McNeil BJ. The meaning and use of the area under a receiver operating characteristic
       (ROC) curve. Radiology. 1982;143:29-36.
    """
    if n_positive < 1 or n_negative < 1:
        raise ValueError("at least 1 positive and 1 negative subject are needed")
    se_null = float(np.sqrt((n_positive + n_negative + 1) / (12.0 * n_positive * n_negative)))
    z = (float(auc) - 0.5) / se_null
    return z, float(2 * stats.norm.sf(abs(z))), se_null


def _auc_tests(auc: float, variance: float, m: int, n: int, conf_level: float) -> dict[str, float]:
    z_crit = float(stats.norm.ppf((1 + conf_level) / 2))
    se = float(np.sqrt(variance))
    z_null, p_null, se_null = roc_auc_null_test(auc, m, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_delong = np.float64(auc - 0.5) / np.float64(se)
    if se == 0 and auc == 0.5:
        z_delong = np.float64(0.0)
    return {
        "conf_low": float(min(1.0, max(0.0, auc - z_crit * se))),
        "conf_high": float(min(1.0, max(0.0, auc + z_crit * se))),
        "se": se,
        "se_null": se_null,
        "statistic_null": z_null,
        "p_value": p_null,
        "statistic_delong": float(z_delong),
        "p_value_delong": float(2 * stats.norm.sf(abs(z_delong))),
    }


# --------------------------------------------------------------------------------------------------------
# public API


def roc_analysis(
    scores: Any,
    truth: Any,
    *,
    direction: str,
    positive: Hashable | None = None,
    negative: Any = None,
    conf_level: float = 0.95,
) -> ROCResult:
    r"""Empirical ROC curve, AUC with DeLong CI and p-values, Youden cut-off with Wilson CIs.

    Parameters
    ----------
    scores : array_like
        The score of each subject (VBQ, BMD, ...); missing scores are left out.
    truth : array_like
        The outcome of each subject (labels, booleans or 0/1).
    direction : {"higher", "lower"}
        Which side of the score is positive: ``"higher"`` — higher scores mean positive (pROC ``"<"``);
        ``"lower"`` — lower scores mean positive (pROC ``">"``). Required: never guessed from the data.
    positive : label, optional
        The outcome value that is positive (default: ``True``/``1`` for boolean or 0/1 outcomes).
    negative : label or list of labels, optional
        The outcome values that are negative; other values are left out (e.g. osteopenia when comparing
        osteoporosis with normal). Default: every value other than ``positive``, which must then be one.
    conf_level : float
        Level of the AUC interval and of the Wilson intervals.

    Returns
    -------
    ROCResult

    Notes
    -----
    With :math:`m` positives :math:`X_i` and :math:`n` negatives :math:`Y_j` and
    :math:`\psi(x, y) = 1, \tfrac12, 0` for :math:`x > y, x = y, x < y` (direction "higher"):
    :math:`AUC = \frac{1}{mn}\sum_i\sum_j \psi(X_i, Y_j)`. DeLong's variance is
    :math:`S_{10}/m + S_{01}/n`, where :math:`S_{10}, S_{01}` are the sample variances (n − 1) of the
    placement values :math:`V_{10}(X_i) = \frac1n \sum_j \psi(X_i, Y_j)` and
    :math:`V_{01}(Y_j) = \frac1m \sum_i \psi(X_i, Y_j)`, computed in O(N log N) from one sort (Sun &
    Xu 2014). CI: :math:`AUC \pm z_{1-\alpha/2}\sqrt{V}`, clipped to [0, 1]. SPSS p: two-sided normal test
    of :math:`(AUC - 0.5)/SE_0`, :math:`SE_0 = \sqrt{(m + n + 1)/(12 m n)}` (Hanley & McNeil 1982, the
    variance of the Mann–Whitney statistic under H0).

    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more correlated
       receiver operating characteristic curves: a nonparametric approach. Biometrics. 1988;44:837-845.
    .. [2] Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas under correlated
       receiver operating characteristic curves. IEEE Signal Process Lett. 2014;21(11):1389-1393.
    .. [3] Robin X, et al. pROC: an open-source package for R and S+ to analyze and compare ROC curves. BMC
       Bioinformatics. 2011;12:77.
    .. [4] Youden WJ. Index for rating diagnostic tests. Cancer. 1950;3:32-35.
    .. [5] Hanley JA, McNeil BJ. The meaning and use of the area under a receiver operating characteristic
       (ROC) curve. Radiology. 1982;143:29-36.
    """
    direction = check_direction(direction)
    conf_level = check_conf_level(conf_level)
    cases, controls, excluded = _split(scores, truth, positive, negative)
    ranked = _rank(cases, controls)
    auc, variance = _delong(ranked, direction)
    curve = _curve(ranked, direction)
    tests = _auc_tests(auc, variance, ranked.m, ranked.n, conf_level)
    return ROCResult(
        auc=auc,
        variance=variance,
        cutoff=_youden(curve, ranked.m, ranked.n, conf_level),
        curve=curve,
        n_positive=ranked.m,
        n_negative=ranked.n,
        n_excluded=excluded,
        direction=direction,
        conf_level=conf_level,
        **tests,
    )


def roc_auc_delong(
    scores: Any,
    truth: Any,
    *,
    direction: str,
    positive: Hashable | None = None,
    negative: Any = None,
    conf_level: float = 0.95,
) -> tuple[float, float, float]:
    """AUC and its DeLong interval only, ``(auc, conf_low, conf_high)`` (see :func:`roc_analysis`)."""
    direction = check_direction(direction)
    conf_level = check_conf_level(conf_level)
    cases, controls, _ = _split(scores, truth, positive, negative)
    ranked = _rank(cases, controls)
    auc, variance = _delong(ranked, direction)
    tests = _auc_tests(auc, variance, ranked.m, ranked.n, conf_level)
    return auc, tests["conf_low"], tests["conf_high"]


def roc_test_delong(
    scores1: Any,
    scores2: Any,
    truth: Any,
    *,
    direction: str,
    direction2: str | None = None,
    positive: Hashable | None = None,
    negative: Any = None,
    conf_level: float = 0.95,
) -> PairedDeLongResult:
    r"""DeLong's test comparing the AUCs of two scores measured on the same subjects.

    As pROC's ``roc.test(roc1, roc2, method = "delong", paired = TRUE)``. Subjects missing either score
    are left out of both curves.

    Parameters
    ----------
    scores1, scores2 : array_like
        The two scores of each subject.
    truth, positive, negative, conf_level
        As in :func:`roc_analysis`.
    direction, direction2 : {"higher", "lower"}
        Direction of ``scores1`` and of ``scores2`` (default: the same as ``scores1``).

    Notes
    -----
    With the placement values of both scores, :math:`S = S_{10}/m + S_{01}/n` is the 2 × 2 covariance
    matrix of the two AUCs; :math:`z = (AUC_1 - AUC_2)/\sqrt{S_{11} + S_{22} - 2 S_{12}}`, two-sided
    normal p, interval :math:`AUC_1 - AUC_2 \pm z_{1-\alpha/2}\sqrt{\cdot}`.

    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. Biometrics. 1988;44:837-845.
    """
    direction = check_direction(direction)
    direction2 = check_direction(direction2 or direction)
    conf_level = check_conf_level(conf_level)
    s1 = as_numeric(scores1, "first scores", allow_missing=True)
    s2 = as_numeric(scores2, "second scores", allow_missing=True)
    check_same_length(s1, s2, "the two scores")
    is_pos, is_neg, _ = _outcome_groups(truth, positive, negative)
    check_same_length(s1, is_pos, "scores and outcomes")
    ok = ~(np.isnan(s1) | np.isnan(s2))
    pos, neg = is_pos & ok, is_neg & ok
    _check_counts(int(pos.sum()), int(neg.sum()))
    m, n = int(pos.sum()), int(neg.sum())
    aucs, v10s, v01s = [], [], []
    for s, d in ((s1, direction), (s2, direction2)):
        ranked = _rank(s[pos], s[neg])
        v10, v01 = _placements(ranked, d)
        per_case, per_control = v10[ranked.inverse[:m]], v01[ranked.inverse[m:]]
        aucs.append(float(per_case.mean()))
        v10s.append(per_case)
        v01s.append(per_control)
    s10 = np.cov(np.vstack(v10s), ddof=1)
    s01 = np.cov(np.vstack(v01s), ddof=1)
    cov = s10 / m + s01 / n
    diff = aucs[0] - aucs[1]
    se = float(np.sqrt(max(0.0, cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.float64(diff) / np.float64(se)
    if se == 0 and diff == 0:
        z = np.float64(0.0)
    z_crit = float(stats.norm.ppf((1 + conf_level) / 2))
    return PairedDeLongResult(
        auc1=aucs[0],
        auc2=aucs[1],
        estimate=diff,
        statistic=float(z),
        p_value=float(2 * stats.norm.sf(abs(z))),
        conf_low=diff - z_crit * se,
        conf_high=diff + z_crit * se,
        se=se,
        n_positive=m,
        n_negative=n,
        conf_level=conf_level,
    )
