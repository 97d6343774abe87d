"""What the dashboard sections share: their names, the analysis version, measure labels and the result dict.

Every section returns :func:`section_result`'s dict::

    {"section": str, "title": str,
     "data": {...},      # the numbers, unrounded (what the API serves and the tests compare with R/the CLI)
     "tables": [...],    # display tables (analytics.tables), shown as HTML and exported as CSV unchanged
     "plots": {...},     # the points the figures are drawn from (analytics.figures)
     "messages": [...]}  # why something could not be computed ("at least 2 raters ...")

Too little data never raises: :func:`attempt` turns the statistic's ``ValueError`` into its sentence, which
becomes a message, and the rest of the section is still computed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from analytics.datasets import LEVELS, OUTCOMES, StudyData

__all__ = [
    "ANALYSIS_VERSION",
    "CACHED_SECTIONS",
    "MEASURE_DIGITS",
    "MEASURE_LABELS",
    "SECTIONS",
    "attempt",
    "bmd_unit",
    "jsonable",
    "measures_of",
    "no_values",
    "section_result",
]

#: Bump when the output of any section changes shape or formatting: cached results are then recomputed.
ANALYSIS_VERSION = "2"

#: Dashboard sections (pages) in tab order, with their titles.
SECTIONS: dict[str, str] = {
    "progress": "Progress",
    "agreement": "Agreement",
    "table1": "Table 1",
    "groups": "Groups",
    "roc": "ROC",
    "correlation": "Correlation",
}
#: What is cached: one row per section, the ROC once per outcome.
CACHED_SECTIONS: tuple[str, ...] = (
    "progress",
    "agreement",
    "table1",
    "groups",
    *(f"roc:{key}" for key in OUTCOMES),
    "correlation",
)

MEASURE_LABELS: dict[str, str] = {
    "vbq": "VBQ",
    "snr": "SNR L1–L4",
    "m_score": "M-score",
    **{f"si_{lv}": f"SI {lv}" for lv in LEVELS},
}
MEASURE_DIGITS: dict[str, int] = {"vbq": 2, "snr": 1, "m_score": 2, **{f"si_{lv}": 1 for lv in LEVELS}}


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars/arrays to Python, NaN and ±inf to ``None``, tuples to lists."""
    import numpy as np  # here, not at module level: web start-up does not load numpy (issue #20 point 4)

    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def attempt(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    """Run a statistic; too little or unsuitable data gives its sentence instead of an exception."""
    try:
        return function(*args, **kwargs), None
    except ValueError as error:
        return None, str(error)


def section_result(
    name: str, title: str, data: dict, tables: list, plots: dict | None, messages: list[str]
) -> dict[str, Any]:
    """The section's result dict (see the module docstring), made JSON-ready."""
    return jsonable(
        {"section": name, "title": title, "data": data, "tables": tables, "plots": plots or {}, "messages": messages}
    )


def measures_of(data: StudyData, *, levels: bool = False, m_score: bool = False) -> list[str]:
    """The study's measures (VBQ, SNR), with the M-score and the level SIs when asked for."""
    study = data.study
    out = []
    if study.measure_vbq:
        out.append("vbq")
    if study.measure_snr:
        out.append("snr")
        if m_score:
            out.append("m_score")
    if levels:
        out += [f"si_{lv}" for lv in LEVELS]
    return out


def no_values(data: StudyData, measure: str) -> str | None:
    """Why no subject has a consensus ``measure`` (the reads' most common reason); None when some do."""
    if any(getattr(s, measure) is not None for s in data.subjects):
        return None
    label = MEASURE_LABELS[measure]
    reasons = Counter(
        getattr(r, f"{measure}_reason") for r in data.analysed_reads if getattr(r, f"{measure}_reason", "")
    )
    if reasons:
        return f"{label}: no subject has a value yet. The reads say: {reasons.most_common(1)[0][0]}"
    return f"{label}: no subject has a value yet (no analysed reads)."


def bmd_unit(data: StudyData) -> tuple[str, int, str | None]:
    """The BMD's label with its unit, its decimals, and a note when QCT and DEXA values are mixed."""
    modalities = Counter(s.modality for s in data.subjects if s.bmd is not None and s.modality)
    if not modalities:
        return "BMD", 2, None
    if len(modalities) > 1:
        return "BMD (mixed QCT and DEXA units)", 2, "BMD mixes QCT (mg/cm³) and DEXA (g/cm²) values."
    modality = next(iter(modalities))
    if modality == "QCT":
        return "QCT BMD, mg/cm³", 1, None
    return "DEXA BMD, g/cm²", 3, None
