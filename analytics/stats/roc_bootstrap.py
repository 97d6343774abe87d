"""95 % CI of the Youden cut-off by stratified bootstrap, as pROC's ``ci.coords(roc, x = "best", ...)``."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._validation import check_conf_level, check_direction
from .roc import _curve, _rank, _split

__all__ = ["MIN_BOOTSTRAP_GROUP", "YoudenBootstrapCI", "youden_bootstrap_replicates", "youden_cutoff_ci"]

#: Fewest positives (and negatives) for which a bootstrap CI of the cut-off is given: with fewer, most
#: resamples repeat the same handful of values and the percentile interval means little.
MIN_BOOTSTRAP_GROUP = 5


@dataclass(frozen=True)
class YoudenBootstrapCI:
    """The Youden cut-off of the full sample with percentile bootstrap intervals.

    ``threshold``, ``sensitivity``, ``specificity``: the best point of the full sample (highest Youden J,
    ties to the highest sensitivity, as :func:`analytics.stats.roc_analysis`). ``conf_low``/``conf_high``: the
    percentile interval of the best threshold over the resamples; ``sensitivity_conf_low`` ... those of the
    sensitivity and specificity at each resample's best threshold (what pROC's ``ci.coords`` reports).
    ``*_median``: the resamples' medians (pROC's middle column).
    """

    threshold: float
    conf_low: float
    conf_high: float
    threshold_median: float
    sensitivity: float
    sensitivity_conf_low: float
    sensitivity_conf_high: float
    specificity: float
    specificity_conf_low: float
    specificity_conf_high: float
    youden: float
    n_positive: int
    n_negative: int
    resamples: int
    seed: int | None
    conf_level: float
    direction: str
    method: str = "stratified bootstrap (cases and controls resampled separately), percentile interval"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _best(cases: np.ndarray, controls: np.ndarray, direction: str) -> tuple[float, float, float]:
    ranked = _rank(cases, controls)
    curve = _curve(ranked, direction)
    # J * m * n in integers (exact ties); among ties the highest sensitivity (VBQ Reader's rule).
    score = curve.tp.astype(np.int64) * ranked.n + curve.tn.astype(np.int64) * ranked.m
    tied = np.flatnonzero(score == score.max())
    best = int(tied[np.argmax(curve.tp[tied])])
    return float(curve.threshold[best]), float(curve.sensitivity[best]), float(curve.specificity[best])


def youden_bootstrap_replicates(
    cases: Any, controls: Any, *, direction: str, case_indices: Any, control_indices: Any
) -> np.ndarray:
    """Best (threshold, sensitivity, specificity) of each given resample: array of shape (resamples, 3).

    ``case_indices[b]`` and ``control_indices[b]`` are the positions (0-based) drawn with replacement from the
    cases and the controls in resample ``b``. Exposed so that the percentile procedure can be checked on a
    fixed set of resamples drawn by R (see ``tests/reference/roc_cutoff_ci_reference.R``).
    """
    direction = check_direction(direction)
    cases = np.asarray(cases, dtype=float)
    controls = np.asarray(controls, dtype=float)
    out = np.empty((len(case_indices), 3))
    for b, (ci, co) in enumerate(zip(case_indices, control_indices, strict=True)):
        out[b] = _best(cases[np.asarray(ci)], controls[np.asarray(co)], direction)
    return out


def _percentiles(values: np.ndarray, conf_level: float) -> tuple[float, float, float]:
    """R's ``quantile(type = 7)`` at (α/2, ½, 1 − α/2), as pROC uses it.

    Written out rather than ``np.quantile(method="linear")`` because R interpolates only between different
    values, so a resample whose best threshold is ±∞ (every subject called positive) gives ±∞, not NaN.
    """
    alpha = 1.0 - conf_level
    x = np.sort(values)
    out = []
    for p in (alpha / 2, 0.5, 1 - alpha / 2):
        index = (x.size - 1) * p
        lo, hi = int(np.floor(index)), int(np.ceil(index))
        q, h = float(x[lo]), index - lo
        if x[hi] != q:
            q = (1 - h) * q + h * float(x[hi])
        out.append(q)
    return out[0], out[1], out[2]


def youden_cutoff_ci(
    scores: Any,
    truth: Any,
    *,
    direction: str,
    positive: Hashable | None = None,
    negative: Any = None,
    resamples: int = 2000,
    seed: int | None = 16,
    conf_level: float = 0.95,
) -> YoudenBootstrapCI:
    """Percentile CI of the Youden cut-off (and of its sensitivity and specificity) by stratified bootstrap.

    Parameters
    ----------
    scores, truth, direction, positive, negative
        As in :func:`analytics.stats.roc_analysis`.
    resamples : int
        Bootstrap resamples (pROC's ``boot.n``; default 2,000, between 100 and 100,000).
    seed : int or None
        Seed of numpy's PCG64 generator, so that the interval is reproducible; report it with the interval.
    conf_level : float
        Level of the percentile intervals.

    Notes
    -----
    The procedure of pROC's ``ci.coords(roc, x = "best", best.method = "youden", boot.n = 2000,
    boot.stratified = TRUE)``: in each resample the controls and the cases are drawn with replacement
    separately (so each resample keeps the numbers of positives and negatives), the ROC curve of the resample
    is built with pROC's thresholds and its best Youden point found; the interval is the 2.5 % and 97.5 %
    quantiles (R's type 7) of those points. One difference: where the best J is tied, pROC's default
    (``best.policy = "stop"``) aborts; here the tied threshold with the highest sensitivity is taken, as for the
    point estimate. The random numbers differ from R's, so results agree with pROC's in distribution, not
    digit for digit (``tests/analytics_tests/test_roc_cutoff_ci.py`` checks both).

    References
    ----------
    .. [1] Robin X, et al. pROC: an open-source package for R and S+ to analyze and compare ROC curves. BMC
       Bioinformatics. 2011;12:77 (``ci.coords``).
    .. [2] Fluss R, Faraggi D, Reiser B. Estimation of the Youden index and its associated cutoff point. Biom
       J. 2005;47(4):458-472.
    """
    direction = check_direction(direction)
    conf_level = check_conf_level(conf_level)
    if isinstance(resamples, bool) or int(resamples) != resamples or not 100 <= resamples <= 100_000:
        raise ValueError(
            f"the number of bootstrap resamples must be a whole number from 100 to 100,000, got {resamples}"
        )
    if seed is not None and (isinstance(seed, bool) or int(seed) != seed or seed < 0):
        raise ValueError(f"the bootstrap seed must be a whole number >= 0, got {seed}")
    resamples = int(resamples)
    cases, controls, _ = _split(scores, truth, positive, negative)
    # Sorted: the resamples (hence the interval) do not depend on the order in which the subjects are given.
    cases, controls = np.sort(cases), np.sort(controls)
    m, n = cases.size, controls.size
    if m < MIN_BOOTSTRAP_GROUP or n < MIN_BOOTSTRAP_GROUP:
        raise ValueError(
            f"a bootstrap CI of the cut-off needs at least {MIN_BOOTSTRAP_GROUP} positive and "
            f"{MIN_BOOTSTRAP_GROUP} negative subjects, got {m} positive and {n} negative"
        )
    rng = np.random.default_rng(seed)
    control_indices = rng.integers(0, n, size=(resamples, n))
    case_indices = rng.integers(0, m, size=(resamples, m))
    replicates = youden_bootstrap_replicates(
        cases, controls, direction=direction, case_indices=case_indices, control_indices=control_indices
    )
    threshold, sensitivity, specificity = _best(cases, controls, direction)
    t_low, t_mid, t_high = _percentiles(replicates[:, 0], conf_level)
    se_low, _, se_high = _percentiles(replicates[:, 1], conf_level)
    sp_low, _, sp_high = _percentiles(replicates[:, 2], conf_level)
    return YoudenBootstrapCI(
        threshold=threshold,
        conf_low=t_low,
        conf_high=t_high,
        threshold_median=t_mid,
        sensitivity=sensitivity,
        sensitivity_conf_low=se_low,
        sensitivity_conf_high=se_high,
        specificity=specificity,
        specificity_conf_low=sp_low,
        specificity_conf_high=sp_high,
        youden=sensitivity + specificity - 1.0,
        n_positive=m,
        n_negative=n,
        resamples=resamples,
        seed=None if seed is None else int(seed),
        conf_level=conf_level,
        direction=direction,
    )
