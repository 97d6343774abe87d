"""Which pixels an ROI covers (pure: numpy, no Django).

To match what a reader sees in the Cornerstone3D viewer, the pixel set of an ROI follows Cornerstone's own
rule (``voxelSlab/shapes``): a pixel belongs to the ROI when its *centre* lies inside the shape, tested in
millimetres in the image plane (so an anisotropic ``PixelSpacing`` matters) with a boundary tolerance of
:data:`SHAPE_BOUNDARY_EPSILON`. Pixel centres sit at integer ``(col, row)``. See ``shared/VIEWER_GUIDE.md``
§4–§5 for the handle order of each tool and the check that this reproduces Cornerstone's pixel count, mean and
median exactly.

The ROI payload checks (``studies.services.roi_payload``) and the pixel statistics (``scoring.pixels``) both
use :func:`roi_mask`, so an ROI the server accepts is one it can measure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from studies.roi_shapes import SHAPES, RoiGeometryError, gettext_noop

__all__ = ["SHAPES", "SHAPE_BOUNDARY_EPSILON", "RoiGeometryError", "roi_mask"]

#: Cornerstone3D's ``SHAPE_BOUNDARY_EPSILON``: pixel centres on the boundary (within this tolerance) count as
#: inside. Relative for ellipses (on the normalised radius) and rectangles (on the half-side, at least 1 mm),
#: absolute in mm for polygon edges.
SHAPE_BOUNDARY_EPSILON = 1e-5

#: The message refusing a wrong number of points, per shape (its own sentence each: "A"/"An", and so that
#: translations need no article rule).
POINT_COUNT = {
    "rectangle": gettext_noop("A rectangle needs exactly %(needed)s points, got %(got)s."),
    "ellipse": gettext_noop("An ellipse needs exactly %(needed)s points, got %(got)s."),
    "polygon": gettext_noop("A polygon needs at least %(needed)s points, got %(got)s."),
}

# Sizes below this (mm) are treated as zero: a rectangle side, an ellipse radius, a polygon's extent.
_MIN_SIZE_MM = 1e-6
# How far (relative to the shape's size) the 4 handles may stray from an exact rectangle / ellipse frame
# before we call them malformed. Cornerstone's handles are exact up to float round-off (~1e-12); a wrong
# handle order is off by the whole size.
_FRAME_TOLERANCE = 1e-3


def roi_mask(
    shape: str,
    points_px: Sequence[Sequence[float]],
    rows: int,
    cols: int,
    row_spacing: float,
    col_spacing: float,
    *,
    allow_empty: bool = False,
) -> np.ndarray:
    """Boolean ``(rows, cols)`` mask of the pixels whose centres lie inside an ROI.

    Parameters
    ----------
    shape : {"rectangle", "ellipse", "polygon"}
        ``rectangle``: Cornerstone RectangleROI handles ``[top-left, top-right, bottom-left, bottom-right]``
        (may be rotated). ``ellipse``: EllipticalROI handles ``[bottom, top, left, right]``, i.e. the ends of
        one axis (p0–p1) and of the other (p2–p3), may be rotated. ``polygon``: N ≥ 3 vertices of a closed
        outline (PlanarFreehandROI); a repeated closing vertex is ignored; self-intersections follow the
        even-odd rule.
    points_px : sequence of [col, row]
        Continuous pixel coordinates; pixel centres are at integers.
    rows, cols : int
        Image size.
    row_spacing, col_spacing : float
        *Pixel Spacing* in mm (distance between rows, between columns).
    allow_empty : bool
        Return an all-False mask instead of raising when no pixel centre is inside.

    Notes
    -----
    Inside is tested in mm with Cornerstone's tolerance :data:`SHAPE_BOUNDARY_EPSILON`:
    rectangle ``|u| <= h_u + max(h_u, 1) * EPS`` on both axes; ellipse ``(u/a)² + (v/b)² <= 1 + EPS``;
    polygon: crossing-number (even-odd) test, plus every centre within EPS mm of an edge. Only the shape's
    bounding box is evaluated.

    Raises
    ------
    RoiGeometryError
        Unknown shape, wrong number of points, non-finite coordinates, handles that do not form the shape,
        degenerate geometry (zero side, radius or area), shape entirely outside the image, or (unless
        ``allow_empty``) no pixel centre inside.
    """
    if rows < 1 or cols < 1:
        raise ValueError(f"image size must be positive, got {rows} x {cols}")
    for name, value in (("row_spacing", row_spacing), ("col_spacing", col_spacing)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number of mm, got {value!r}")
    pts = _as_points(shape, points_px)
    mm = pts * np.array([col_spacing, row_spacing])  # (x, y) in mm; x along columns, y along rows

    if shape == "rectangle":
        test, bbox_mm = _rectangle(mm)
    elif shape == "ellipse":
        test, bbox_mm = _ellipse(mm)
    else:
        test, bbox_mm = _polygon(mm)

    # Bounding box in pixel indices, with a one-pixel margin for the boundary tolerance and round-off.
    (x0, y0), (x1, y1) = bbox_mm
    c0, c1 = x0 / col_spacing, x1 / col_spacing
    r0, r1 = y0 / row_spacing, y1 / row_spacing
    if c1 < -0.5 or r1 < -0.5 or c0 > cols - 0.5 or r0 > rows - 0.5:
        raise RoiGeometryError(
            gettext_noop(
                "The %(shape)s lies entirely outside the image (image is %(cols)s × %(rows)s pixels; ROI spans "
                "columns %(c0)s–%(c1)s, rows %(r0)s–%(r1)s)."
            ),
            shape=shape,
            cols=cols,
            rows=rows,
            **{k: f"{v:.1f}" for k, v in (("c0", c0), ("c1", c1), ("r0", r0), ("r1", r1))},
        )
    ci0, ci1 = max(0, math.floor(c0) - 1), min(cols - 1, math.ceil(c1) + 1)
    ri0, ri1 = max(0, math.floor(r0) - 1), min(rows - 1, math.ceil(r1) + 1)

    mask = np.zeros((rows, cols), dtype=bool)
    if ci0 <= ci1 and ri0 <= ri1:
        xs = np.arange(ci0, ci1 + 1, dtype=np.float64) * col_spacing
        ys = np.arange(ri0, ri1 + 1, dtype=np.float64) * row_spacing
        mask[ri0 : ri1 + 1, ci0 : ci1 + 1] = test(xs, ys)
    if not allow_empty and not mask.any():
        raise RoiGeometryError(
            gettext_noop("The %(shape)s ROI contains no pixel centres — draw it larger."), shape=shape
        )
    return mask


def _as_points(shape: str, points_px: Sequence[Sequence[float]]) -> np.ndarray:
    if shape not in SHAPES:
        raise RoiGeometryError(
            gettext_noop("Unknown ROI shape %(shape)s; expected one of: %(shapes)s."),
            shape=repr(shape),
            shapes=", ".join(SHAPES),
        )
    try:
        pts = np.asarray(points_px, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RoiGeometryError(
            gettext_noop("The %(shape)s points must be numbers given as [column, row] pairs."), shape=shape
        ) from exc
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise RoiGeometryError(gettext_noop("The %(shape)s points must be a list of [column, row] pairs."), shape=shape)
    needed = SHAPES[shape]
    if (needed is not None and len(pts) != needed) or (needed is None and len(pts) < 3):
        raise RoiGeometryError(POINT_COUNT[shape], needed=needed or 3, got=len(pts))
    if not np.isfinite(pts).all():
        raise RoiGeometryError(
            gettext_noop("The %(shape)s has a point with a missing or infinite coordinate."), shape=shape
        )
    return pts


def _frame(p_from: np.ndarray, p_to: np.ndarray) -> tuple[np.ndarray, float]:
    d = p_to - p_from
    length = float(np.hypot(d[0], d[1]))
    return (d / length if length > 0 else d), length / 2


def _rectangle(mm: np.ndarray):
    tl, tr, bl, br = mm
    u, hu = _frame(tl, tr)
    _, hv = _frame(tl, bl)
    if hu * 2 < _MIN_SIZE_MM or hv * 2 < _MIN_SIZE_MM:
        raise RoiGeometryError(gettext_noop("The rectangle has zero width or height — draw it larger."))
    scale = max(hu, hv)
    if (
        np.hypot(*((tr - tl) - (br - bl))) > _FRAME_TOLERANCE * scale
        or np.hypot(*((bl - tl) - (br - tr))) > _FRAME_TOLERANCE * scale
        or abs(np.dot(tr - tl, bl - tl)) > _FRAME_TOLERANCE * (4 * hu * hv)
    ):
        raise RoiGeometryError(
            gettext_noop(
                "The rectangle's 4 corners do not form a rectangle in the order "
                "[top-left, top-right, bottom-left, bottom-right]."
            )
        )
    ctr = (tl + br) / 2
    v = np.array([-u[1], u[0]])
    lim_u = hu + max(hu, 1.0) * SHAPE_BOUNDARY_EPSILON
    lim_v = hv + max(hv, 1.0) * SHAPE_BOUNDARY_EPSILON

    def test(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        dx = (xs - ctr[0])[None, :]
        dy = (ys - ctr[1])[:, None]
        ou = dx * u[0] + dy * u[1]
        ov = dx * v[0] + dy * v[1]
        return (np.abs(ou) <= lim_u) & (np.abs(ov) <= lim_v)

    return test, (mm.min(axis=0), mm.max(axis=0))


def _ellipse(mm: np.ndarray):
    bottom, top, left, right = mm
    u, a = _frame(left, right)
    _, b = _frame(bottom, top)
    if a * 2 < _MIN_SIZE_MM or b * 2 < _MIN_SIZE_MM:
        raise RoiGeometryError(gettext_noop("The ellipse has a zero radius — draw it larger."))
    ctr = (left + right) / 2
    scale = max(a, b)
    if np.hypot(*(ctr - (bottom + top) / 2)) > _FRAME_TOLERANCE * scale or abs(
        np.dot(right - left, top - bottom)
    ) > _FRAME_TOLERANCE * (4 * a * b):
        raise RoiGeometryError(
            gettext_noop(
                "The ellipse's 4 points are not the ends of two perpendicular axes through one centre in the "
                "order [bottom, top, left, right]."
            )
        )
    v = np.array([-u[1], u[0]])
    limit = 1 + SHAPE_BOUNDARY_EPSILON

    def test(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        dx = (xs - ctr[0])[None, :]
        dy = (ys - ctr[1])[:, None]
        ou = dx * u[0] + dy * u[1]
        ov = dx * v[0] + dy * v[1]
        return (ou / a) ** 2 + (ov / b) ** 2 <= limit

    # Axis-aligned half-extents of the rotated ellipse.
    ext = np.array([math.hypot(a * u[0], b * v[0]), math.hypot(a * u[1], b * v[1])])
    return test, (ctr - ext, ctr + ext)


def _polygon(mm: np.ndarray):
    if len(mm) > 3 and np.hypot(*(mm[0] - mm[-1])) <= SHAPE_BOUNDARY_EPSILON:
        mm = mm[:-1]  # explicitly closed outline
    centred = mm - mm.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    if sv[0] < _MIN_SIZE_MM or sv[1] <= 1e-9 * sv[0]:
        raise RoiGeometryError(gettext_noop("The polygon has zero area (its points lie on one line) — draw it larger."))
    start = mm
    end = np.roll(mm, -1, axis=0)
    eps = SHAPE_BOUNDARY_EPSILON

    def test(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        inside = _even_odd(start, end, xs, ys)
        _mark_near_edges(inside, start, end, xs, ys, eps)
        return inside

    return test, (mm.min(axis=0), mm.max(axis=0))


def _even_odd(start: np.ndarray, end: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Crossing-number test for the grid ``ys × xs``: toggles once per edge crossed by the ray to +x.

    The classic per-point test (``(yi > y) != (yj > y) and x < x_cross``) evaluated scan line by scan line:
    each row's crossings are computed once and counted per pixel with a binary search.
    """
    xi, yi = start[:, 0], start[:, 1]
    xj, yj = end[:, 0], end[:, 1]
    y = ys[:, None]
    crosses = (yi > y) != (yj > y)  # (rows, edges); never true for horizontal edges
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # non-crossing rows are masked next
        x_cross = (xj - xi) * (y - yi) / (yj - yi) + xi
    x_cross = np.where(crosses, x_cross, -np.inf)
    x_cross.sort(axis=1)
    n_edges = x_cross.shape[1]
    out = np.empty((len(ys), len(xs)), dtype=bool)
    for k in range(len(ys)):
        beyond = n_edges - np.searchsorted(x_cross[k], xs, side="right")  # crossings with x < x_cross
        out[k] = (beyond % 2) == 1
    return out


def _mark_near_edges(
    inside: np.ndarray, start: np.ndarray, end: np.ndarray, xs: np.ndarray, ys: np.ndarray, eps: float
) -> None:
    """Set ``inside`` for pixel centres within ``eps`` mm of an edge (visiting each edge's bounding box)."""
    for a, b in zip(start, end, strict=True):
        lo, hi = np.minimum(a, b) - eps, np.maximum(a, b) + eps
        cs = np.nonzero((xs >= lo[0]) & (xs <= hi[0]))[0]
        rs = np.nonzero((ys >= lo[1]) & (ys <= hi[1]))[0]
        if not len(cs) or not len(rs):
            continue
        px = xs[cs][None, :] - a[0]
        py = ys[rs][:, None] - a[1]
        d = b - a
        length2 = float(d @ d)
        t = np.clip((px * d[0] + py * d[1]) / length2, 0.0, 1.0) if length2 > 0 else 0.0
        near = (px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 <= eps * eps
        if near.any():
            inside[np.ix_(rs, cs)] |= near
