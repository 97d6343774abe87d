"""Formatting of dashboard numbers and tables (journal style); the one place numbers are rounded.

A *table* is a plain dict, stored in the analysis cache and rendered identically as HTML and as CSV::

    {"id": "icc_summary", "title": "...", "columns": [...], "rows": [[str, ...], ...],
     "row_classes": ["", "recommended", ...], "notes": [...], "numeric": [False, True, ...]}

Conventions: ICC, AUC, correlation coefficients, sensitivity etc. with 3 decimals; p-values with 3 decimals,
or "< 0.001"; confidence intervals "low to high"; missing values "—".
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["DASH", "ci", "mean_sd", "n_pct", "num", "pval", "table"]

DASH = "—"


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def num(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals (``-0.000`` is shown as ``0.000``); missing → "—"."""
    if not _finite(value):
        return DASH
    text = f"{value:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text


def pval(value: Any) -> str:
    """p-value: 3 decimals, "< 0.001" below 0.001."""
    if not _finite(value):
        return DASH
    if value < 0.001:
        return "< 0.001"
    return f"{value:.3f}"


def ci(low: Any, high: Any, digits: int = 3) -> str:
    """Confidence interval "low to high"."""
    if not (_finite(low) and _finite(high)):
        return DASH
    return f"{num(low, digits)} to {num(high, digits)}"


def mean_sd(mean: Any, sd: Any, digits: int = 1) -> str:
    """ "mean ± SD" (SD with n − 1); with one value, only the mean."""
    if not _finite(mean):
        return DASH
    if not _finite(sd):
        return num(mean, digits)
    return f"{num(mean, digits)} ± {num(sd, digits)}"


def n_pct(count: int, total: int) -> str:
    """ "count (percent %)" with one decimal."""
    if not total:
        return DASH
    return f"{count} ({100.0 * count / total:.1f}%)"


def table(
    table_id: str,
    title: str,
    columns: list[str],
    rows: list[list[str]],
    *,
    notes: list[str] | None = None,
    row_classes: list[str] | None = None,
    numeric: list[bool] | None = None,
    empty: str = "",
) -> dict[str, Any]:
    """A table dict (see the module docstring); ``empty`` is the message shown when there are no rows."""
    if numeric is None:
        numeric = [False] + [True] * (len(columns) - 1)
    return {
        "id": table_id,
        "title": title,
        "columns": list(columns),
        "rows": [[str(cell) for cell in row] for row in rows],
        "row_classes": list(row_classes) if row_classes else [""] * len(rows),
        "notes": list(notes or []),
        "numeric": list(numeric),
        "empty": empty,
    }
