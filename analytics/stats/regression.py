"""Simple linear regression y = intercept + slope · x, as R's ``summary(lm(y ~ x))`` and ``confint``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from ._validation import as_numeric, check_conf_level, check_min_count, check_not_constant, check_same_length

__all__ = ["LinearRegressionResult", "linear_regression"]


@dataclass(frozen=True)
class LinearRegressionResult:
    """Least-squares fit of y on x.

    ``statistic`` is the model F on (``df_model``, ``df_residual``) df, and ``p_value`` its p-value, which
    equals the slope's two-sided t-test p-value (``slope_p_value``) in simple regression.
    """

    slope: float
    intercept: float
    slope_se: float
    intercept_se: float
    slope_t: float
    intercept_t: float
    slope_p_value: float
    intercept_p_value: float
    slope_conf_low: float
    slope_conf_high: float
    intercept_conf_low: float
    intercept_conf_high: float
    r_squared: float
    adj_r_squared: float
    sigma: float
    statistic: float
    df_model: int
    df_residual: int
    p_value: float
    n: int
    conf_level: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def linear_regression(x: Any, y: Any, *, conf_level: float = 0.95) -> LinearRegressionResult:
    r"""Ordinary least squares of y on one predictor x.

    Parameters
    ----------
    x, y : array_like
        Predictor and outcome; pairs with a missing value are dropped (R's ``na.omit``).
    conf_level : float
        Level of the coefficient intervals (R's ``confint``).

    Notes
    -----
    With :math:`S_{xx} = \sum (x - \bar x)^2`, :math:`S_{xy} = \sum (x - \bar x)(y - \bar y)`:
    :math:`b = S_{xy}/S_{xx}`, :math:`a = \bar y - b \bar x`, residual SD
    :math:`\hat\sigma = \sqrt{RSS/(n-2)}`, :math:`se(b) = \hat\sigma/\sqrt{S_{xx}}`,
    :math:`se(a) = \hat\sigma \sqrt{1/n + \bar x^2/S_{xx}}`; intervals :math:`\pm t_{1-\alpha/2, n-2}\, se`;
    :math:`R^2 = 1 - RSS/TSS`, :math:`F = (TSS - RSS)/\hat\sigma^2` on (1, n − 2) df.

    References
    ----------
    .. [1] R Core Team. ``lm``, ``summary.lm``, ``confint`` (package stats).
    .. [2] Draper NR, Smith H. Applied Regression Analysis. 3rd ed. Wiley; 1998.
    """
    conf_level = check_conf_level(conf_level)
    a = as_numeric(x, "x", allow_missing=True)
    b = as_numeric(y, "y", allow_missing=True)
    check_same_length(a, b, "x and y")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    check_min_count(a.size, 3, "complete pairs of x and y")
    check_not_constant(a, "x values")
    n = a.size
    x_mean, y_mean = a.mean(), b.mean()
    dx, dy = a - x_mean, b - y_mean
    sxx = float(np.sum(dx * dx))
    slope = float(np.sum(dx * dy) / sxx)
    intercept = float(y_mean - slope * x_mean)
    residuals = dy - slope * dx
    rss = float(np.sum(residuals * residuals))
    tss = float(np.sum(dy * dy))
    df_res = n - 2
    sigma2 = rss / df_res
    slope_se = float(np.sqrt(sigma2 / sxx))
    intercept_se = float(np.sqrt(sigma2 * (1.0 / n + x_mean * x_mean / sxx)))
    t_crit = float(stats.t.ppf((1 + conf_level) / 2, df_res))
    with np.errstate(divide="ignore", invalid="ignore"):
        slope_t = np.float64(slope) / np.float64(slope_se)
        intercept_t = np.float64(intercept) / np.float64(intercept_se)
        f_value = np.float64(tss - rss) / np.float64(sigma2)
    r_squared = 1.0 - rss / tss if tss > 0 else float("nan")
    return LinearRegressionResult(
        slope=slope,
        intercept=intercept,
        slope_se=slope_se,
        intercept_se=intercept_se,
        slope_t=float(slope_t),
        intercept_t=float(intercept_t),
        slope_p_value=float(2 * stats.t.sf(abs(slope_t), df_res)),
        intercept_p_value=float(2 * stats.t.sf(abs(intercept_t), df_res)),
        slope_conf_low=slope - t_crit * slope_se,
        slope_conf_high=slope + t_crit * slope_se,
        intercept_conf_low=intercept - t_crit * intercept_se,
        intercept_conf_high=intercept + t_crit * intercept_se,
        r_squared=r_squared,
        adj_r_squared=1.0 - (1.0 - r_squared) * (n - 1) / df_res,
        sigma=float(np.sqrt(sigma2)),
        statistic=float(f_value),
        df_model=1,
        df_residual=df_res,
        p_value=float(stats.f.sf(f_value, 1, df_res)),
        n=n,
        conf_level=conf_level,
    )
