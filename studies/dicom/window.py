"""A default display window for a series that carries none (pure: numpy, no Django).

Without Window Center / Width the viewer would stretch each slice from its minimum to its maximum: on MR the
few brightest pixels (fat, flow artefacts) then set the top and the vertebrae look dim. Instead the series
gets a percentile window over its **body** voxels:

* body = voxels brighter than :data:`BODY_FRACTION` (10 %) of the series' 99th percentile — this leaves out
  the air around the patient (zero-filled or low noise on magnitude MR), which would otherwise pull the lower
  bound to 0, and keeps dark tissue such as CSF on T1;
* window = the :data:`LOWER_PERCENTILE` (1st) to the :data:`UPPER_PERCENTILE` (99.5th) percentile of the
  body voxels, in stored-value units after the modality LUT (what Cornerstone's VOI range is in).

A series with no body voxels, or whose body is a single value, gets no window (``None``): the viewer then keeps
Cornerstone's own default.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

__all__ = ["BODY_FRACTION", "LOWER_PERCENTILE", "MAX_VOXELS", "UPPER_PERCENTILE", "percentile_window", "sample_step"]

#: Body voxels are brighter than this fraction of the series' 99th percentile.
BODY_FRACTION = 0.10
#: The window spans these percentiles of the body voxels.
LOWER_PERCENTILE = 1.0
UPPER_PERCENTILE = 99.5
#: Voxels looked at per series at most (larger series are sampled on a regular grid, see :func:`sample_step`).
MAX_VOXELS = 2_000_000


def sample_step(n_slices: int, rows: int, cols: int, max_voxels: int = MAX_VOXELS) -> int:
    """Row/column step that keeps a series of ``n_slices`` × ``rows`` × ``cols`` within ``max_voxels``."""
    total = max(n_slices, 1) * max(rows, 1) * max(cols, 1)
    return max(1, math.ceil(math.sqrt(total / max_voxels)))


def percentile_window(slices: Iterable[np.ndarray]) -> tuple[float, float] | None:
    """``(lower, upper)`` of the default window of a series given its slices' values, or ``None`` (see module)."""
    arrays = [np.asarray(s, dtype=np.float64).ravel() for s in slices]
    values = np.concatenate(arrays) if arrays else np.empty(0)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    top = float(np.percentile(values, 99))
    if top <= 0:
        return None
    body = values[values > BODY_FRACTION * top]
    if body.size == 0:
        return None
    lower, upper = (float(v) for v in np.percentile(body, [LOWER_PERCENTILE, UPPER_PERCENTILE]))
    if not upper > lower:
        return None
    return lower, upper
