"""The dashboard, one module per tab: tidy study data → statistics (:mod:`analytics.stats`) → JSON-ready dicts.

* :mod:`~analytics.sections.progress`, :mod:`~.agreement`, :mod:`~.table1`, :mod:`~.groups`, :mod:`~.roc`,
  :mod:`~.correlation` — each a ``compute(data)`` taking a :class:`~analytics.datasets.StudyData` and
  returning the section's result (its shape, the names of the sections and what is cached:
  :mod:`~analytics.sections.common`). They never touch the database: :mod:`analytics.services` loads the data,
  caches the results and runs :func:`compute_section` in a Celery job.
* :mod:`~analytics.sections.exports` — the exports tab's CSV files (the snapshot zip: :mod:`analytics.snapshot`).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analytics.datasets import StudyData

__all__ = ["MODULES", "compute_section", "section_module"]

#: The section registry: cached section → the module whose ``compute`` makes it (``roc:<outcome>`` → roc).
#: Names, imported on first use: the section modules pull in scipy/statsmodels, which the URLconf (and so
#: every web worker's start-up) must not pay for.
MODULES = {
    "progress": "analytics.sections.progress",
    "agreement": "analytics.sections.agreement",
    "table1": "analytics.sections.table1",
    "groups": "analytics.sections.groups",
    "roc": "analytics.sections.roc",
    "correlation": "analytics.sections.correlation",
}


def section_module(section: str) -> ModuleType:
    """The module that computes ``section`` (imported on first use)."""
    return importlib.import_module(MODULES[section])


def compute_section(section: str, data: StudyData) -> dict:
    """Compute one cached section (``roc:<outcome>`` for the ROC)."""
    if section.startswith("roc:"):
        return section_module("roc").compute(data, outcome=section.split(":", 1)[1])
    if section not in MODULES or section == "roc":
        raise ValueError(f"unknown section {section!r}")
    return section_module(section).compute(data)
