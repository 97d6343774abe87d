"""Property tests: ROI masks equal independent point-in-shape references (hypothesis).

The references do not share code or formulas with studies.roi_geometry:

* rectangle: matplotlib ``Path.contains_points`` on the corner polygon, in mm;
* ellipse: the focal definition, ``|P - F1| + |P - F2| <= 2 A`` (A the semi-major axis), in mm;
* simple polygon: matplotlib ``Path.contains_points``; self-intersecting polygon: even-odd parity of a ray
  cast *vertically* (studies.roi_geometry casts horizontally).

Shapes are generated in mm (rotated, anisotropic pixel spacing) and handed over as Cornerstone handles in
pixel coordinates, as the viewer sends them. The boundary is handled explicitly: pixel centres on the shape
(within 1e-9 mm, or within Cornerstone's tolerance for polygons) must be inside; centres farther out than the
largest tolerance Cornerstone allows must be outside; only the thin band in between is not asserted, and the
tests check that this band stays small so they cannot pass vacuously.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from matplotlib.path import Path

from studies.roi_geometry import SHAPE_BOUNDARY_EPSILON as EPS
from studies.roi_geometry import RoiGeometryError
from studies.roi_geometry import roi_mask as _roi_mask


def roi_mask(shape, points, rows, cols, dy, dx, allow_empty=True):
    """The mask under test; a shape wholly off the image is an error, compared as an empty mask."""
    try:
        return _roi_mask(shape, points, rows, cols, dy, dx, allow_empty=allow_empty)
    except RoiGeometryError as exc:
        assert "entirely outside the image" in str(exc)
        return np.zeros((rows, cols), dtype=bool)


spacing = st.floats(min_value=0.3, max_value=2.0)
size = st.integers(min_value=8, max_value=48)
half = st.floats(min_value=0.4, max_value=12.0)
angle = st.floats(min_value=0.0, max_value=math.pi)


def centres_mm(rows: int, cols: int, dy: float, dx: float) -> np.ndarray:
    jj, ii = np.mgrid[0:rows, 0:cols]
    return np.column_stack([(ii * dx).ravel(), (jj * dy).ravel()])


def segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each point to segment ab, via the projection clamped with min/max (mm)."""
    ab = b - a
    ap = points - a
    denom = float(ab @ ab)
    t = np.zeros(len(points)) if denom == 0 else np.minimum(1.0, np.maximum(0.0, (ap @ ab) / denom))
    closest = a + np.outer(t, ab)
    return np.sqrt(((points - closest) ** 2).sum(axis=1))


def boundary_distance(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    d = np.full(len(points), np.inf)
    for k in range(len(vertices)):
        d = np.minimum(d, segment_distance(points, vertices[k], vertices[(k + 1) % len(vertices)]))
    return d


def check(mask: np.ndarray, must_in: np.ndarray, must_out: np.ndarray) -> None:
    flat = mask.ravel()
    assert not (must_in & must_out).any()
    assert flat[must_in].all(), f"{int((~flat[must_in]).sum())} pixel centres inside the shape were left out"
    assert not flat[must_out].any(), f"{int(flat[must_out].sum())} pixel centres outside the shape were taken"
    ambiguous = ~(must_in | must_out)
    # The unasserted band is thin: a few centres, or at most two lines of them — an edge that grazes a row or
    # column of pixel centres (rotated by ~1e-7 rad, say) puts that whole line within the tolerance.
    assert ambiguous.sum() <= max(4, 0.05 * flat.size, 2 * max(mask.shape))


def to_px(points_mm, dy: float, dx: float) -> list[list[float]]:
    return [[float(p[0] / dx), float(p[1] / dy)] for p in points_mm]


@st.composite
def frame(draw):
    """Image, spacing and an oriented frame (centre, half sizes, axes) in mm; sometimes snapped to pixels."""
    rows, cols, dy, dx = draw(size), draw(size), draw(spacing), draw(spacing)
    if draw(st.booleans()):  # snapped: axis-aligned, handles on pixel centres -> boundary pixels everywhere
        c = np.array([draw(st.integers(-2, cols + 1)) * dx, draw(st.integers(-2, rows + 1)) * dy])
        hu, hv = draw(st.integers(1, 10)) * dx, draw(st.integers(1, 10)) * dy
        th = draw(st.sampled_from([0.0, math.pi / 2, math.pi]))
        if th == math.pi / 2:
            hu, hv = hv * dx / dy, hu * dy / dx  # keep the handles on pixel centres after the quarter turn
    else:
        c = np.array([draw(st.floats(-3, cols + 2)) * dx, draw(st.floats(-3, rows + 2)) * dy])
        hu, hv, th = draw(half), draw(half), draw(angle)
    u = np.array([math.cos(th), math.sin(th)])
    v = np.array([-u[1], u[0]])
    return rows, cols, dy, dx, c, hu, hv, u, v


@settings(max_examples=250, deadline=None)
@given(frame())
def test_rectangle_matches_path_contains(f):
    rows, cols, dy, dx, c, hu, hv, u, v = f
    tl, tr = c - hu * u - hv * v, c + hu * u - hv * v
    bl, br = c - hu * u + hv * v, c + hu * u + hv * v
    pts = to_px([tl, tr, bl, br], dy, dx)
    mask = roi_mask("rectangle", pts, rows, cols, dy, dx, allow_empty=True)

    p = centres_mm(rows, cols, dy, dx)
    corners = np.array([tl, tr, br, bl])  # polygon order for the reference
    inside = Path(corners, closed=False).contains_points(p, radius=0.0)
    dist = boundary_distance(p, corners)
    tol_out = 1.5 * max(hu, hv, 1.0) * EPS + 1e-9
    check(mask, must_in=inside | (dist <= 1e-9), must_out=~inside & (dist > tol_out))

    # Drawn from any other corner (mirrored handle orders) the pixels are the same.
    for order in ((1, 0, 3, 2), (2, 3, 0, 1), (3, 2, 1, 0)):
        again = roi_mask("rectangle", [pts[k] for k in order], rows, cols, dy, dx, allow_empty=True)
        assert np.array_equal(again, mask)


@settings(max_examples=250, deadline=None)
@given(frame())
def test_ellipse_matches_focal_definition(f):
    rows, cols, dy, dx, c, a, b, u, v = f
    assume(max(a, b) / min(a, b) <= 30)
    bottom, top, left, right = c + b * v, c - b * v, c - a * u, c + a * u
    pts = to_px([bottom, top, left, right], dy, dx)
    mask = roi_mask("ellipse", pts, rows, cols, dy, dx, allow_empty=True)

    p = centres_mm(rows, cols, dy, dx)
    big, small, axis = (a, b, u) if a >= b else (b, a, v)
    focal = math.sqrt(max(big * big - small * small, 0.0))
    f1, f2 = c + focal * axis, c - focal * axis
    excess = np.hypot(*(p - f1).T) + np.hypot(*(p - f2).T) - 2 * big  # <= 0 inside
    # Outside by `excess` means (u/a)^2 + (v/b)^2 - 1 >= excess / A, so beyond 2 A EPS it exceeds 1 + EPS.
    check(mask, must_in=excess <= 1e-12 * big, must_out=excess > 2 * big * EPS + 1e-12)

    # The same ellipse from mirrored handles, or with its two axes given the other way round.
    for order in ((1, 0, 2, 3), (0, 1, 3, 2), (2, 3, 0, 1)):
        again = roi_mask("ellipse", [pts[k] for k in order], rows, cols, dy, dx, allow_empty=True)
        assert np.array_equal(again, mask)


@st.composite
def star_polygon(draw):
    """A simple (star-shaped) polygon in pixel coordinates, vertices sometimes on pixel centres."""
    rows, cols, dy, dx = draw(size), draw(size), draw(spacing), draw(spacing)
    n = draw(st.integers(3, 12))
    cx, cy = draw(st.floats(0, cols - 1)), draw(st.floats(0, rows - 1))
    angles = sorted(draw(st.lists(st.floats(0, 2 * math.pi), min_size=n, max_size=n, unique=True)))
    radii = draw(st.lists(st.floats(0.5, 14.0), min_size=n, max_size=n))
    snap = draw(st.booleans())
    verts = []
    for t, r in zip(angles, radii, strict=True):
        x, y = cx + r * math.cos(t) / dx, cy + r * math.sin(t) / dy
        verts.append([round(x), round(y)] if snap else [x, y])
    return rows, cols, dy, dx, verts


def has_area(verts_mm: np.ndarray) -> bool:
    centred = verts_mm - verts_mm.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    return sv[0] > 1e-6 and sv[1] > 1e-6 * sv[0]


@settings(max_examples=250, deadline=None)
@given(star_polygon())
def test_simple_polygon_matches_path_contains(poly):
    rows, cols, dy, dx, verts = poly
    vmm = np.array(verts, float) * [dx, dy]
    assume(has_area(vmm))
    # a simple polygon: star-shaped around its generating centre, but rounding may fold it -> check simplicity
    assume(_is_simple(vmm))
    mask = roi_mask("polygon", verts, rows, cols, dy, dx, allow_empty=True)

    p = centres_mm(rows, cols, dy, dx)
    inside = Path(vmm).contains_points(p, radius=0.0)
    dist = boundary_distance(p, vmm)
    check(mask, must_in=(inside & (dist > 1e-9)) | (dist <= 0.99 * EPS), must_out=~inside & (dist > 1.01 * EPS))

    # Reversed or rotated vertex order describes the same outline.
    assert np.array_equal(roi_mask("polygon", verts[::-1], rows, cols, dy, dx, allow_empty=True), mask)
    assert np.array_equal(roi_mask("polygon", verts[1:] + verts[:1], rows, cols, dy, dx, allow_empty=True), mask)


def _is_simple(v: np.ndarray) -> bool:
    n = len(v)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue
            a, b, c, d = v[i], v[(i + 1) % n], v[j], v[(j + 1) % n]
            d1, d2, d3, d4 = cross(c, d, a), cross(c, d, b), cross(a, b, c), cross(a, b, d)
            if d1 * d2 <= 0 and d3 * d4 <= 0:
                return False
    return True


def vertical_ray_parity(p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Even-odd inside test casting the ray towards +y (the code under test casts towards +x)."""
    x, y = p[:, 0], p[:, 1]
    inside = np.zeros(len(p), dtype=bool)
    for k in range(len(v)):
        (x1, y1), (x2, y2) = v[k], v[(k + 1) % len(v)]
        if x1 == x2:
            continue  # vertical edges are never crossed by a vertical ray (half-open rule)
        straddles = (x1 <= x) != (x2 <= x)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            y_at = y1 + (x - x1) * (y2 - y1) / (x2 - x1)
        inside ^= straddles & (y_at > y)
    return inside


@settings(max_examples=250, deadline=None)
@given(
    rows=size,
    cols=size,
    dy=spacing,
    dx=spacing,
    verts=st.lists(
        st.tuples(st.one_of(st.integers(-2, 40), st.floats(-2, 40)), st.one_of(st.integers(-2, 40), st.floats(-2, 40))),
        min_size=3,
        max_size=9,
    ),
)
def test_any_polygon_matches_vertical_ray_even_odd(rows, cols, dy, dx, verts):
    vmm = np.array(verts, float) * [dx, dy]
    assume(has_area(vmm))
    mask = roi_mask("polygon", [list(map(float, p)) for p in verts], rows, cols, dy, dx, allow_empty=True)
    p = centres_mm(rows, cols, dy, dx)
    inside = vertical_ray_parity(p, vmm)
    dist = boundary_distance(p, vmm)
    flat = mask.ravel()
    assert flat[dist <= 0.99 * EPS].all()  # on an edge counts as inside
    clear = dist > 1.01 * EPS
    assert np.array_equal(flat[clear], inside[clear])  # elsewhere: exactly the even-odd rule
