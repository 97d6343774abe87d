"""Simulated readers for the demo: ROIs placed on the phantom anatomy with realistic jitter.

Each reader has a small systematic habit (ROI size, position) and each read adds random placement jitter,
so intra-reader agreement comes out higher than inter-reader agreement, as in real reader studies.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .phantom import PhantomGeometry, Region

LEVELS = ("L1", "L2", "L3", "L4")


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def ellipse_in(region: Region, *, scale: float, dcol: float, drow: float) -> list[list[float]]:
    """Cornerstone EllipticalROI handles [bottom, top, left, right] of an ellipse inside ``region``."""
    a = max(2.0, region.half_width * scale)
    b = max(2.0, region.half_height * scale)
    c, r = region.col + dcol, region.row + drow
    return [[c, r + b], [c, r - b], [c - a, r], [c + a, r]]


def rectangle_in(region: Region, *, scale: float, dcol: float, drow: float) -> list[list[float]]:
    """Cornerstone RectangleROI handles [top-left, top-right, bottom-left, bottom-right]."""
    a = max(1.0, region.half_width * scale)
    b = max(1.0, region.half_height * scale)
    c, r = region.col + dcol, region.row + drow
    return [[c - a, r - b], [c + a, r - b], [c - a, r + b], [c + a, r + b]]


def simulated_rois(geometry: PhantomGeometry, *, reader: str, read_number: int) -> list[dict]:
    """Six ROI payloads (L1–L4 ellipses, CSF at L3 and noise rectangles) without ``sop_instance_uid``."""
    habit = _rng("habit", reader)
    size_bias = habit.normal(0.0, 0.06)
    pos_bias = habit.normal(0.0, 0.6, size=2)
    rng = _rng(geometry.subject_code, reader, read_number)
    out = []
    for level in LEVELS:
        jitter = rng.normal(0.0, 0.7, size=2) + pos_bias
        scale = float(np.clip(0.72 + size_bias + rng.normal(0.0, 0.05), 0.45, 0.9))
        out.append(
            {
                "label": level,
                "shape": "ellipse",
                "points_px": ellipse_in(geometry.vertebrae[level], scale=scale, dcol=jitter[0], drow=jitter[1]),
            }
        )
    jitter = rng.normal(0.0, 0.3, size=2)
    out.append(
        {
            "label": "CSF",
            "shape": "rectangle",
            "csf_level": "L3",
            "points_px": rectangle_in(geometry.csf["L3"], scale=0.6, dcol=jitter[0], drow=jitter[1]),
        }
    )
    jitter = rng.normal(0.0, 1.5, size=2)
    out.append(
        {
            "label": "NOISE",
            "shape": "rectangle",
            "points_px": rectangle_in(geometry.noise, scale=0.8, dcol=jitter[0], drow=jitter[1]),
        }
    )
    return out
