"""The phantom's spine: vertebral bodies T9..S3 and their discs along a lordotic curve, drawn from a seed (no Django).

Each subject gets its own spine from its generator (:func:`layout`):

- sizes: a body-height factor (0.88–1.04), a body-depth factor (0.92–1.06) and a disc-height factor (0.75–1.15)
  scale the nominal sizes below, each level with ±1 px of its own;
- the curve: the tangent of the spine's axis turns through the lumbar lordosis ``lordosis_deg`` (25–45°, the
  angle between the axes at the centres of L1 and S1), more in the lower segments (:func:`_tangent`), with its
  apex (the axis vertical) near L3 (20–35 % of the lordosis above it); above L1 it straightens towards T9,
  below S1 the sacrum keeps turning (sacral kyphosis);
- the field of view: the curve is placed so that T11 to S1 lie wholly inside the 320 rows, the T10/T11 disc and
  at least a part of T10 above them and the upper sacrum below (a reader counts down from T12 or up from S1).

Conventions: positions are image (col, row) in pixels, rows running superior → inferior, columns anterior →
posterior (:mod:`.geometry`). A body's ``angle`` is the tilt of its axis from the image vertical, positive when its
caudal end lies posterior (the lower lumbar bodies); the body frame is ``u`` (anterior → posterior) and ``v``
(cranial → caudal) about its centre (:func:`body_frame`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from .geometry import ROWS, Region

#: Levels drawn, cranial to caudal; the sacrum continues beyond the bottom of the image.
SPINE_LEVELS: Final = ("T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1", "S2", "S3")
#: Nominal half heights (px, incl. the end plates) and half depths (px, incl. the cortex) of the bodies.
_HALF_HEIGHT: Final = dict(zip(SPINE_LEVELS, (11, 11.5, 12, 12.5, 13, 13.5, 13.5, 13.5, 13, 12.5, 9.5, 8), strict=True))
_HALF_DEPTH: Final = dict(zip(SPINE_LEVELS, (16, 16.5, 17, 17.5, 18, 18.5, 19, 19, 19, 18, 14, 11), strict=True))
#: Nominal disc heights (px) below each level but the last: T9/T10 … S2/S3 (the sacral ones rudimentary).
_DISC: Final = (6.5, 7, 8, 8.5, 9.5, 10.5, 11, 11.5, 10.5, 2, 1.5)
RIM: Final = 2  # px of cortical bone / end plate
BOX_MARGIN: Final = 2  # px between the inner rim and the marrow measurement box


@dataclass(frozen=True)
class Body:
    """One vertebral body: a rounded rectangle of half height ``half_height`` and half depth ``half_width``
    (px, incl. the rim) centred on (col, row), its axis tilted by ``angle`` (radians)."""

    level: str
    col: int
    row: int
    half_height: int
    half_width: int = 19
    angle: float = 0.0


@dataclass(frozen=True)
class Disc:
    """The disc below ``upper``: its centre on the curve, its height along the axis there (px), the axis' tilt."""

    upper: str
    lower: str
    col: float
    row: float
    height: float
    half_width: int
    angle: float


@dataclass(frozen=True)
class Spine:
    """A subject's spine as drawn: bodies and discs cranial → caudal, the lordosis and where its apex lies."""

    bodies: tuple[Body, ...]
    discs: tuple[Disc, ...]
    lordosis_deg: float
    apex_row: float

    def body(self, level: str) -> Body:
        return next(b for b in self.bodies if b.level == level)

    def disc(self, upper: str) -> Disc:
        return next(d for d in self.discs if d.upper == upper)


def body_frame(col: float, row: float, angle: float, rr: np.ndarray, cc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) of the grid points in the frame of an axis through (col, row) tilted by ``angle``.

    u = Δc·cos θ − Δr·sin θ (anterior → posterior), v = Δc·sin θ + Δr·cos θ (cranial → caudal).
    """
    dc, dr = cc - col, rr - row
    c, s = math.cos(angle), math.sin(angle)
    return dc * c - dr * s, dc * s + dr * c


def rounded_box(
    rr: np.ndarray, cc: np.ndarray, col: float, row: float, angle: float, hw: float, hh: float, r: float
) -> np.ndarray:
    """Mask of a rectangle with rounded corners (radius r), half sizes (hw, hh) in its frame, tilted by ``angle``.

    Only the bounding square of radius √(hw² + hh²) about the centre is evaluated.
    """
    mask = np.zeros(rr.shape, dtype=bool)
    reach = math.hypot(hw, hh) + 1
    r0, r1 = max(0, math.floor(row - reach)), min(rr.shape[0], math.ceil(row + reach) + 1)
    c0, c1 = max(0, math.floor(col - reach)), min(cc.shape[1], math.ceil(col + reach) + 1)
    if r0 >= r1 or c0 >= c1:
        return mask
    u, v = body_frame(col, row, angle, rr[r0:r1, c0:c1], cc[r0:r1, c0:c1])
    dx = np.maximum(np.abs(u) - (hw - r), 0)
    dy = np.maximum(np.abs(v) - (hh - r), 0)
    mask[r0:r1, c0:c1] = (np.abs(u) <= hw) & (np.abs(v) <= hh) & (dx * dx + dy * dy <= r * r)
    return mask


def marrow_box(body: Body) -> Region:
    """The marrow measurement box of a body: the largest axis-aligned box (of the inner marrow's proportions)
    whose corners stay ``BOX_MARGIN`` px inside the inner cortical rim of the tilted body.

    With A, B the half sizes of the inner marrow less the margin and θ the tilt, the box (kA, kB) fits when
    kA·cos θ + kB·sin θ ≤ A and kA·sin θ + kB·cos θ ≤ B: k = min(A / (A cos θ + B sin θ), B / (A sin θ + B cos θ)).
    """
    a = body.half_width - RIM - BOX_MARGIN
    b = body.half_height - RIM - BOX_MARGIN
    c, s = math.cos(body.angle), abs(math.sin(body.angle))
    k = min(1.0, a / (a * c + b * s), b / (a * s + b * c))
    return Region(col=body.col, row=body.row, half_width=math.floor(k * a), half_height=math.floor(k * b))


def _sizes(rng: np.random.Generator) -> tuple[list[int], list[int], list[float]]:
    height, depth, disc = rng.uniform(0.88, 1.04), rng.uniform(0.92, 1.06), rng.uniform(0.75, 1.15)
    jitter_h = rng.integers(-1, 2, size=len(SPINE_LEVELS))
    jitter_w = rng.integers(-1, 2, size=len(SPINE_LEVELS))
    jitter_d = rng.uniform(-1.0, 1.0, size=len(_DISC))
    halves = [max(7, round(_HALF_HEIGHT[lv] * height) + int(j)) for lv, j in zip(SPINE_LEVELS, jitter_h, strict=True)]
    widths = [max(9, round(_HALF_DEPTH[lv] * depth) + int(j)) for lv, j in zip(SPINE_LEVELS, jitter_w, strict=True)]
    discs = [max(1.0, round(d * disc + (j if d > 3 else 0.0), 1)) for d, j in zip(_DISC, jitter_d, strict=True)]
    return halves, widths, discs


#: Exponent of the lordosis' course between L1 and S1: the lower segments turn more (most of the lumbar
#: lordosis lies at L4–S1).
_LORDOSIS_EXPONENT: Final = 1.6


def _tangent(s: np.ndarray, s_l1: float, s_s1: float, share: float, lordosis: float) -> np.ndarray:
    """Tilt of the axis (radians) at arc length s.

    From L1 to S1, θ = Λ·(x^1.6 − p) with x = (s − s_L1) / (s_S1 − s_L1), Λ the lordosis and p the share of it
    above the apex (θ = 0 at x = p^(1/1.6)); above L1 the axis straightens to 40 % of L1's tilt at T9; below S1
    the sacrum keeps turning at S1's rate.
    """
    span = s_s1 - s_l1
    x = np.clip((s - s_l1) / span, 0.0, 1.0)
    theta = lordosis * (x**_LORDOSIS_EXPONENT - share)
    at_l1 = -lordosis * share
    above = np.where(s < s_l1, at_l1 * (0.4 + 0.6 * np.clip(1 - (s_l1 - s) / max(s_l1, 1.0), 0, 1)), theta)
    rate = lordosis * _LORDOSIS_EXPONENT / span
    return np.where(s > s_s1, lordosis * (1 - share) + rate * (s - s_s1), above)


@dataclass(frozen=True)
class _Curve:
    """Arc lengths (px, T9's centre at 0) of the body and disc centres, and the integrated curve."""

    centres: list[float]
    disc_centres: list[float]
    grid: np.ndarray
    cols: np.ndarray
    rows: np.ndarray
    s_l1: float
    s_s1: float
    share: float
    lordosis: float

    def at(self, arc: float) -> tuple[float, float, float]:
        """(col, row, tilt) of the curve at an arc length."""
        theta = _tangent(np.array([arc]), self.s_l1, self.s_s1, self.share, self.lordosis)[0]
        return float(np.interp(arc, self.grid, self.cols)), float(np.interp(arc, self.grid, self.rows)), float(theta)


def _curve(halves: list[int], discs: list[float], share: float, lordosis: float) -> _Curve:
    centres, disc_centres, s = [], [], 0.0
    for i, half in enumerate(halves):
        if i:
            s += half + 0.5
        centres.append(s)
        s += half + 0.5
        if i < len(discs):
            disc_centres.append(s + discs[i] / 2)
            s += discs[i]
    s_l1, s_s1 = centres[SPINE_LEVELS.index("L1")], centres[SPINE_LEVELS.index("S1")]
    # Integrate the curve: (col, row) += (sin θ, cos θ) ds.
    grid = np.arange(0.0, s + 0.25, 0.25)
    theta = _tangent(grid, s_l1, s_s1, share, lordosis)
    cols = np.concatenate([[0.0], np.cumsum(np.sin(theta[:-1]) * 0.25)])
    rows = np.concatenate([[0.0], np.cumsum(np.cos(theta[:-1]) * 0.25)])
    return _Curve(centres, disc_centres, grid, cols, rows, s_l1, s_s1, share, lordosis)


def _overflow(curve: _Curve, halves: list[int], widths: list[int], margin: float) -> tuple[float, float]:
    """(row shift placing S1's lowest corner ``margin`` px above the bottom row, px by which that leaves T10's
    centre more than its half height − 4 px above the top row; ≤ 0 when it fits)."""
    i_s1, i_t10 = SPINE_LEVELS.index("S1"), SPINE_LEVELS.index("T10")
    _, s1_row, s1_angle = curve.at(curve.centres[i_s1])
    s1_bottom = s1_row + halves[i_s1] * math.cos(s1_angle) + widths[i_s1] * abs(math.sin(s1_angle))
    row_shift = ROWS - 1 - margin - s1_bottom
    t10_row = curve.at(curve.centres[i_t10])[1]
    return row_shift, (4.0 - halves[i_t10] - t10_row) - row_shift


def layout(rng: np.random.Generator) -> Spine:
    """A subject's spine from its generator (sizes, lordosis, apex, placement; the draws' order fixes the output).

    Placement: S1's lowest corner 14–30 px above the bottom row and T10's centre no more than its half height − 4
    px above the top row; where the spine is too long for both, the margin below S1 shrinks to 4 px and then the
    bodies and discs are scaled down until it fits.
    """
    halves, widths, discs = _sizes(rng)
    lordosis = math.radians(rng.uniform(25.0, 45.0))
    share = rng.uniform(0.2, 0.35)
    margin = rng.uniform(14.0, 30.0)
    curve = _curve(halves, discs, share, lordosis)
    row_shift, overflow = _overflow(curve, halves, widths, margin)
    if overflow > 0:
        margin = max(4.0, margin - overflow)
        row_shift, overflow = _overflow(curve, halves, widths, margin)
    while overflow > 0:
        scale = 1 - (overflow + 1) / curve.centres[SPINE_LEVELS.index("S1")]
        halves = [max(7, math.floor(h * scale)) for h in halves]
        discs = [max(1.0, round(d * scale, 1)) for d in discs]
        curve = _curve(halves, discs, share, lordosis)
        row_shift, overflow = _overflow(curve, halves, widths, margin)
    s_apex = curve.s_l1 + share ** (1 / _LORDOSIS_EXPONENT) * (curve.s_s1 - curve.s_l1)
    at, centres, disc_centres = curve.at, curve.centres, curve.disc_centres
    mid_cols = [at(c)[0] for c in centres[: SPINE_LEVELS.index("S1") + 1]]
    col_shift = rng.uniform(168.0, 178.0) - max(mid_cols)

    bodies = []
    for level, arc, half, width in zip(SPINE_LEVELS, centres, halves, widths, strict=True):
        col, row, angle = at(arc)
        bodies.append(Body(level, round(col + col_shift), round(row + row_shift), half, width, angle))
    disc_list = []
    for i, (arc, height) in enumerate(zip(disc_centres, discs, strict=True)):
        col, row, angle = at(arc)
        disc_list.append(
            Disc(
                upper=SPINE_LEVELS[i],
                lower=SPINE_LEVELS[i + 1],
                col=col + col_shift,
                row=row + row_shift,
                height=height,
                half_width=min(widths[i], widths[i + 1]),
                angle=angle,
            )
        )
    apex_row = at(s_apex)[1] + row_shift
    return Spine(tuple(bodies), tuple(disc_list), math.degrees(lordosis), apex_row)


def tangent_deg(spine: Spine, level: str) -> float:
    """Tilt of a body's axis in degrees (positive: its caudal end posterior)."""
    return math.degrees(spine.body(level).angle)


def posterior_wall(bodies: tuple[Body, ...] | list[Body]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of points on the posterior cortex of each body (upper corner, middle, lower corner), cranial →
    caudal: what the canal's anterior wall follows."""
    rows, cols = [], []
    for b in bodies:
        c, s = math.cos(b.angle), math.sin(b.angle)
        for v in (-(b.half_height - RIM), 0.0, b.half_height - RIM):
            cols.append(b.col + b.half_width * c + v * s)
            rows.append(b.row - b.half_width * s + v * c)
    return np.array(rows), np.array(cols)
