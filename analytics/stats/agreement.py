"""Bland–Altman agreement between two measurements of the same subjects (Bland & Altman 1986, 1999)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from ._validation import as_numeric, check_conf_level, check_min_count, check_same_length

__all__ = ["BlandAltmanResult", "bland_altman"]


@dataclass(frozen=True)
class BlandAltmanResult:
    """Bias and 95 % limits of agreement of ``a − b``, with confidence intervals.

    ``means`` and ``differences`` are the per-subject points of the Bland–Altman plot.
    """

    bias: float
    sd: float
    loa_low: float
    loa_high: float
    bias_conf_low: float
    bias_conf_high: float
    loa_low_conf_low: float
    loa_low_conf_high: float
    loa_high_conf_low: float
    loa_high_conf_high: float
    loa_se: float
    multiplier: float
    n: int
    conf_level: float
    means: np.ndarray
    differences: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["means"] = self.means.tolist()
        out["differences"] = self.differences.tolist()
        return out


def bland_altman(a: Any, b: Any, *, conf_level: float = 0.95, multiplier: float = 1.96) -> BlandAltmanResult:
    r"""Bland–Altman bias and limits of agreement of paired measurements ``a`` and ``b``.

    Parameters
    ----------
    a, b : array_like
        Two measurements of the same subjects (for example reader 1 and reader 2, or read 1 and read 2);
        pairs with a missing value are dropped.
    conf_level : float
        Level of the intervals around the bias and the limits.
    multiplier : float
        Width of the limits in SDs; 1.96 as in Bland & Altman (and the design), not the exact normal
        quantile.

    Returns
    -------
    BlandAltmanResult

    Notes
    -----
    :math:`d_i = a_i - b_i`, bias :math:`\bar d`, :math:`s = SD(d)` with n − 1, limits
    :math:`\bar d \pm 1.96 s`. Interval of the bias: :math:`\bar d \pm t_{1-\alpha/2, n-1}\, s/\sqrt n`.
    Interval of each limit: :math:`\text{limit} \pm t_{1-\alpha/2, n-1}\, se`, with
    :math:`se = s \sqrt{1/n + 1.96^2 / (2(n-1))}` (Bland & Altman 1999, section 4.2; the 1986 paper's
    :math:`\sqrt{3 s^2 / n}` is its large-n approximation).

    References
    ----------
    .. [1] Bland JM, Altman DG. Statistical methods for assessing agreement between two methods of clinical
       measurement. Lancet. 1986;327(8476):307-310.
    .. [2] Bland JM, Altman DG. Measuring agreement in method comparison studies. Stat Methods Med Res.
       1999;8(2):135-160.
    """
    conf_level = check_conf_level(conf_level)
    x = as_numeric(a, "first measurements", allow_missing=True)
    y = as_numeric(b, "second measurements", allow_missing=True)
    check_same_length(x, y, "the two measurements")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    check_min_count(x.size, 2, "subjects measured twice")
    n = x.size
    d = x - y
    bias = float(d.mean())
    sd = float(np.std(d, ddof=1))
    t = float(stats.t.ppf((1 + conf_level) / 2, n - 1))
    bias_half = t * sd / np.sqrt(n)
    loa_se = float(sd * np.sqrt(1.0 / n + multiplier**2 / (2.0 * (n - 1))))
    low, high = bias - multiplier * sd, bias + multiplier * sd
    return BlandAltmanResult(
        bias=bias,
        sd=sd,
        loa_low=low,
        loa_high=high,
        bias_conf_low=float(bias - bias_half),
        bias_conf_high=float(bias + bias_half),
        loa_low_conf_low=low - t * loa_se,
        loa_low_conf_high=low + t * loa_se,
        loa_high_conf_low=high - t * loa_se,
        loa_high_conf_high=high + t * loa_se,
        loa_se=loa_se,
        multiplier=multiplier,
        n=n,
        conf_level=conf_level,
        means=(x + y) / 2.0,
        differences=d,
    )
