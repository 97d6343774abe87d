"""scoring.pixels: decoding errors, the slice cache, the pixel-inclusion rule, geometry errors and ROI stats.

Expected masks are written out by hand (pixel centres at integer (col, row), inside-or-on-boundary counts);
the randomised comparison against independent point-in-shape code is in test_masks_property.py and the
transfer syntaxes are in test_transfer_syntaxes.py.
"""

from __future__ import annotations

import math
import os
import statistics
from types import SimpleNamespace

import numpy as np
import pytest
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset

import studies.dicom.pixels as px
from scoring.pixels import RoiStats, measure_roi, roi_stats
from studies.dicom.pixels import PixelError, PixelSlice, SliceCache, decode_pixels, load_pixels, pixel_spacing
from studies.roi_geometry import SHAPE_BOUNDARY_EPSILON, RoiGeometryError, roi_mask


def make_ds(arr: np.ndarray, *, signed: bool = False, spacing=(0.8, 0.6), ts=uid.ExplicitVRLittleEndian) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.file_meta.MediaStorageSOPClassUID = uid.MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    ds.SOPClassUID = uid.MRImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = int(signed)
    if spacing is not None:
        ds.PixelSpacing = list(spacing)
    ds.PixelData = arr.astype(np.int16 if signed else np.uint16).tobytes()
    return ds


def ramp(rows=12, cols=10) -> np.ndarray:
    return np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)


# ------------------------------------------------------------------------------------------------------------
# decode_pixels
# ------------------------------------------------------------------------------------------------------------


def test_decode_unsigned_signed_and_rescale():
    a = ramp()
    out = decode_pixels(make_ds(a))
    assert out.dtype == np.float64 and out.shape == (12, 10) and np.array_equal(out, a)

    s = a - 60  # negative values survive as negative
    out = decode_pixels(make_ds(s, signed=True))
    assert out.min() == -60 and np.array_equal(out, s)

    ds = make_ds(a)
    ds.RescaleSlope, ds.RescaleIntercept = 0.5, -10
    assert np.array_equal(decode_pixels(ds), a * 0.5 - 10)


def test_decode_applies_modality_lut_sequence():
    ds = make_ds(np.array([[0, 1], [2, 3]]))
    item = Dataset()
    item.LUTDescriptor = [4, 0, 16]
    item.LUTData = [100, 200, 300, 400]
    ds.ModalityLUTSequence = [item]
    assert np.array_equal(decode_pixels(ds), [[100, 200], [300, 400]])


def test_no_pixel_data():
    ds = make_ds(ramp())
    del ds.PixelData
    with pytest.raises(PixelError, match="no pixel data"):
        decode_pixels(ds)


def test_multi_frame_is_refused():
    ds = make_ds(np.concatenate([ramp(), ramp()]))
    ds.Rows, ds.NumberOfFrames = 12, 2
    with pytest.raises(PixelError, match=r"multi-frame image \(2 frames\)"):
        decode_pixels(ds)


def test_colour_is_refused():
    ds = make_ds(ramp())
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, "RGB"
    with pytest.raises(PixelError, match="colour image"):
        decode_pixels(ds)


def test_missing_transfer_syntax():
    ds = make_ds(ramp())
    del ds.file_meta.TransferSyntaxUID
    with pytest.raises(PixelError, match="no Transfer Syntax UID"):
        decode_pixels(ds)


def test_transfer_syntax_without_any_decoder_is_named():
    ds = make_ds(ramp(), ts=uid.MPEG2MPML)
    with pytest.raises(PixelError, match=r"No decoder exists for the transfer syntax MPEG2 Main Profile"):
        decode_pixels(ds)


def test_missing_codec_names_the_transfer_syntax_and_dependency(monkeypatch):
    fake = SimpleNamespace(is_available=False, missing_dependencies=["pylibjpeg-libjpeg>=2.1"])
    monkeypatch.setattr(px, "get_decoder", lambda ts: fake)
    ds = make_ds(ramp(), ts=uid.JPEGLSLossless)
    with pytest.raises(PixelError) as info:
        decode_pixels(ds)
    msg = str(info.value)
    assert "No decoder is installed for the transfer syntax JPEG-LS Lossless Image Compression" in msg
    assert "1.2.840.10008.1.2.4.80" in msg and "pylibjpeg-libjpeg" in msg


def test_unknown_transfer_syntax_uid():
    ds = make_ds(ramp(), ts="1.2.3.4.5")
    with pytest.raises(PixelError, match="not a known transfer syntax"):
        decode_pixels(ds)


def test_corrupt_compressed_data_is_a_pixel_error():
    ds = make_ds(ramp())
    ds.compress(uid.RLELossless, ramp().astype(np.uint16))
    ds.PixelData = ds.PixelData[:40]  # truncated fragment
    with pytest.raises(PixelError, match=r"compressed pixel data are corrupt \(RLE decoder failed"):
        decode_pixels(ds)


@pytest.mark.parametrize(("slope", "intercept"), [(2.0, None), (None, 5.0), ("", 5.0)])
def test_incomplete_rescale_is_refused(slope, intercept):
    ds = make_ds(ramp())
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    with pytest.raises(PixelError, match="incomplete rescale"):
        decode_pixels(ds)


def test_pixel_spacing_order_and_errors():
    assert pixel_spacing(make_ds(ramp(), spacing=(0.8, 0.6))) == (0.8, 0.6)  # (row, col)
    with pytest.raises(PixelError, match="no valid Pixel Spacing"):
        pixel_spacing(make_ds(ramp(), spacing=None))
    with pytest.raises(PixelError, match="must be positive"):
        pixel_spacing(make_ds(ramp(), spacing=(0.0, 0.6)))


# ------------------------------------------------------------------------------------------------------------
# load_pixels and the cache
# ------------------------------------------------------------------------------------------------------------


def write(tmp_path, name, arr, **kw) -> str:
    path = tmp_path / name
    make_ds(arr, **kw).save_as(path, enforce_file_format=True)
    return str(path)


def test_load_pixels_returns_values_and_spacing(tmp_path):
    path = write(tmp_path, "a.dcm", ramp(), spacing=(0.8, 0.6))
    sl = load_pixels(path, cache=SliceCache())
    assert isinstance(sl, PixelSlice)
    assert (sl.rows, sl.cols, sl.row_spacing, sl.col_spacing) == (12, 10, 0.8, 0.6)
    assert np.array_equal(sl.values, ramp())
    with pytest.raises(ValueError):
        sl.values[0, 0] = 5  # shared through the cache: read-only


def test_cache_decodes_each_slice_once_and_notices_rewrites(tmp_path, monkeypatch):
    cache = SliceCache(maxsize=4)
    path = write(tmp_path, "a.dcm", ramp())
    calls = []
    real = px.decode_pixels
    monkeypatch.setattr(px, "decode_pixels", lambda ds: calls.append(1) or real(ds))

    first = load_pixels(path, cache=cache)
    assert load_pixels(path, cache=cache) is first
    assert load_pixels(os.path.join(str(tmp_path), ".", "a.dcm"), cache=cache) is first  # same file
    assert (len(calls), cache.hits, cache.misses) == (1, 2, 1)

    write(tmp_path, "a.dcm", ramp() + 7)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    second = load_pixels(path, cache=cache)
    assert second is not first and second.values[0, 0] == 7 and len(calls) == 2
    assert len(cache) == 1  # the stale version was dropped


def test_cache_is_lru_bounded(tmp_path):
    cache = SliceCache(maxsize=2)
    paths = [write(tmp_path, f"{i}.dcm", ramp() + i) for i in range(3)]
    a = cache.get(paths[0])
    cache.get(paths[1])
    assert cache.get(paths[0]) is a  # refresh 0 -> 1 is the least recently used
    cache.get(paths[2])
    assert len(cache) == 2
    assert cache.get(paths[0]) is a and cache.misses == 3
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError):
        SliceCache(maxsize=0)


def test_load_pixels_errors(tmp_path):
    with pytest.raises(PixelError, match="cannot be read"):
        load_pixels(tmp_path / "missing.dcm", cache=SliceCache())
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    with pytest.raises(PixelError, match="not a readable DICOM file"):
        load_pixels(junk, cache=SliceCache())
    with pytest.raises(PixelError, match="Pixel Spacing"):
        load_pixels(write(tmp_path, "nospacing.dcm", ramp(), spacing=None), cache=SliceCache())


def test_default_cache_is_used(tmp_path):
    path = write(tmp_path, "d.dcm", ramp())
    assert load_pixels(path) is load_pixels(path)


# ------------------------------------------------------------------------------------------------------------
# roi_mask: the inclusion rule on hand-checked cases
# ------------------------------------------------------------------------------------------------------------


def cells(mask: np.ndarray) -> set[tuple[int, int]]:
    """{(col, row)} of the mask."""
    rows, cols = np.nonzero(mask)
    return {(int(c), int(r)) for r, c in zip(rows, cols, strict=True)}


def test_rectangle_with_handles_on_pixel_centres_includes_its_boundary():
    # [tl, tr, bl, br] on centres (2,3)..(6,5): cols 2..6 x rows 3..5 = 15 pixels
    m = roi_mask("rectangle", [[2, 3], [6, 3], [2, 5], [6, 5]], 10, 10, 0.8, 0.6)
    assert cells(m) == {(c, r) for c in range(2, 7) for r in range(3, 6)}


def test_rectangle_between_centres():
    m = roi_mask("rectangle", [[1.5, 0.5], [6.5, 0.5], [1.5, 2.5], [6.5, 2.5]], 10, 10, 1.0, 1.0)
    assert cells(m) == {(c, r) for c in range(2, 7) for r in range(1, 3)}


def test_rectangle_drawn_mirrored_gives_the_same_pixels():
    a = roi_mask("rectangle", [[2, 3], [6, 3], [2, 5], [6, 5]], 10, 10, 0.8, 0.6)
    b = roi_mask("rectangle", [[6, 5], [2, 5], [6, 3], [2, 3]], 10, 10, 0.8, 0.6)  # dragged br -> tl
    assert np.array_equal(a, b)


def test_boundary_tolerance_is_cornerstones_epsilon():
    # Right edge 5e-6 px short of column 5: within max(h, 1) * 1e-5 mm, so column 5 is in ...
    near = roi_mask("rectangle", [[1, 1], [4.999995, 1], [1, 3], [4.999995, 3]], 8, 8, 1.0, 1.0)
    assert {c for c, _ in cells(near)} == {1, 2, 3, 4, 5}
    # ... 1e-3 px short it is not.
    far = roi_mask("rectangle", [[1, 1], [4.999, 1], [1, 3], [4.999, 3]], 8, 8, 1.0, 1.0)
    assert {c for c, _ in cells(far)} == {1, 2, 3, 4}
    assert SHAPE_BOUNDARY_EPSILON == 1e-5


def test_rotated_rectangle_45_degrees():
    # A square rotated by 45 deg (a diamond) with corners on pixel centres; isotropic spacing.
    # tl=(5,2) tr=(8,5) bl=(2,5) br=(5,8): |dc| + |dr| <= 3 around (5,5) -> 1 + 3 + 5 + 7 + 5 + 3 + 1 = 25
    m = roi_mask("rectangle", [[5, 2], [8, 5], [2, 5], [5, 8]], 12, 12, 0.7, 0.7)
    assert cells(m) == {(c, r) for c in range(12) for r in range(12) if abs(c - 5) + abs(r - 5) <= 3}


def test_ellipse_handles_on_centres_include_the_four_tips():
    # centre (10,10), semi-axes 4 columns x 2 rows, isotropic
    m = roi_mask("ellipse", [[10, 12], [10, 8], [6, 10], [14, 10]], 20, 20, 1.0, 1.0)
    expect = {(c, r) for c in range(20) for r in range(20) if ((c - 10) / 4) ** 2 + ((r - 10) / 2) ** 2 <= 1}
    assert cells(m) == expect
    assert {(14, 10), (6, 10), (10, 12), (10, 8)} <= expect and (14, 11) not in expect


def test_anisotropic_spacing_circle_in_mm():
    # A circle of radius 3 mm on pixels 0.5 mm wide and 1.0 mm tall: 6 columns by 3 rows in pixel units.
    dx, dy = 0.5, 1.0
    c, r = 20, 10
    pts = [[c, r + 3], [c, r - 3], [c - 6, r], [c + 6, r]]  # bottom, top, left, right
    m = roi_mask("ellipse", pts, 24, 40, dy, dx)
    expect = {(i, j) for i in range(40) for j in range(24) if ((i - c) * dx) ** 2 + ((j - r) * dy) ** 2 <= 9}
    assert cells(m) == expect
    # a rotated rectangle in mm is a parallelogram in pixels; its handles are accepted as a rectangle
    th = math.radians(30)
    u, v = np.array([math.cos(th), math.sin(th)]), np.array([-math.sin(th), math.cos(th)])
    ctr = np.array([10.0, 10.0])
    corners_mm = [ctr - 4 * u - 2 * v, ctr + 4 * u - 2 * v, ctr - 4 * u + 2 * v, ctr + 4 * u + 2 * v]
    pts = [list(p / [dx, dy]) for p in corners_mm]
    m = roi_mask("rectangle", pts, 24, 40, dy, dx)
    for i in range(40):
        for j in range(24):
            d = np.array([i * dx, j * dy]) - ctr
            assert m[j, i] == (abs(d @ u) <= 4 + 4e-5 and abs(d @ v) <= 2 + 2e-5)
    # read with the wrong (isotropic) spacing, the same handles are a parallelogram, not a rectangle
    with pytest.raises(RoiGeometryError, match="do not form a rectangle"):
        roi_mask("rectangle", pts, 24, 40, 1.0, 1.0)


def test_polygon_triangle_includes_edge_centres():
    # c >= 0, r >= 0, c + r <= 10: 11 + 10 + ... + 1 = 66 pixels, the hypotenuse centres included
    m = roi_mask("polygon", [[0, 0], [10, 0], [0, 10]], 15, 15, 1.0, 1.0)
    assert cells(m) == {(c, r) for c in range(11) for r in range(11) if c + r <= 10}
    closed = roi_mask("polygon", [[0, 0], [10, 0], [0, 10], [0, 0]], 15, 15, 1.0, 1.0)
    assert np.array_equal(m, closed)


def test_polygon_concave_and_self_intersecting():
    # U shape: outer 1..9, notch cols 4..6 from row 1 to row 6 is open at the top
    u = [[1, 1], [3.5, 1], [3.5, 6.5], [6.5, 6.5], [6.5, 1], [9, 1], [9, 9], [1, 9]]
    m = roi_mask("polygon", u, 12, 12, 1.0, 1.0)
    assert not m[1:6, 4:7].any() and m[7:10, 4:7].all() and m[1:10, 1:4].all()
    # bow-tie: even-odd fills both lobes
    bow = [[0.5, 0.5], [8.5, 8.5], [8.5, 0.5], [0.5, 8.5]]
    m = roi_mask("polygon", bow, 10, 10, 1.0, 1.0)
    assert m[4, 1] and m[4, 7] and not m[1, 4] and not m[7, 4]


def test_polygon_edge_tolerance_is_absolute_epsilon_in_mm():
    # an edge 5e-6 mm to the left of column 4 still takes column 4; 1e-4 mm does not
    near = roi_mask("polygon", [[0, 0], [4 - 5e-6, 0], [4 - 5e-6, 3], [0, 3]], 6, 6, 1.0, 1.0)
    far = roi_mask("polygon", [[0, 0], [4 - 1e-4, 0], [4 - 1e-4, 3], [0, 3]], 6, 6, 1.0, 1.0)
    assert near[:, 4].sum() == 4 and far[:, 4].sum() == 0


def test_roi_partly_off_image_is_clipped():
    m = roi_mask("rectangle", [[-3, -3], [2, -3], [-3, 2], [2, 2]], 10, 10, 1.0, 1.0)
    assert cells(m) == {(c, r) for c in range(3) for r in range(3)}


def test_large_image_many_rois_use_the_bounding_box():
    # the result equals a full-image evaluation of the same rule (guards the bbox windowing)
    rows, cols, dy, dx = 512, 512, 0.78, 0.62
    jj, ii = np.mgrid[0:rows, 0:cols]
    x, y = ii * dx, jj * dy
    ctr, a, b = np.array([300 * dx, 200 * dy]), 20.0, 9.0
    m = roi_mask(
        "ellipse",
        [[300, 200 + b / dy], [300, 200 - b / dy], [300 - a / dx, 200], [300 + a / dx, 200]],
        rows,
        cols,
        dy,
        dx,
    )
    full = ((x - ctr[0]) / a) ** 2 + ((y - ctr[1]) / b) ** 2 <= 1 + 1e-5
    assert np.array_equal(m, full)


# ------------------------------------------------------------------------------------------------------------
# Geometry errors: every one clinician-readable
# ------------------------------------------------------------------------------------------------------------

RECT = [[2, 2], [6, 2], [2, 5], [6, 5]]
ELL = [[5, 7], [5, 3], [2, 5], [8, 5]]


@pytest.mark.parametrize(
    ("shape", "points", "message"),
    [
        ("circle", RECT, "Unknown ROI shape 'circle'; expected one of: rectangle, ellipse, polygon"),
        ("rectangle", RECT[:3], "A rectangle needs exactly 4 points, got 3"),
        ("ellipse", [*ELL, [1, 1]], "An ellipse needs exactly 4 points, got 5"),
        ("polygon", [[1, 1], [5, 5]], "A polygon needs at least 3 points, got 2"),
        ("polygon", [], "must be a list of \\[column, row\\] pairs"),
        ("rectangle", [[2, 2, 0], [6, 2, 0], [2, 5, 0], [6, 5, 0]], "must be a list of \\[column, row\\] pairs"),
        ("rectangle", [[2, 2], [6, 2], [2], [6, 5]], "\\[column, row\\]"),
        ("rectangle", [["a", 2], [6, 2], [2, 5], [6, 5]], "must be numbers"),
        ("rectangle", [[2, float("nan")], [6, 2], [2, 5], [6, 5]], "missing or infinite coordinate"),
        ("polygon", [[2, 2], [float("inf"), 2], [2, 5]], "missing or infinite coordinate"),
        ("rectangle", [[2, 2], [2, 2], [2, 5], [2, 5]], "zero width or height"),
        ("rectangle", [[2, 2], [6, 2], [2, 2], [6, 2]], "zero width or height"),
        ("ellipse", [[5, 5], [5, 5], [2, 5], [8, 5]], "zero radius"),
        ("ellipse", [[5, 7], [5, 3], [5, 5], [5, 5]], "zero radius"),
        ("polygon", [[1, 1], [3, 3], [5, 5], [7, 7]], "zero area"),
        ("polygon", [[4, 4], [4, 4], [4, 4]], "zero area"),
        ("rectangle", [[2, 2], [6, 2], [6, 5], [2, 5]], "do not form a rectangle in the order"),  # polygon order
        ("rectangle", [[2, 2], [6, 2], [3, 5], [7, 5]], "do not form a rectangle"),  # parallelogram
        ("ellipse", [[2, 5], [8, 5], [5, 7], [5, 3]], None),  # axes swapped: still an ellipse, accepted
        ("ellipse", [[5, 7], [5, 3], [3, 5], [8, 5]], "not the ends of two perpendicular axes"),  # 2 centres
        ("ellipse", [[5, 7], [5, 3], [2, 3], [8, 7]], "not the ends of two perpendicular axes"),  # not perpendicular
        ("rectangle", [[20, 2], [26, 2], [20, 5], [26, 5]], "entirely outside the image"),
        ("rectangle", [[-9, 2], [-2, 2], [-9, 5], [-2, 5]], "entirely outside the image"),
        ("ellipse", [[5, -3], [5, -7], [2, -5], [8, -5]], "entirely outside the image"),
        ("polygon", [[1, 12], [5, 12], [3, 15]], "entirely outside the image"),
        ("rectangle", [[2.2, 2.2], [2.8, 2.2], [2.2, 2.8], [2.8, 2.8]], "contains no pixel centres — draw it larger"),
        ("ellipse", [[3.5, 3.7], [3.5, 3.3], [3.3, 3.5], [3.7, 3.5]], "contains no pixel centres"),
        ("polygon", [[2.1, 2.1], [2.9, 2.1], [2.5, 2.9]], "contains no pixel centres"),
    ],
)
def test_bad_geometry_messages(shape, points, message):
    if message is None:
        assert roi_mask(shape, points, 10, 10, 1.0, 1.0).any()
        return
    with pytest.raises(RoiGeometryError, match=message):
        roi_mask(shape, points, 10, 10, 1.0, 1.0)


def test_geometry_error_is_a_value_error_and_allow_empty():
    assert issubclass(RoiGeometryError, ValueError) and issubclass(PixelError, ValueError)
    m = roi_mask("rectangle", [[2.2, 2.2], [2.8, 2.2], [2.2, 2.8], [2.8, 2.8]], 10, 10, 1.0, 1.0, allow_empty=True)
    assert m.shape == (10, 10) and not m.any()


@pytest.mark.parametrize(("rows", "cols", "dy", "dx"), [(0, 10, 1.0, 1.0), (10, 10, 0.0, 1.0), (10, 10, 1.0, -1)])
def test_bad_image_description_is_a_programming_error(rows, cols, dy, dx):
    with pytest.raises(ValueError):
        roi_mask("rectangle", RECT, rows, cols, dy, dx)


# ------------------------------------------------------------------------------------------------------------
# roi_stats and measure_roi
# ------------------------------------------------------------------------------------------------------------


def test_roi_stats_values():
    values = np.array([[1.0, 2.0, 3.0], [4.0, 10.0, 99.0]])
    mask = np.array([[True, True, True], [True, True, False]])
    s = roi_stats(values, mask, 0.8, 0.6)
    data = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert s == RoiStats(
        n=5,
        area_mm2=pytest.approx(5 * 0.48),
        mean=pytest.approx(4.0),
        median=3.0,
        sd=pytest.approx(statistics.stdev(data), abs=1e-12),  # sample SD, n - 1
        min=1.0,
        max=10.0,
    )
    assert s.sd != pytest.approx(statistics.pstdev(data))


def test_roi_stats_single_pixel_has_no_sd_and_empty_is_an_error():
    values = np.arange(4.0).reshape(2, 2)
    s = roi_stats(values, np.array([[False, True], [False, False]]), 1.0, 1.0)
    assert (s.n, s.sd, s.mean, s.median, s.min, s.max) == (1, None, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(RoiGeometryError, match="no pixel centres"):
        roi_stats(values, np.zeros((2, 2), bool), 1.0, 1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        roi_stats(values, np.zeros((3, 2), bool), 1.0, 1.0)


def test_measure_roi_from_dataset_and_from_path(tmp_path):
    a = ramp(20, 16)
    ds = make_ds(a, spacing=(0.8, 0.6))
    ds.RescaleSlope, ds.RescaleIntercept = 2, 1
    pts = [[2, 3], [6, 3], [2, 5], [6, 5]]
    expect = (a[3:6, 2:7] * 2 + 1).ravel()
    path = tmp_path / "m.dcm"
    ds.save_as(path, enforce_file_format=True)
    for src in (ds, path, str(path)):
        s = measure_roi(src, "rectangle", pts)
        assert s.n == 15 and s.area_mm2 == pytest.approx(15 * 0.48)
        assert s.mean == pytest.approx(expect.mean()) and s.median == pytest.approx(np.median(expect))
        assert s.sd == pytest.approx(expect.std(ddof=1)) and (s.min, s.max) == (expect.min(), expect.max())
