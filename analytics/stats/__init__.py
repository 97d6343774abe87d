"""Statistics for VBQ Reader: pure numpy/scipy functions validated against R (no Django imports).

Every function takes plain arrays and returns a frozen dataclass whose fields are named like R's output
(``estimate``, ``statistic``, ``df``, ``p_value``, ``conf_low``, ``conf_high``) and has ``to_dict()``.
Nothing is rounded here; round only when formatting. Bad input raises ``ValueError`` with one sentence a
clinician understands. The reference values and the R scripts that produced them are in
``tests/reference/``.
"""

from .agreement import BlandAltmanResult, bland_altman
from .anova import (
    GroupSummary,
    KruskalWallisResult,
    OneWayAnovaResult,
    TTestResult,
    TukeyComparison,
    TukeyHSDResult,
    WelchAnovaResult,
    kruskal_wallis,
    one_way_anova,
    t_test,
    tukey_hsd,
    welch_anova,
)
from .contingency import (
    ChiSquareResult,
    ContingencyTable,
    FisherExactResult,
    chi_square_test,
    crosstab,
    fisher_exact_test,
)
from .correlation import CorrelationResult, pearson, spearman, spearman_rho_pvalue
from .icc import ICC_FORMS, ICCForm, ICCResult, icc, icc_long, koo_li_interpretation
from .icc_lmm import ICCMixedModelResult, icc_lmm
from .regression import LinearRegressionResult, linear_regression
from .roc import (
    PairedDeLongResult,
    ProportionCI,
    ROCCurve,
    ROCResult,
    YoudenCutoff,
    roc_analysis,
    roc_auc_delong,
    roc_auc_null_test,
    roc_test_delong,
    wilson_ci,
)
from .roc_bootstrap import MIN_BOOTSTRAP_GROUP, YoudenBootstrapCI, youden_bootstrap_replicates, youden_cutoff_ci
from .sample_size import ICCSampleSizeResult, icc_power, icc_sample_size

__all__ = [
    "ICC_FORMS",
    "MIN_BOOTSTRAP_GROUP",
    "BlandAltmanResult",
    "ChiSquareResult",
    "ContingencyTable",
    "CorrelationResult",
    "FisherExactResult",
    "GroupSummary",
    "ICCForm",
    "ICCMixedModelResult",
    "ICCResult",
    "ICCSampleSizeResult",
    "KruskalWallisResult",
    "LinearRegressionResult",
    "OneWayAnovaResult",
    "PairedDeLongResult",
    "ProportionCI",
    "ROCCurve",
    "ROCResult",
    "TTestResult",
    "TukeyComparison",
    "TukeyHSDResult",
    "WelchAnovaResult",
    "YoudenBootstrapCI",
    "YoudenCutoff",
    "bland_altman",
    "chi_square_test",
    "crosstab",
    "fisher_exact_test",
    "icc",
    "icc_lmm",
    "icc_long",
    "icc_power",
    "icc_sample_size",
    "koo_li_interpretation",
    "kruskal_wallis",
    "linear_regression",
    "one_way_anova",
    "pearson",
    "roc_analysis",
    "roc_auc_delong",
    "roc_auc_null_test",
    "roc_test_delong",
    "spearman",
    "spearman_rho_pvalue",
    "t_test",
    "tukey_hsd",
    "welch_anova",
    "wilson_ci",
    "youden_bootstrap_replicates",
    "youden_cutoff_ci",
]
