"""The dashboard, one module per tab: tidy study data → statistics (:mod:`analytics.stats`) → JSON-ready dicts.

* :mod:`~analytics.sections.progress`, :mod:`~.agreement`, :mod:`~.table1`, :mod:`~.groups`, :mod:`~.roc`,
  :mod:`~.correlation` — each a ``compute(data)`` taking a :class:`~analytics.datasets.StudyData` and
  returning the section's result (its shape, the names of the sections and what is cached:
  :mod:`~analytics.sections.common`). They never touch the database: :mod:`analytics.services` loads the data,
  caches the results and runs :func:`compute_section` in a Celery job.
* :mod:`~analytics.sections.exports` — the exports tab's CSV files (the snapshot zip: :mod:`analytics.snapshot`).
"""

from __future__ import annotations

from analytics.datasets import StudyData
from analytics.sections import agreement, correlation, groups, progress, roc, table1

__all__ = ["MODULES", "compute_section"]

#: The section registry: cached section → the module whose ``compute`` makes it (``roc:<outcome>`` → roc).
MODULES = {
    "progress": progress,
    "agreement": agreement,
    "table1": table1,
    "groups": groups,
    "roc": roc,
    "correlation": correlation,
}


def compute_section(section: str, data: StudyData) -> dict:
    """Compute one cached section (``roc:<outcome>`` for the ROC)."""
    if section.startswith("roc:"):
        return roc.compute(data, outcome=section.split(":", 1)[1])
    if section not in MODULES or section == "roc":
        raise ValueError(f"unknown section {section!r}")
    return MODULES[section].compute(data)
