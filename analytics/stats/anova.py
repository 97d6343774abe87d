"""Comparisons of groups: one-way ANOVA (with eta²), Welch's ANOVA, Tukey HSD, Kruskal–Wallis, t-tests.

Each function takes tidy data — one value and one group label per subject — as the analytics layer gets it
from the database, and returns a frozen result whose field names follow R's output. Group levels are
ordered as R's ``factor()`` orders them (numerically for numeric labels, else alphabetically) unless
``levels`` is given; this fixes the row order of the Tukey table.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from ._validation import (
    as_labels,
    as_numeric,
    check_conf_level,
    check_min_count,
    check_same_length,
    missing_label_mask,
    sorted_levels,
)

__all__ = [
    "GroupSummary",
    "KruskalWallisResult",
    "OneWayAnovaResult",
    "TTestResult",
    "TukeyComparison",
    "TukeyHSDResult",
    "WelchAnovaResult",
    "kruskal_wallis",
    "one_way_anova",
    "t_test",
    "tukey_hsd",
    "welch_anova",
]


@dataclass(frozen=True)
class GroupSummary:
    """Size, mean and SD (n − 1) of one group."""

    level: Any
    n: int
    mean: float
    sd: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OneWayAnovaResult:
    """Classical one-way ANOVA, as ``summary(aov(value ~ group))``, with eta² = SS_between / SS_total."""

    statistic: float
    df_between: int
    df_within: int
    p_value: float
    eta_squared: float
    ss_between: float
    ss_within: float
    ms_between: float
    ms_within: float
    groups: tuple[GroupSummary, ...]
    method: str = "One-way analysis of variance"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["groups"] = [g.to_dict() for g in self.groups]
        return out


@dataclass(frozen=True)
class WelchAnovaResult:
    """Welch's heteroscedastic one-way ANOVA, as ``oneway.test(var.equal = FALSE)``."""

    statistic: float
    df_between: float
    df_within: float
    p_value: float
    groups: tuple[GroupSummary, ...]
    method: str = "One-way analysis of means (not assuming equal variances)"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["groups"] = [g.to_dict() for g in self.groups]
        return out


@dataclass(frozen=True)
class TukeyComparison:
    """One row of R's ``TukeyHSD`` table: ``diff`` = mean(group2) − mean(group1) ("group2-group1")."""

    group1: Any
    group2: Any
    diff: float
    conf_low: float
    conf_high: float
    p_adj: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TukeyHSDResult:
    """Tukey honest significant differences (Tukey–Kramer for unequal group sizes)."""

    comparisons: tuple[TukeyComparison, ...]
    conf_level: float
    ms_within: float
    df_within: int
    groups: tuple[GroupSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "comparisons": [c.to_dict() for c in self.comparisons],
            "conf_level": self.conf_level,
            "ms_within": self.ms_within,
            "df_within": self.df_within,
            "groups": [g.to_dict() for g in self.groups],
        }


@dataclass(frozen=True)
class KruskalWallisResult:
    """Kruskal–Wallis rank-sum test (ties corrected), as ``kruskal.test``."""

    statistic: float
    df: int
    p_value: float
    groups: tuple[GroupSummary, ...]
    method: str = "Kruskal-Wallis rank sum test"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["groups"] = [g.to_dict() for g in self.groups]
        return out


@dataclass(frozen=True)
class TTestResult:
    """Two-sample t-test, as ``t.test(x, y, var.equal = ...)``; ``estimate`` = mean(x) − mean(y)."""

    statistic: float
    df: float
    p_value: float
    estimate: float
    conf_low: float
    conf_high: float
    mean_x: float
    mean_y: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _grouped(
    values: Any, groups: Any, levels: Sequence[Hashable] | None, *, min_groups: int = 2
) -> tuple[list[Any], list[np.ndarray]]:
    """Split tidy (value, group) data into samples by level; rows with a missing value or group are dropped."""
    y = as_numeric(values, "values", allow_missing=True)
    g = as_labels(groups, "groups")
    check_same_length(y, g, "values and groups")
    keep = ~np.isnan(y) & ~missing_label_mask(g)
    y, g = y[keep], g[keep]
    present = sorted_levels(g.tolist())
    if levels is None:
        order = present
    else:
        order = list(levels)
        unknown = [label for label in present if label not in order]
        if unknown:
            raise ValueError(f"group {unknown[0]!r} is not one of the levels given")
    position = {level: i for i, level in enumerate(order)}
    codes = np.fromiter((position[label] for label in g), dtype=np.intp, count=g.size)
    samples = [y[codes == i] for i in range(len(order))]
    used = [(level, s) for level, s in zip(order, samples, strict=True) if s.size]
    if len(used) < min_groups:
        if len(used) == 1:
            raise ValueError("only one group has data, so groups cannot be compared")
        raise ValueError("no group has data")
    return [level for level, _ in used], [s for _, s in used]


def _summaries(levels: list[Any], samples: list[np.ndarray]) -> tuple[GroupSummary, ...]:
    return tuple(
        GroupSummary(
            level=level,
            n=int(s.size),
            mean=float(np.mean(s)),
            sd=float(np.std(s, ddof=1)) if s.size > 1 else float("nan"),
        )
        for level, s in zip(levels, samples, strict=True)
    )


def _anova_table(samples: list[np.ndarray]) -> tuple[float, float, int, int]:
    n = sum(s.size for s in samples)
    m = len(samples)
    grand = np.concatenate(samples).mean()
    ss_between = float(sum(s.size * (s.mean() - grand) ** 2 for s in samples))
    ss_within = float(sum(np.sum((s - s.mean()) ** 2) for s in samples))
    return ss_between, ss_within, m - 1, n - m


def one_way_anova(values: Any, groups: Any, *, levels: Sequence[Hashable] | None = None) -> OneWayAnovaResult:
    r"""One-way analysis of variance, as R's ``summary(aov(value ~ group))``.

    Parameters
    ----------
    values : array_like
        The measurement of each subject (rows with a missing value are dropped, as ``aov`` does).
    groups : array_like
        The group label of each subject.
    levels : sequence, optional
        Order of the groups (default: R's factor order).

    Returns
    -------
    OneWayAnovaResult
        ``statistic`` is F on (``df_between``, ``df_within``) df.

    Notes
    -----
    :math:`F = \frac{SS_B/(m-1)}{SS_W/(N-m)}` with :math:`SS_B = \sum_j n_j(\bar y_j - \bar y)^2` and
    :math:`SS_W = \sum_j \sum_i (y_{ij} - \bar y_j)^2`; :math:`\eta^2 = SS_B/(SS_B + SS_W)`.

    References
    ----------
    .. [1] R Core Team. ``aov``, ``summary.aov`` (package stats).
    .. [2] Cohen J. Statistical Power Analysis for the Behavioral Sciences. 2nd ed. 1988 (eta squared).
    """
    levels_used, samples = _grouped(values, groups, levels)
    ss_between, ss_within, df_b, df_w = _anova_table(samples)
    if df_w < 1:
        raise ValueError("every group has a single subject, so the variation within groups is unknown")
    if ss_within == 0 and ss_between == 0:
        raise ValueError("all values are identical, so there is no variation to analyse")
    ms_b, ms_w = ss_between / df_b, ss_within / df_w
    with np.errstate(divide="ignore"):
        f_value = np.float64(ms_b) / np.float64(ms_w)
    return OneWayAnovaResult(
        statistic=float(f_value),
        df_between=df_b,
        df_within=df_w,
        p_value=float(stats.f.sf(f_value, df_b, df_w)),
        eta_squared=ss_between / (ss_between + ss_within),
        ss_between=ss_between,
        ss_within=ss_within,
        ms_between=ms_b,
        ms_within=ms_w,
        groups=_summaries(levels_used, samples),
    )


def welch_anova(values: Any, groups: Any, *, levels: Sequence[Hashable] | None = None) -> WelchAnovaResult:
    r"""Welch's one-way ANOVA for unequal variances, as R's ``oneway.test(var.equal = FALSE)``.

    Notes
    -----
    With :math:`w_j = n_j / s_j^2`, :math:`\tilde y = \sum w_j \bar y_j / \sum w_j` and
    :math:`\lambda = \sum (1 - w_j/\sum w)^2 / (n_j - 1)`:
    :math:`F = \frac{\sum w_j (\bar y_j - \tilde y)^2 / (m-1)}{1 + 2 (m-2) \lambda / (m^2 - 1)}` on
    :math:`(m - 1, (m^2 - 1) / (3 \lambda))` df.

    References
    ----------
    .. [1] Welch BL. On the comparison of several mean values: an alternative approach. Biometrika.
       1951;38:330-336.
    """
    levels_used, samples = _grouped(values, groups, levels)
    if any(s.size < 2 for s in samples):
        raise ValueError("Welch's ANOVA needs at least 2 subjects in every group")
    n = np.array([s.size for s in samples], dtype=float)
    means = np.array([s.mean() for s in samples])
    variances = np.array([np.var(s, ddof=1) for s in samples])
    if np.any(variances == 0):
        raise ValueError("a group has identical values in every subject, so Welch's ANOVA is undefined")
    m = len(samples)
    w = n / variances
    weighted_mean = np.sum(w * means) / np.sum(w)
    lam = np.sum((1 - w / np.sum(w)) ** 2 / (n - 1))
    statistic = np.sum(w * (means - weighted_mean) ** 2) / (m - 1) / (1 + 2 * (m - 2) * lam / (m**2 - 1))
    df2 = (m**2 - 1) / (3 * lam)
    return WelchAnovaResult(
        statistic=float(statistic),
        df_between=float(m - 1),
        df_within=float(df2),
        p_value=float(stats.f.sf(statistic, m - 1, df2)),
        groups=_summaries(levels_used, samples),
    )


def tukey_hsd(
    values: Any, groups: Any, *, conf_level: float = 0.95, levels: Sequence[Hashable] | None = None
) -> TukeyHSDResult:
    r"""Tukey honest significant differences, as ``TukeyHSD(aov(value ~ group))``.

    Rows are in R's order: for levels :math:`L_1 < \dots < L_m`, the pairs (2,1), (3,1), ..., (m,1),
    (3,2), ..., each printed "L_i-L_j" with ``diff`` = mean(L_i) − mean(L_j), i.e. later minus earlier
    level (``group2`` − ``group1``).

    Notes
    -----
    For groups :math:`i, j`: :math:`se_{ij} = \sqrt{\frac{MS_W}{2}(1/n_i + 1/n_j)}`; the interval is
    :math:`d \pm q_{1-\alpha; m, N-m}\, se_{ij}` and :math:`p = P(Q_{m, N-m} > |d| / se_{ij})`, with
    :math:`Q` the studentized range (scipy's ``studentized_range``; it agrees with R's
    ``qtukey``/``ptukey`` to about 1e-8).

    References
    ----------
    .. [1] Tukey JW. Comparing individual means in the analysis of variance. Biometrics. 1949;5:99-114.
    .. [2] Kramer CY. Extension of multiple range tests to group means with unequal numbers of
       replications. Biometrics. 1956;12:307-310.
    """
    conf_level = check_conf_level(conf_level)
    levels_used, samples = _grouped(values, groups, levels)
    _, ss_within, _, df_w = _anova_table(samples)
    if df_w < 1:
        raise ValueError("every group has a single subject, so the variation within groups is unknown")
    ms_w = ss_within / df_w
    m = len(samples)
    means = [float(s.mean()) for s in samples]
    sizes = [s.size for s in samples]
    q_crit = float(stats.studentized_range.ppf(conf_level, m, df_w))
    rows = []
    for j in range(m):
        for i in range(j + 1, m):
            diff = means[i] - means[j]
            se = np.sqrt(ms_w / 2 * (1 / sizes[i] + 1 / sizes[j]))
            with np.errstate(divide="ignore", invalid="ignore"):
                q = abs(diff) / se
            rows.append(
                TukeyComparison(
                    group1=levels_used[j],
                    group2=levels_used[i],
                    diff=diff,
                    conf_low=float(diff - q_crit * se),
                    conf_high=float(diff + q_crit * se),
                    p_adj=float(stats.studentized_range.sf(q, m, df_w)) if np.isfinite(q) else 0.0,
                )
            )
    return TukeyHSDResult(
        comparisons=tuple(rows),
        conf_level=conf_level,
        ms_within=ms_w,
        df_within=df_w,
        groups=_summaries(levels_used, samples),
    )


def kruskal_wallis(values: Any, groups: Any, *, levels: Sequence[Hashable] | None = None) -> KruskalWallisResult:
    """Kruskal–Wallis rank-sum test with the tie correction, as R's ``kruskal.test``.

    Uses :func:`scipy.stats.kruskal`; H is referred to chi-square on m − 1 df.

    References
    ----------
    .. [1] Kruskal WH, Wallis WA. Use of ranks in one-criterion variance analysis. JASA. 1952;47:583-621.
    """
    levels_used, samples = _grouped(values, groups, levels)
    pooled = np.concatenate(samples)
    if np.all(pooled == pooled[0]):
        raise ValueError("all values are identical, so there is no variation to analyse")
    result = stats.kruskal(*samples)
    return KruskalWallisResult(
        statistic=float(result.statistic),
        df=len(samples) - 1,
        p_value=float(result.pvalue),
        groups=_summaries(levels_used, samples),
    )


def t_test(x: Any, y: Any, *, equal_var: bool = False, conf_level: float = 0.95) -> TTestResult:
    r"""Two-sample t-test of mean(x) − mean(y), Welch's by default, as R's ``t.test(x, y)``.

    Parameters
    ----------
    x, y : array_like
        The two samples (missing values dropped).
    equal_var : bool
        ``True`` for Student's pooled-variance test (``var.equal = TRUE``), ``False`` for Welch's test
        with Satterthwaite's df (R's default).
    conf_level : float
        Level of the interval for the difference in means.

    References
    ----------
    .. [1] Welch BL. The generalization of "Student's" problem when several different population variances
       are involved. Biometrika. 1947;34:28-35.
    """
    conf_level = check_conf_level(conf_level)
    a = as_numeric(x, "x", allow_missing=True)
    b = as_numeric(y, "y", allow_missing=True)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        raise ValueError("only one group has data, so groups cannot be compared")
    check_min_count(a.size + b.size, 3, "values in the two groups together")
    if not equal_var:
        check_min_count(min(a.size, b.size), 2, "values in each group for Welch's t-test")
    if np.var(a) == 0 and np.var(b) == 0:
        raise ValueError("both groups have no variation, so the t statistic is undefined")
    result = stats.ttest_ind(a, b, equal_var=equal_var)
    ci = result.confidence_interval(conf_level)
    return TTestResult(
        statistic=float(result.statistic),
        df=float(result.df),
        p_value=float(result.pvalue),
        estimate=float(a.mean() - b.mean()),
        conf_low=float(ci.low),
        conf_high=float(ci.high),
        mean_x=float(a.mean()),
        mean_y=float(b.mean()),
        method="Two Sample t-test" if equal_var else "Welch Two Sample t-test",
    )
