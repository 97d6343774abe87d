"""Correlation: Pearson's r with the Fisher-z interval and Spearman's rho, both as R's ``cor.test``.

Spearman's p-value follows ``cor.test(method = "spearman")`` to the letter: without ties and with
n ≤ 1290 R calls algorithm AS 89 (Best & Roberts 1975) — the exact permutation distribution for n ≤ 9 and
AS 89's Edgeworth series for 10 ≤ n ≤ 1290 — and otherwise (ties, or n > 1290) the t approximation with
n − 2 df. :func:`spearman` reproduces each branch, including R's rounding of the statistic S.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from math import factorial
from typing import Any

import numpy as np
from scipy import stats

from ._validation import as_numeric, check_conf_level, check_min_count, check_not_constant, check_same_length

__all__ = ["CorrelationResult", "pearson", "spearman", "spearman_rho_pvalue"]

#: R computes the AS 89 p-value up to this n; above it (n (n² − 1) would overflow an int) it uses the
#: t approximation.
SPEARMAN_AS89_MAX_N = 1290
#: Up to this n AS 89 enumerates the permutations (R's ``n_small``); above it, the Edgeworth series.
SPEARMAN_ENUMERATION_MAX_N = 9
#: The twelve Edgeworth-series coefficients published with AS 89.
_AS89_C = (0.2274, 0.2531, 0.1745, 0.0758, 0.1033, 0.3932, 0.0879, 0.0151, 0.0072, 0.0831, 0.0131, 4.6e-4)


@dataclass(frozen=True)
class CorrelationResult:
    """A correlation coefficient and its test, named as R's ``htest`` object.

    ``statistic`` is t (Pearson, on ``df`` df) or S = Σ d² (Spearman); ``conf_low``/``conf_high`` are
    ``None`` for Spearman (R gives no interval). ``p_method`` says how the p-value was obtained.
    """

    estimate: float
    statistic: float
    df: float | None
    p_value: float
    conf_low: float | None
    conf_high: float | None
    n: int
    method: str
    p_method: str
    conf_level: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _paired(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    a = as_numeric(x, "x", allow_missing=True)
    b = as_numeric(y, "y", allow_missing=True)
    check_same_length(a, b, "x and y")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    check_min_count(a.size, 3, "complete pairs of x and y")
    check_not_constant(a, "x values")
    check_not_constant(b, "y values")
    return a, b


def _pearson_r(a: np.ndarray, b: np.ndarray) -> float:
    da, db = a - a.mean(), b - b.mean()
    r = float(np.sum(da * db) / np.sqrt(np.sum(da * da) * np.sum(db * db)))
    return min(1.0, max(-1.0, r))


def pearson(x: Any, y: Any, *, conf_level: float = 0.95) -> CorrelationResult:
    r"""Pearson's product-moment correlation, as R's ``cor.test(x, y)``.

    Parameters
    ----------
    x, y : array_like
        Paired values; pairs with a missing value are dropped.
    conf_level : float
        Level of the Fisher-z interval.

    Notes
    -----
    :math:`t = r \sqrt{(n-2)/(1-r^2)}` on :math:`n-2` df, two-sided. Interval:
    :math:`\tanh(\operatorname{atanh} r \pm z_{1-\alpha/2} / \sqrt{n-3})` (needs n ≥ 4, else ``NaN``).

    References
    ----------
    .. [1] Fisher RA. On the "probable error" of a coefficient of correlation deduced from a small sample.
       Metron. 1921;1:3-32.
    """
    conf_level = check_conf_level(conf_level)
    a, b = _paired(x, y)
    n = a.size
    r = _pearson_r(a, b)
    df = n - 2
    with np.errstate(divide="ignore"):
        t = np.sqrt(df) * r / np.sqrt(1.0 - r * r)
    p_value = float(2.0 * min(stats.t.cdf(t, df), stats.t.sf(t, df)))
    if n > 3:
        z = np.arctanh(r)
        half = stats.norm.ppf((1 + conf_level) / 2) / np.sqrt(n - 3)
        low, high = float(np.tanh(z - half)), float(np.tanh(z + half))
    else:
        low = high = float("nan")
    return CorrelationResult(
        estimate=r,
        statistic=float(t),
        df=float(df),
        p_value=min(p_value, 1.0),
        conf_low=low,
        conf_high=high,
        n=n,
        method="Pearson's product-moment correlation",
        p_method="t distribution",
        conf_level=conf_level,
    )


@cache
def _permutation_counts(n: int) -> np.ndarray:
    """counts[s] = number of permutations p of 1..n with Σ (i − p_i)² = s (exact, by dynamic programming)."""
    top = n * (n * n - 1) // 3
    # state: set of values already used (bitmask) -> counts of partial sums; position = popcount(mask)
    table: dict[int, np.ndarray] = {0: np.zeros(top + 1, dtype=np.int64)}
    table[0][0] = 1
    for position in range(1, n + 1):
        nxt: dict[int, np.ndarray] = {}
        for mask, counts in table.items():
            for value in range(1, n + 1):
                bit = 1 << (value - 1)
                if mask & bit:
                    continue
                step = (position - value) ** 2
                shifted = nxt.setdefault(mask | bit, np.zeros(top + 1, dtype=np.int64))
                shifted[step:] += counts[: top + 1 - step]
        table = nxt
    (counts,) = table.values()
    return counts


def spearman_rho_pvalue(n: int, s: float, *, lower_tail: bool) -> float:
    r"""Algorithm AS 89: :math:`P(S \ge s)`, or :math:`P(S < s)` when ``lower_tail``, as R's ``prho``.

    :math:`S = \sum (i - p_i)^2` over random permutations :math:`p` of :math:`1..n`. Exact for
    n ≤ 9 (R's ``n_small``); for larger n the Edgeworth series of Best & Roberts (1975) with
    :math:`x = (6 (s - 1) / (n (n^2 - 1)) - 1) \sqrt{n - 1}`, clipped to [0, 1].

    References
    ----------
    .. [1] Best DJ, Roberts DE. Algorithm AS 89: the upper tail probabilities of Spearman's rho. Appl
       Stat. 1975;24:377-379.
    """
    if n <= 1:
        raise ValueError("Spearman's test needs at least 2 observations")
    p_upper_default = 0.0 if lower_tail else 1.0
    if s <= 0:
        return p_upper_default
    n3 = n * (n * n - 1.0) / 3.0  # the largest possible S
    if s > n3:
        return 1.0 - p_upper_default
    if n <= SPEARMAN_ENUMERATION_MAX_N:
        counts = _permutation_counts(n)
        at_least = int(counts[int(np.ceil(s)) :].sum())  # permutations with S >= s
        total = factorial(n)
        return (total - at_least) / total if lower_tail else at_least / total
    c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12 = _AS89_C
    b = 1.0 / n
    x = (6.0 * (s - 1) * b / (n * n - 1.0) - 1.0) * np.sqrt(n - 1.0)
    y = x * x
    u = (
        x
        * b
        * (
            c1
            + b * (c2 + c3 * b)
            + y * (-c4 + b * (c5 + c6 * b) - y * b * (c7 + c8 * b - y * (c9 - c10 * b + y * b * (c11 - c12 * y))))
        )
    )
    correction = u / np.exp(y / 2.0)
    if lower_tail:
        p = -correction + stats.norm.cdf(x)
    else:
        p = correction + stats.norm.sf(x)
    return float(min(1.0, max(0.0, p)))


def spearman(x: Any, y: Any, *, exact: bool | None = None) -> CorrelationResult:
    r"""Spearman's rank correlation rho with the p-value of R's ``cor.test(x, y, method = "spearman")``.

    Parameters
    ----------
    x, y : array_like
        Paired values; pairs with a missing value are dropped.
    exact : bool, optional
        R's ``exact``: ``None`` or ``True`` use AS 89 when there are no ties and n ≤ 1290; ``False``
        always uses the t approximation.

    Returns
    -------
    CorrelationResult
        ``statistic`` is :math:`S = (n^3 - n)(1 - \rho)/6` (= :math:`\sum d_i^2` without ties);
        ``conf_low``/``conf_high`` are ``None``.

    Notes
    -----
    :math:`\rho` is Pearson's r of the mid-ranks. Two-sided p = min(1, 2 p₁), where p₁ is the tail on
    the side of S: with AS 89, :math:`P(S \le s)` when :math:`s \le (n^3-n)/6` (R passes round(s) + 2 to
    ``prho``'s ``P(S < .)``; S is always even) and :math:`P(S \ge s)` otherwise; with the t
    approximation, :math:`t = \rho\sqrt{(n-2)/(1-\rho^2)}` on n − 2 df.

    References
    ----------
    .. [1] Best DJ, Roberts DE. Algorithm AS 89: the upper tail probabilities of Spearman's rho. Appl
       Stat. 1975;24:377-379.
    .. [2] R Core Team. ``cor.test`` (package stats), ``prho.c``.
    """
    a, b = _paired(x, y)
    n = a.size
    rank_a, rank_b = stats.rankdata(a), stats.rankdata(b)
    rho = _pearson_r(rank_a, rank_b)
    ties = np.unique(a).size < n or np.unique(b).size < n
    den = (n**3 - n) / 6.0
    if ties:
        s = den * (1.0 - rho)
    else:
        s = float(np.sum((rank_a.astype(np.int64) - rank_b.astype(np.int64)) ** 2))
    use_as89 = (exact is None or exact) and not ties and n <= SPEARMAN_AS89_MAX_N
    upper = s > den
    if use_as89:
        p_one = spearman_rho_pvalue(n, round(s) + (0 if upper else 2), lower_tail=not upper)
        p_method = (
            "exact permutation distribution (AS 89)"
            if n <= SPEARMAN_ENUMERATION_MAX_N
            else "Edgeworth series approximation (AS 89)"
        )
    else:
        r = 1.0 - s / den
        with np.errstate(divide="ignore"):
            t = r / np.sqrt((1.0 - r * r) / (n - 2))
        p_one = float(stats.t.cdf(t, n - 2) if upper else stats.t.sf(t, n - 2))
        p_method = "t approximation" + (" (ties present)" if ties else "")
    return CorrelationResult(
        estimate=rho,
        statistic=s,
        df=None,
        p_value=min(2.0 * p_one, 1.0),
        conf_low=None,
        conf_high=None,
        n=n,
        method="Spearman's rank correlation rho",
        p_method=p_method,
        conf_level=None,
    )
