"""Input checks shared by the statistics modules.

Every check raises :class:`ValueError` with one sentence that a clinician reading an error banner can act
on ("ratings contain non-numeric values", "only one group has data"), never a numpy traceback. The checks
live here, apart from the computations, so that the formulas stay readable (the scipy habit).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "as_labels",
    "as_numeric",
    "check_conf_level",
    "check_direction",
    "check_min_count",
    "check_not_constant",
    "check_probability",
    "check_same_length",
    "is_missing_label",
    "missing_label_mask",
    "sorted_levels",
]


def as_numeric(values: Any, name: str, *, allow_missing: bool = False) -> np.ndarray:
    """Return ``values`` as a 1-D float array, or explain why it cannot be one.

    Parameters
    ----------
    values : array_like
        Numbers; ``None`` and ``NaN`` mean "missing".
    name : str
        What the values are, in the user's words ("ratings", "scores", "x").
    allow_missing : bool
        Keep missing values as ``NaN``. When false, a missing value is an error.
    """
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        array = np.asarray(_coerce_each(values, name), dtype=float)
    if array.ndim != 1:
        array = array.reshape(-1) if array.ndim == 0 else array
    if array.ndim != 1:
        raise ValueError(f"{name} must be a single column of numbers, not a table")
    if np.isinf(array).any():
        raise ValueError(f"{name} contain infinite values")
    if not allow_missing and np.isnan(array).any():
        raise ValueError(f"{name} contain missing values")
    return array


def _coerce_each(values: Iterable[Any], name: str) -> list[float]:
    out: list[float] = []
    for value in values:
        if value is None:
            out.append(np.nan)
            continue
        if isinstance(value, bool | np.bool_):
            raise ValueError(f"{name} contain non-numeric values (true/false)")
        try:
            out.append(float(value))
        except (TypeError, ValueError):
            raise ValueError(f"{name} contain non-numeric values (for example {value!r})") from None
    return out


def as_labels(values: Any, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D object array of labels (group names, outcomes, rater ids)."""
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a single column of labels, not a table")
    return array


def is_missing_label(value: object) -> bool:
    """``None``, ``NaN`` and the empty string are missing labels."""
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def missing_label_mask(values: Any) -> np.ndarray:
    """Boolean mask of missing labels (see :func:`is_missing_label`), vectorised where the dtype allows."""
    array = np.asarray(values)
    kind = array.dtype.kind
    if kind in "biu":
        return np.zeros(array.shape, dtype=bool)
    if kind == "f":
        return np.isnan(array)
    if kind == "U":
        return np.char.strip(array) == ""
    return np.fromiter((is_missing_label(v) for v in array.reshape(-1)), dtype=bool, count=array.size)


def sorted_levels(labels: Iterable[Hashable]) -> list[Hashable]:
    """Distinct labels in R's factor order: numerically when every label is a number, else as text.

    R's ``factor()`` sorts the levels of a numeric column numerically (2 before 10) and of a text column
    alphabetically; the Tukey table's row order follows from it.
    """
    distinct = list(dict.fromkeys(labels))

    def as_number(label: Hashable) -> float | None:
        if isinstance(label, bool | np.bool_):
            return None
        try:
            return float(label)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None

    numbers = [as_number(label) for label in distinct]
    if all(number is not None for number in numbers):
        order = sorted(range(len(distinct)), key=lambda i: numbers[i])  # type: ignore[arg-type,return-value]
        return [distinct[i] for i in order]
    return sorted(distinct, key=str)


def check_same_length(first: Sequence[Any] | np.ndarray, second: Sequence[Any] | np.ndarray, names: str) -> None:
    """Paired inputs must have one value per subject in each."""
    if len(first) != len(second):
        raise ValueError(f"{names} must have the same number of values (got {len(first)} and {len(second)})")


def check_min_count(count: int, minimum: int, what: str) -> None:
    """At least ``minimum`` of ``what`` are needed ("paired observations", "targets")."""
    if count < minimum:
        raise ValueError(f"at least {minimum} {what} are needed, got {count}")


def check_not_constant(values: np.ndarray, name: str) -> None:
    """A quantity that never varies cannot be correlated, regressed or compared."""
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite == finite[0]):
        raise ValueError(f"all {name} are identical ({finite[0]:g}), so there is no variation to analyse")


def check_probability(value: float, name: str) -> float:
    """A probability strictly between 0 and 1 (significance level, power)."""
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value:g}")
    return value


def check_conf_level(conf_level: float) -> float:
    """Confidence level such as 0.95."""
    return check_probability(conf_level, "the confidence level")


def check_direction(direction: str) -> str:
    """Which side of the score is positive in a ROC analysis."""
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' (higher scores mean positive) or 'lower', got {direction!r}")
    return direction
