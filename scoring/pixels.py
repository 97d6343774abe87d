"""ROI pixel statistics on one DICOM slice (pure: pydicom + numpy, no Django).

The server, not the viewer, computes every number that goes into a score: the pixels of an ROI are those
:func:`studies.roi_geometry.roi_mask` selects (Cornerstone3D's rule), the values those
:func:`studies.dicom.pixels.decode_pixels` returns (after the modality LUT). Statistics follow ``DESIGN.md``
("Measurements"): n, area in mm², mean, median, sample SD (ddof = 1), min and max.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from studies.dicom.pixels import PixelSlice, load_pixels
from studies.roi_geometry import RoiGeometryError, roi_mask

__all__ = ["RoiStats", "measure_roi", "roi_stats"]


@dataclass(frozen=True)
class RoiStats:
    """Statistics of the pixels inside one ROI (values after the modality LUT).

    ``area_mm2`` is the pixel count times the pixel area (not the analytic shape area Cornerstone shows);
    ``sd`` is the sample SD (ddof = 1; Cornerstone's ``stdDev`` divides by n) and ``None`` for a single pixel.
    """

    n: int
    area_mm2: float
    mean: float
    median: float
    sd: float | None
    min: float
    max: float


def roi_stats(values: np.ndarray, mask: np.ndarray, row_spacing: float, col_spacing: float) -> RoiStats:
    """n, area (n × row_spacing × col_spacing, mm²), mean, median, sample SD, min, max of ``values[mask]``."""
    values = np.asarray(values)
    mask = np.asarray(mask, dtype=bool)
    if values.shape != mask.shape:
        raise ValueError(f"values {values.shape} and mask {mask.shape} differ in shape")
    inside = values[mask].astype(np.float64, copy=False)
    n = int(inside.size)
    if n == 0:
        raise RoiGeometryError("The ROI contains no pixel centres — draw it larger.")
    return RoiStats(
        n=n,
        area_mm2=float(n * row_spacing * col_spacing),
        mean=float(inside.mean()),
        median=float(np.median(inside)),
        sd=float(inside.std(ddof=1)) if n >= 2 else None,
        min=float(inside.min()),
        max=float(inside.max()),
    )


def measure_roi(
    path_or_ds: str | os.PathLike[str] | Dataset,
    shape: str,
    points_px: Sequence[Sequence[float]],
    frame: int | None = None,
) -> RoiStats:
    """Statistics of one ROI drawn on a DICOM slice (a path, decoded once through the cache, or a Dataset) —
    on frame ``frame`` (1-based) of a multi-frame file."""
    if isinstance(path_or_ds, Dataset):
        sl = PixelSlice.from_dataset(path_or_ds, frame)
    else:
        sl = load_pixels(path_or_ds, frame=frame)
    mask = roi_mask(shape, points_px, sl.rows, sl.cols, sl.row_spacing, sl.col_spacing)
    return roi_stats(sl.values, mask, sl.row_spacing, sl.col_spacing)
