"""ICC from all available ratings: two-way random-effects linear mixed model (REML), as ``psych::ICC(lmer = TRUE)``.

When every rater rated every subject, the ANOVA ICCs of :func:`analytics.stats.icc` are the published ones
and the estimate to report. When they did not (a reader part-way through, a case a reader could not
measure), the complete-case ICC uses only the subjects every rater finished and throws away the rest; the
mixed model

.. math:: y_{ij} = \\mu + s_i + r_j + e_{ij}, \\quad s_i \\sim N(0, \\sigma^2_s),\\ r_j \\sim N(0, \\sigma^2_r),\\
          e_{ij} \\sim N(0, \\sigma^2_e)

with crossed random subject and rater effects uses every rating. Its REML variance components give

.. math:: ICC_{agreement} = \\frac{\\sigma^2_s}{\\sigma^2_s + \\sigma^2_r + \\sigma^2_e}, \\qquad
          ICC_{consistency} = \\frac{\\sigma^2_s}{\\sigma^2_s + \\sigma^2_e}

(McGraw & Wong's ICC(A,1) and ICC(C,1); the same ratios psych builds from ``lme4::lmer(values ~ 1 + (1 | id)
+ (1 | rater))``). The fit is statsmodels' ``MixedLM`` with one all-ones group and the subject and rater
effects as variance components, REML; ``tests/reference/icc_lmm_reference.R`` checks it against lme4.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._validation import as_numeric, missing_label_mask

__all__ = ["ICCMixedModelResult", "icc_lmm"]

#: From this many ratings on, the variance-component design matrices are sparse: a 1,000-case × 3-reader fit
#: takes ~12 s instead of ~160 s; below it the dense fit is faster (~0.1 s for 61 cases).
SPARSE_FROM = 600


@dataclass(frozen=True)
class ICCMixedModelResult:
    """REML variance components and the ICCs built from them.

    Attributes
    ----------
    icc_agreement : float
        ``var_subject / (var_subject + var_rater + var_residual)`` — ICC(A,1), two-way random, agreement.
    icc_consistency : float
        ``var_subject / (var_subject + var_residual)`` — ICC(C,1), consistency.
    var_subject, var_rater, var_residual : float
        REML estimates of the subject, rater and residual variances (lme4's ``VarCorr``).
    n_subjects, n_raters, n_ratings : int
        Subjects and raters with at least one rating, and the ratings used.
    complete : bool
        Every rater rated every subject exactly once (then the ANOVA ICC is the one to report).
    converged : bool
        The optimiser reported convergence.
    """

    icc_agreement: float
    icc_consistency: float
    var_subject: float
    var_rater: float
    var_residual: float
    n_subjects: int
    n_raters: int
    n_ratings: int
    complete: bool
    converged: bool
    method: str = "two-way random-effects linear mixed model (crossed subject and rater), REML"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def icc_lmm(subject: Any, rater: Any, score: Any) -> ICCMixedModelResult:
    """ICC(A,1) and ICC(C,1) from a long table of ratings by REML, missing ratings allowed.

    Parameters
    ----------
    subject, rater : array_like
        Labels of the subject (case) and of the rater of each rating.
    score : array_like
        The ratings; a missing value (``NaN``/``None``) is the same as an absent row.

    Returns
    -------
    ICCMixedModelResult

    Notes
    -----
    The model is fitted with ``statsmodels.regression.mixed_linear_model.MixedLM`` — a single group holding
    every rating, ``vc_formula`` with one variance component per subject and per rater (crossed random
    intercepts), no group-level random intercept, ``reml=True`` — which is the likelihood lme4 maximises for
    ``lmer(score ~ 1 + (1 | subject) + (1 | rater), REML = TRUE)``. A variance at the boundary (zero) is
    reported as zero, as lme4 does.

    References
    ----------
    .. [1] Bates D, Mächler M, Bolker B, Walker S. Fitting linear mixed-effects models using lme4. J Stat
       Softw. 2015;67(1):1-48.
    .. [2] Revelle W. psych: ``ICC(x, lmer = TRUE)``.
    .. [3] McGraw KO, Wong SP. Forming inferences about some intraclass correlation coefficients. Psychol
       Methods. 1996;1(1):30-46.
    """
    subjects = np.asarray(subject, dtype=object)
    raters = np.asarray(rater, dtype=object)
    if subjects.ndim != 1 or raters.ndim != 1:
        raise ValueError("subjects and raters must each be a single column of labels")
    values = as_numeric(score, "ratings", allow_missing=True)
    if not len(subjects) == len(raters) == len(values):
        raise ValueError(
            f"subjects, raters and ratings must have the same number of rows "
            f"(got {len(subjects)}, {len(raters)} and {len(values)})"
        )
    for labels, name in ((subjects, "subject"), (raters, "rater")):
        missing = np.flatnonzero(missing_label_mask(labels))
        if missing.size:
            raise ValueError(f"row {missing[0] + 1} has no {name}")
    keep = ~np.isnan(values)
    subjects, raters, values = subjects[keep], raters[keep], values[keep]
    subject_levels, subject_index = np.unique(subjects.astype(str), return_inverse=True)
    rater_levels, rater_index = np.unique(raters.astype(str), return_inverse=True)
    n_subjects, n_raters = len(subject_levels), len(rater_levels)
    if n_raters < 2:
        raise ValueError("at least 2 raters (or reads) are needed to estimate agreement")
    cells = subject_index * n_raters + rater_index
    counts = np.bincount(cells, minlength=n_subjects * n_raters)
    if (counts > 1).any():
        first = int(np.flatnonzero(counts > 1)[0])
        raise ValueError(
            f"subject {str(subject_levels[first // n_raters])!r} has more than one rating from rater "
            f"{str(rater_levels[first % n_raters])!r}; average repeated reads or analyse them as separate raters"
        )
    per_subject = np.bincount(subject_index, minlength=n_subjects)
    if int(np.sum(per_subject >= 2)) < 2:
        raise ValueError("at least 2 subjects rated by 2 or more raters are needed to estimate agreement")
    if np.all(values == values[0]):
        raise ValueError(f"all ratings are identical ({values[0]:g}), so agreement cannot be estimated")
    # Sorted by subject, then rater: the fit (and its last digits) does not depend on the order of the rows.
    order = np.lexsort((rater_index, subject_index))
    var_rater, var_subject, var_residual, converged = _fit(subject_index[order], rater_index[order], values[order])
    total = var_subject + var_rater + var_residual
    return ICCMixedModelResult(
        icc_agreement=var_subject / total,
        icc_consistency=var_subject / (var_subject + var_residual),
        var_subject=var_subject,
        var_rater=var_rater,
        var_residual=var_residual,
        n_subjects=n_subjects,
        n_raters=n_raters,
        n_ratings=int(values.size),
        complete=bool(np.all(counts == 1)),
        converged=converged,
    )


def _fit(
    subject_index: np.ndarray, rater_index: np.ndarray, values: np.ndarray, *, sparse: bool | None = None
) -> tuple[float, float, float, bool]:
    # Imported here: statsmodels and pandas take ~1 s to import and only this function needs them.
    import pandas as pd
    from statsmodels.regression.mixed_linear_model import MixedLM

    scale = float(np.std(values)) or 1.0
    frame = pd.DataFrame(
        {
            # Standardised: the optimiser's tolerances are then the same whatever the unit of the score.
            "y": (values - values.mean()) / scale,
            "subject": subject_index,
            "rater": rater_index,
            "one": np.ones(values.size, dtype=int),
        }
    )
    model = MixedLM.from_formula(
        "y ~ 1",
        frame,
        groups="one",
        re_formula="0",
        vc_formula={"rater": "0 + C(rater)", "subject": "0 + C(subject)"},
        use_sparse=values.size >= SPARSE_FROM if sparse is None else sparse,
    )
    order = list(model.exog_vc.names)
    with warnings.catch_warnings():
        # Boundary fits (a variance of zero) warn; lme4 reports them as zero too, which is what we return.
        warnings.simplefilter("ignore")
        # BFGS to a tight gradient tolerance agrees with lme4 (bobyqa) to ~1e-7; statsmodels' default L-BFGS
        # stops early on some designs (23 % off on icc_lmm_anxiety_missing.csv). Powell if BFGS fails.
        fit = model.fit(reml=True, method=["bfgs"], gtol=1e-12)
        if not fit.converged:
            fit = model.fit(reml=True, method=["powell"], xtol=1e-12, ftol=1e-14)
    components = dict(zip(order, (float(v) for v in fit.vcomp), strict=True))
    variance = scale * scale
    return (
        max(components["rater"], 0.0) * variance,
        max(components["subject"], 0.0) * variance,
        float(fit.scale) * variance,
        bool(fit.converged),
    )
