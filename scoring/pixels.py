"""ROI pixel statistics on one DICOM slice (pure: pydicom + numpy, no Django).

The server, not the viewer, computes every number that goes into a score. To match what a reader sees in the
Cornerstone3D viewer, the pixel set of an ROI follows Cornerstone's own rule (``voxelSlab/shapes``): a
pixel belongs to the ROI when its *centre* lies inside the shape, tested in millimetres in the image plane (so
an anisotropic ``PixelSpacing`` matters) with a boundary tolerance of :data:`SHAPE_BOUNDARY_EPSILON`. Pixel
centres sit at integer ``(col, row)``. See ``shared/VIEWER_GUIDE.md`` §4–§5 for the handle order of each
tool and the check that this reproduces Cornerstone's pixel count, mean and median exactly.

Values are in stored-value units after the DICOM modality LUT (Rescale Slope / Intercept), see
:func:`decode_pixels`. Statistics follow ``DESIGN.md`` ("Measurements"): n, area in mm², mean, median,
sample SD (ddof = 1), min and max.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, get_decoder

__all__ = [
    "SHAPES",
    "SHAPE_BOUNDARY_EPSILON",
    "PixelError",
    "PixelSlice",
    "RoiGeometryError",
    "RoiStats",
    "SliceCache",
    "decode_pixels",
    "load_pixels",
    "measure_roi",
    "pixel_spacing",
    "roi_mask",
    "roi_stats",
]

#: Cornerstone3D's ``SHAPE_BOUNDARY_EPSILON``: pixel centres on the boundary (within this tolerance) count as
#: inside. Relative for ellipses (on the normalised radius) and rectangles (on the half-side, at least 1 mm),
#: absolute in mm for polygon edges.
SHAPE_BOUNDARY_EPSILON = 1e-5

#: The ROI shapes the viewer can draw, with the number of points each needs (``None``: 3 or more).
SHAPES: dict[str, int | None] = {"rectangle": 4, "ellipse": 4, "polygon": None}

# Sizes below this (mm) are treated as zero: a rectangle side, an ellipse radius, a polygon's extent.
_MIN_SIZE_MM = 1e-6
# How far (relative to the shape's size) the 4 handles may stray from an exact rectangle / ellipse frame
# before we call them malformed. Cornerstone's handles are exact up to float round-off (~1e-12); a wrong
# handle order is off by the whole size.
_FRAME_TOLERANCE = 1e-3


class PixelError(ValueError):
    """The pixel data of a DICOM file cannot be turned into a 2-D array of values (user-readable message)."""


class RoiGeometryError(ValueError):
    """An ROI's geometry cannot be measured (message is written for the clinician who drew it)."""


# ----------------------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------------------


def decode_pixels(ds: Dataset) -> np.ndarray:
    """Decode a single-frame greyscale DICOM image to float64 values after the modality LUT.

    Parameters
    ----------
    ds : pydicom.Dataset
        A dataset with *Pixel Data* and a ``file_meta.TransferSyntaxUID``. Every transfer syntax pydicom can
        decode with the installed plugins works: implicit / explicit VR little endian, explicit big endian,
        deflate, RLE, JPEG baseline, JPEG lossless, JPEG-LS and JPEG 2000 (pylibjpeg, pyjpegls or GDCM).

    Returns
    -------
    numpy.ndarray
        ``(Rows, Columns)`` float64 array: stored values passed through
        :func:`pydicom.pixels.apply_modality_lut` (``value * RescaleSlope + RescaleIntercept`` where present,
        or the Modality LUT Sequence). Signedness follows *Pixel Representation*.

    Raises
    ------
    PixelError
        No pixel data, more than one frame, a colour image, an incomplete rescale, a transfer syntax
        without an installed decoder (the message names it), or data the decoder rejects.
    """
    if "PixelData" not in ds:
        kind = (
            "floating-point pixel data, which is not a stored MR image"
            if ("FloatPixelData" in ds or "DoubleFloatPixelData" in ds)
            else "no pixel data"
        )
        raise PixelError(f"The DICOM file has {kind}; it cannot be measured.")

    frames = _int_or_none(ds.get("NumberOfFrames"))
    if frames is not None and frames > 1:
        raise PixelError(
            f"The DICOM file is a multi-frame image ({frames} frames); only single-slice images can be measured."
        )
    samples = _int_or_none(ds.get("SamplesPerPixel"))
    if samples is not None and samples != 1:
        raise PixelError(
            f"The DICOM file is a colour image ({samples} samples per pixel, "
            f"{ds.get('PhotometricInterpretation', 'unknown')}); only greyscale MR images can be measured."
        )

    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is None:
        raise PixelError("The DICOM file has no Transfer Syntax UID in its file meta information.")
    ts = pydicom.uid.UID(ts)
    ts_text = f"{ts.name} ({ts})" if ts.name != str(ts) else str(ts)
    if not ts.is_transfer_syntax:
        raise PixelError(f"The DICOM file's transfer syntax {ts_text} is not a known transfer syntax.")
    if ts.is_compressed:
        try:
            decoder = get_decoder(ts)
        except NotImplementedError as exc:
            raise PixelError(f"No decoder exists for the transfer syntax {ts_text}.") from exc
        if not decoder.is_available:
            missing = "; ".join(decoder.missing_dependencies)
            raise PixelError(
                f"No decoder is installed for the transfer syntax {ts_text}"
                + (f" (missing: {missing})" if missing else "")
                + "."
            )

    _check_rescale(ds)
    try:
        stored = _decode_stored(ds, get_decoder(ts) if ts.is_compressed else None)
    except Exception as exc:  # pydicom/plugins raise many types; the user needs one clear message
        raise PixelError(f"The pixel data could not be decoded ({ts_text}): {exc}") from exc
    if stored.ndim != 2:
        raise PixelError(f"The decoded pixel data has shape {stored.shape}; a single 2-D greyscale slice is required.")
    try:
        values = apply_modality_lut(stored, ds)
    except Exception as exc:
        raise PixelError(f"The modality LUT / rescale could not be applied: {exc}") from exc
    return np.asarray(values, dtype=np.float64)


#: Decoding plugins in order of preference. python-gdcm only when nothing else decodes the syntax: on a
#: corrupt JPEG 2000 stream it aborts the whole process (uncaught C++ exception), which would kill a worker.
_PLUGIN_ORDER = ("pylibjpeg", "pydicom", "pillow", "pyjpegls")


def _decode_stored(ds: Dataset, decoder) -> np.ndarray:
    if decoder is None:
        return ds.pixel_array
    available = tuple(decoder.available_plugins)
    plugins = [p for p in _PLUGIN_ORDER if p in available] or list(available)
    last: Exception | None = None
    for plugin in plugins:
        try:
            ds.pixel_array_options(decoding_plugin=plugin)
            return ds.pixel_array
        except Exception as exc:  # try the next plugin
            last = exc
    raise last or ValueError("no decoder")


def _int_or_none(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _check_rescale(ds: Dataset) -> None:
    """Rescale Slope and Intercept come as a pair (PS3.3 C.11.1); refuse a half or empty pair, not guess."""
    if ds.get("ModalityLUTSequence"):
        return
    present = {k: ds.get(k) for k in ("RescaleSlope", "RescaleIntercept") if k in ds}
    if not present:
        return
    if len(present) == 1 or any(v is None or v == "" for v in present.values()):
        raise PixelError(
            "The DICOM file has an incomplete rescale (Rescale Slope and Rescale Intercept must both be "
            f"present and non-empty; found {', '.join(f'{k}={v!r}' for k, v in present.items())})."
        )
    for key, value in present.items():
        if not math.isfinite(float(value)):
            raise PixelError(f"The DICOM file's {key} is not a finite number ({value!r}).")


def pixel_spacing(ds: Dataset) -> tuple[float, float]:
    """``(row_spacing, col_spacing)`` in mm from *Pixel Spacing*.

    DICOM *Pixel Spacing* is "adjacent row spacing \\ adjacent column spacing": the first value is the
    distance between the centres of two adjacent rows (the vertical pixel size), the second between two
    adjacent columns (the horizontal pixel size).
    """
    spacing = ds.get("PixelSpacing")
    if spacing is None or len(spacing) != 2:
        raise PixelError(
            "The DICOM file has no valid Pixel Spacing (two values in mm), so ROI areas cannot be computed."
        )
    try:
        row_spacing, col_spacing = (float(v) for v in spacing)
    except (TypeError, ValueError) as exc:
        raise PixelError(f"The DICOM file's Pixel Spacing {list(spacing)!r} is not numeric.") from exc
    if not (math.isfinite(row_spacing) and math.isfinite(col_spacing) and row_spacing > 0 and col_spacing > 0):
        raise PixelError(f"The DICOM file's Pixel Spacing {[row_spacing, col_spacing]!r} must be positive.")
    return row_spacing, col_spacing


@dataclass(frozen=True, eq=False)
class PixelSlice:
    """One decoded slice: read-only float64 ``values`` (rows × cols) and the pixel size in mm."""

    values: np.ndarray
    row_spacing: float
    col_spacing: float
    rows: int
    cols: int

    @classmethod
    def from_dataset(cls, ds: Dataset) -> PixelSlice:
        values = decode_pixels(ds)
        row_spacing, col_spacing = pixel_spacing(ds)
        values.flags.writeable = False  # shared through the cache
        return cls(values, row_spacing, col_spacing, int(values.shape[0]), int(values.shape[1]))


class SliceCache:
    """Small thread-safe LRU cache of decoded slices keyed by ``(path, mtime_ns, size)``.

    A scoring job measures several ROIs on the same slice; each slice is decoded once. A file rewritten in
    place gets a new key (its mtime/size change), so stale pixels are never served.
    """

    def __init__(self, maxsize: int = 16) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[tuple[str, int, int], PixelSlice] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str | os.PathLike[str]) -> PixelSlice:
        resolved = os.path.realpath(os.fspath(path))
        try:
            st = os.stat(resolved)
        except OSError as exc:
            raise PixelError(f"The DICOM file {os.fspath(path)!r} cannot be read: {exc.strerror}.") from exc
        key = (resolved, st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                self.hits += 1
                return hit
            self.misses += 1
        slice_ = _read_slice(resolved)  # decode outside the lock: other threads keep going
        with self._lock:
            for old in [k for k in self._data if k[0] == resolved]:  # an older version of the same file
                del self._data[old]
            self._data[key] = slice_
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return slice_

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)


def _read_slice(path: str) -> PixelSlice:
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # InvalidDicomError, OSError, struct errors on truncated files ...
        raise PixelError(f"The file {Path(path).name!r} is not a readable DICOM file: {exc}") from exc
    return PixelSlice.from_dataset(ds)


_DEFAULT_CACHE = SliceCache()


def load_pixels(path: str | os.PathLike[str], *, cache: SliceCache | None = None) -> PixelSlice:
    """Read and decode a DICOM slice, memoised in ``cache`` (default: a process-wide :class:`SliceCache`)."""
    return (_DEFAULT_CACHE if cache is None else cache).get(path)


# ----------------------------------------------------------------------------------------------------
# ROI masks
# ----------------------------------------------------------------------------------------------------


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
            f"The {shape} lies entirely outside the image (image is {cols} × {rows} pixels; ROI spans "
            f"columns {c0:.1f}–{c1:.1f}, rows {r0:.1f}–{r1:.1f})."
        )
    ci0, ci1 = max(0, math.floor(c0) - 1), min(cols - 1, math.ceil(c1) + 1)
    ri0, ri1 = max(0, math.floor(r0) - 1), min(rows - 1, math.ceil(r1) + 1)

    mask = np.zeros((rows, cols), dtype=bool)
    if ci0 <= ci1 and ri0 <= ri1:
        xs = np.arange(ci0, ci1 + 1, dtype=np.float64) * col_spacing
        ys = np.arange(ri0, ri1 + 1, dtype=np.float64) * row_spacing
        mask[ri0 : ri1 + 1, ci0 : ci1 + 1] = test(xs, ys)
    if not allow_empty and not mask.any():
        raise RoiGeometryError(f"The {shape} ROI contains no pixel centres — draw it larger.")
    return mask


def _as_points(shape: str, points_px: Sequence[Sequence[float]]) -> np.ndarray:
    if shape not in SHAPES:
        raise RoiGeometryError(f"Unknown ROI shape {shape!r}; expected one of: {', '.join(SHAPES)}.")
    try:
        pts = np.asarray(points_px, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RoiGeometryError(f"The {shape} points must be numbers given as [column, row] pairs.") from exc
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise RoiGeometryError(f"The {shape} points must be a list of [column, row] pairs.")
    needed = SHAPES[shape]
    article = "An" if shape[0] in "aeiou" else "A"
    if needed is not None and len(pts) != needed:
        raise RoiGeometryError(f"{article} {shape} needs exactly {needed} points, got {len(pts)}.")
    if needed is None and len(pts) < 3:
        raise RoiGeometryError(f"{article} {shape} needs at least 3 points, got {len(pts)}.")
    if not np.isfinite(pts).all():
        raise RoiGeometryError(f"The {shape} has a point with a missing or infinite coordinate.")
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
        raise RoiGeometryError("The rectangle has zero width or height — draw it larger.")
    scale = max(hu, hv)
    if (
        np.hypot(*((tr - tl) - (br - bl))) > _FRAME_TOLERANCE * scale
        or np.hypot(*((bl - tl) - (br - tr))) > _FRAME_TOLERANCE * scale
        or abs(np.dot(tr - tl, bl - tl)) > _FRAME_TOLERANCE * (4 * hu * hv)
    ):
        raise RoiGeometryError(
            "The rectangle's 4 corners do not form a rectangle in the order "
            "[top-left, top-right, bottom-left, bottom-right]."
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
        raise RoiGeometryError("The ellipse has a zero radius — draw it larger.")
    ctr = (left + right) / 2
    scale = max(a, b)
    if np.hypot(*(ctr - (bottom + top) / 2)) > _FRAME_TOLERANCE * scale or abs(
        np.dot(right - left, top - bottom)
    ) > _FRAME_TOLERANCE * (4 * a * b):
        raise RoiGeometryError(
            "The ellipse's 4 points are not the ends of two perpendicular axes through one centre in the "
            "order [bottom, top, left, right]."
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
        raise RoiGeometryError("The polygon has zero area (its points lie on one line) — draw it larger.")
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


# ----------------------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------------------


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
    path_or_ds: str | os.PathLike[str] | Dataset, shape: str, points_px: Sequence[Sequence[float]]
) -> RoiStats:
    """Statistics of one ROI drawn on a DICOM slice (a path, decoded once through the cache, or a Dataset)."""
    if isinstance(path_or_ds, Dataset):
        sl = PixelSlice.from_dataset(path_or_ds)
    else:
        sl = load_pixels(path_or_ds)
    mask = roi_mask(shape, points_px, sl.rows, sl.cols, sl.row_spacing, sl.col_spacing)
    return roi_stats(sl.values, mask, sl.row_spacing, sl.col_spacing)
