"""Phantom MR slices in every transfer syntax: VBQ, SNR and M-score equal the known truth to 1e-9.

The phantom is a synthetic sagittal "spine": four vertebral blocks L1–L4 and a CSF strip of constant
intensity, and a background-noise patch holding a checkerboard ``base ± d``. The noise ROI covers an even
number of columns in every row, so it holds as many ``base + d`` as ``base - d`` pixels: its mean is ``base``
and its sample SD is exactly ``d * sqrt(n / (n - 1))``. Every ROI lies inside its constant region, so its
min and max equal the region's value. The truth below is derived from these definitions, not from the image.

Encoders: native syntaxes by pydicom; RLE, JPEG-LS (pyjpegls) and JPEG 2000 lossless (pylibjpeg-openjpeg)
by ``Dataset.compress``; JPEG lossless, JPEG baseline and a second JPEG-LS encoder by GDCM, run in a
subprocess so that a crash inside the C++ library cannot take the test session down with it.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset

from scoring.measures import ScoringSettings, score_read
from scoring.pixels import measure_roi, roi_stats
from studies.dicom.pixels import SliceCache, decode_pixels, load_pixels
from studies.roi_geometry import roi_mask

ROWS, COLS = 96, 80
ROW_SPACING, COL_SPACING = 0.8, 0.6  # anisotropic, as on many sagittal T1 series
# label -> ((row0, row1, col0, col1) inclusive, stored value)
REGIONS = {
    "L1": ((5, 19, 30, 55), 400),
    "L2": ((23, 37, 30, 55), 380),
    "L3": ((41, 55, 30, 55), 420),
    "L4": ((59, 73, 30, 55), 410),
    "CSF": ((5, 73, 60, 70), 150),
}
NOISE_REGION = (78, 93, 2, 25)
NOISE_D = 7
NOISE_N = 240  # the NOISE rectangle below: 20 columns x 12 rows of pixel centres
CONTROL_SNRS = (40.0, 45.5, 50.25, 43.0, 47.75)


def _rotated(shape: str, centre_px, half_u_mm: float, half_v_mm: float, degrees: float):
    """Cornerstone handles (pixel coords) of a rectangle / ellipse rotated in mm space."""
    th = math.radians(degrees)
    u, v = np.array([math.cos(th), math.sin(th)]), np.array([-math.sin(th), math.cos(th)])
    c = np.asarray(centre_px, float) * [COL_SPACING, ROW_SPACING]
    if shape == "rectangle":  # [tl, tr, bl, br]
        pts = [c - half_u_mm * u - half_v_mm * v, c + half_u_mm * u - half_v_mm * v]
        pts += [c - half_u_mm * u + half_v_mm * v, c + half_u_mm * u + half_v_mm * v]
    else:  # [bottom, top, left, right]
        pts = [c + half_v_mm * v, c - half_v_mm * v, c - half_u_mm * u, c + half_u_mm * u]
    return [list(p / [COL_SPACING, ROW_SPACING]) for p in pts]


ROIS = {
    "L1": ("rectangle", [[35, 8], [50, 8], [35, 16], [50, 16]]),
    "L2": ("ellipse", _rotated("ellipse", (42, 30), 5.0, 3.0, 30)),
    "L3": ("polygon", [[34, 44], [50, 43], [53, 50], [42, 54], [32, 51]]),
    "L4": ("rectangle", _rotated("rectangle", (42, 66), 5.0, 3.0, 20)),
    "CSF": ("ellipse", [[65, 60], [65, 40], [62, 50], [68, 50]]),
    "NOISE": ("rectangle", [[4, 80], [23, 80], [4, 91], [23, 91]]),
}


@dataclass(frozen=True)
class Variant:
    signed: bool = False
    rescale: tuple[float, float] | None = None  # (slope, intercept)
    bits: int = 16

    @property
    def noise_base(self) -> int:
        return 0 if self.signed else 20  # signed: the noise patch holds negative values

    @property
    def background(self) -> int:
        return -50 if self.signed else 30

    def real(self, stored: float) -> float:
        slope, intercept = self.rescale or (1.0, 0.0)
        return stored * slope + intercept


def phantom(v: Variant) -> np.ndarray:
    a = np.full((ROWS, COLS), v.background, dtype=np.int64)
    for (r0, r1, c0, c1), value in REGIONS.values():
        a[r0 : r1 + 1, c0 : c1 + 1] = value
    r0, r1, c0, c1 = NOISE_REGION
    rr, cc = np.mgrid[r0 : r1 + 1, c0 : c1 + 1]
    a[r0 : r1 + 1, c0 : c1 + 1] = v.noise_base + NOISE_D * np.where((rr + cc) % 2 == 0, 1, -1)
    if v.bits == 8:
        a = a // 2
    return a


def dataset(arr: np.ndarray, v: Variant) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = uid.MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    ds.SOPClassUID = uid.MRImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = v.bits
    ds.HighBit = v.bits - 1
    ds.PixelRepresentation = int(v.signed)
    ds.PixelSpacing = [ROW_SPACING, COL_SPACING]
    dtype = {(16, False): np.uint16, (16, True): np.int16, (8, False): np.uint8}[(v.bits, v.signed)]
    ds.PixelData = arr.astype(dtype).tobytes()
    return ds


def _add_rescale(ds: Dataset, v: Variant) -> None:
    if v.rescale:
        ds.RescaleSlope, ds.RescaleIntercept = v.rescale
        ds.RescaleType = "US"


# ------------------------------------------------------------------------------------------------------------
# Encoders: (arr, variant, tmp_path) -> path of a file in the target transfer syntax
# ------------------------------------------------------------------------------------------------------------


def native(ts):
    def encode(arr, v, tmp_path):
        ds = dataset(arr, v)
        _add_rescale(ds, v)
        ds.file_meta.TransferSyntaxUID = ts
        if ts == uid.ExplicitVRBigEndian:  # pydicom writes OW pixel bytes as given
            ds.PixelData = arr.astype(">i2" if v.signed else ">u2").tobytes()
        path = tmp_path / "slice.dcm"
        ds.save_as(path, enforce_file_format=True)
        return path

    return encode


def compressed(ts, plugin=""):
    def encode(arr, v, tmp_path):
        if plugin == "pyjpegls":
            pytest.importorskip("jpeg_ls", reason="pyjpegls (JPEG-LS encoder) is not installed")
        ds = dataset(arr, v)
        _add_rescale(ds, v)
        ds.compress(ts, ds.pixel_array, encoding_plugin=plugin)
        path = tmp_path / "slice.dcm"
        ds.save_as(path, enforce_file_format=True)
        return path

    return encode


GDCM_SCRIPT = """
import sys, gdcm
src, dst, ts, lossy = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
reader = gdcm.ImageReader(); reader.SetFileName(src)
assert reader.Read(), "gdcm could not read " + src
change = gdcm.ImageChangeTransferSyntax()
change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.GetTSType(ts)))
if lossy:
    codec = gdcm.JPEGCodec(); codec.SetLossless(False); codec.SetQuality(95)
    change.SetUserCodec(codec)
change.SetInput(reader.GetImage())
assert change.Change(), "gdcm could not transcode to " + ts
writer = gdcm.ImageWriter(); writer.SetFileName(dst); writer.SetFile(reader.GetFile())
writer.SetImage(change.GetOutput())
assert writer.Write(), "gdcm could not write " + dst
"""


def via_gdcm(ts, lossy=False):
    def encode(arr, v, tmp_path):
        pytest.importorskip("gdcm")
        src, dst = tmp_path / "plain.dcm", tmp_path / "gdcm.dcm"
        dataset(arr, v).save_as(src, enforce_file_format=True)
        proc = subprocess.run(
            [sys.executable, "-c", GDCM_SCRIPT, str(src), str(dst), str(ts), "1" if lossy else "0"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        # GDCM drops Rescale Slope/Intercept from MR images on rewrite: put them back with pydicom.
        ds = pydicom.dcmread(dst)
        _add_rescale(ds, v)
        path = tmp_path / "slice.dcm"
        ds.save_as(path, enforce_file_format=True)
        return path

    return encode


UNSIGNED = Variant()
SIGNED = Variant(signed=True)
RESCALED = Variant(rescale=(0.5, -10.0))
SIGNED_RESCALED = Variant(signed=True, rescale=(2.5, -100.0))

CASES = [
    ("explicit-le-unsigned", uid.ExplicitVRLittleEndian, UNSIGNED, native(uid.ExplicitVRLittleEndian)),
    ("explicit-le-signed", uid.ExplicitVRLittleEndian, SIGNED, native(uid.ExplicitVRLittleEndian)),
    ("explicit-le-rescale", uid.ExplicitVRLittleEndian, RESCALED, native(uid.ExplicitVRLittleEndian)),
    ("explicit-le-signed-rescale", uid.ExplicitVRLittleEndian, SIGNED_RESCALED, native(uid.ExplicitVRLittleEndian)),
    ("implicit-le", uid.ImplicitVRLittleEndian, RESCALED, native(uid.ImplicitVRLittleEndian)),
    ("explicit-be-signed", uid.ExplicitVRBigEndian, SIGNED, native(uid.ExplicitVRBigEndian)),
    ("deflated", uid.DeflatedExplicitVRLittleEndian, SIGNED_RESCALED, native(uid.DeflatedExplicitVRLittleEndian)),
    ("rle-unsigned", uid.RLELossless, UNSIGNED, compressed(uid.RLELossless)),
    ("rle-signed-rescale", uid.RLELossless, SIGNED_RESCALED, compressed(uid.RLELossless)),
    ("jpegls-unsigned", uid.JPEGLSLossless, UNSIGNED, compressed(uid.JPEGLSLossless, "pyjpegls")),
    ("jpegls-signed-rescale", uid.JPEGLSLossless, SIGNED_RESCALED, compressed(uid.JPEGLSLossless, "pyjpegls")),
    ("jpegls-gdcm-rescale", uid.JPEGLSLossless, RESCALED, via_gdcm(uid.JPEGLSLossless)),
    ("j2k-unsigned", uid.JPEG2000Lossless, UNSIGNED, compressed(uid.JPEG2000Lossless)),
    ("j2k-signed-rescale", uid.JPEG2000Lossless, SIGNED_RESCALED, compressed(uid.JPEG2000Lossless)),
    ("jpeg-lossless-sv1", uid.JPEGLosslessSV1, RESCALED, via_gdcm(uid.JPEGLosslessSV1)),
    ("jpeg-lossless-p14-signed", uid.JPEGLossless, SIGNED, via_gdcm(uid.JPEGLossless)),
]


@pytest.mark.parametrize(("ts", "variant", "encode"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_phantom_scores_equal_truth(tmp_path, ts, variant, encode):
    arr = phantom(variant)
    path = encode(arr, variant, tmp_path)
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == ts  # the syntax is really exercised

    # 1. decoding is lossless and the modality LUT is applied
    values = load_pixels(path, cache=SliceCache()).values
    assert values.dtype == np.float64 and values.shape == (ROWS, COLS)
    assert np.array_equal(values, [[variant.real(x) for x in row] for row in arr.tolist()])

    # 2. every ROI: constant regions give min == max == value; the noise ROI has the exact checkerboard stats
    stats = {label: measure_roi(path, shape, pts) for label, (shape, pts) in ROIS.items()}
    for label, (_, value) in REGIONS.items():
        s = stats[label]
        assert s.min == s.max == variant.real(value), label
        assert s.n > 20 and s.area_mm2 == pytest.approx(s.n * ROW_SPACING * COL_SPACING, rel=1e-12)
    slope = (variant.rescale or (1.0, 0.0))[0]
    noise_sd = abs(slope) * NOISE_D * math.sqrt(NOISE_N / (NOISE_N - 1))
    noise = stats["NOISE"]
    assert noise.n == NOISE_N
    assert noise.mean == pytest.approx(variant.real(variant.noise_base), abs=1e-9)
    assert noise.sd == pytest.approx(noise_sd, abs=1e-9)

    # 3. the scores equal the truth
    si = {lv: variant.real(REGIONS[lv][1]) for lv in ("L1", "L2", "L3", "L4")}
    csf = variant.real(REGIONS["CSF"][1])
    true_vbq = statistics.median(si.values()) / csf
    true_snr_levels = {lv: x / noise_sd for lv, x in si.items()}
    true_snr = statistics.fmean(true_snr_levels.values())
    true_m = (true_snr - statistics.fmean(CONTROL_SNRS)) / statistics.stdev(CONTROL_SNRS)

    scores = score_read(stats, ScoringSettings(control_snrs=CONTROL_SNRS))
    assert scores.vbq.value == pytest.approx(true_vbq, abs=1e-9)
    assert {lv: r.value for lv, r in scores.snr_levels.items()} == pytest.approx(true_snr_levels, abs=1e-9)
    assert scores.snr.value == pytest.approx(true_snr, abs=1e-9)
    assert scores.m_score.value == pytest.approx(true_m, abs=1e-9)
    median_scores = score_read(stats, ScoringSettings(statistic="median"))
    assert median_scores.vbq.value == pytest.approx(true_vbq, abs=1e-9)


def test_truth_is_not_trivial():
    # guard against a phantom in which a wrong implementation could still pass
    assert statistics.median([400, 380, 420, 410]) / 150 == pytest.approx(2.7)
    r = SIGNED_RESCALED
    assert r.real(REGIONS["CSF"][1]) == 275.0 and r.real(r.noise_base + NOISE_D) < 0  # negative real values
    assert (phantom(SIGNED) < 0).any()  # signed phantom really holds negative stored values
    # ROIs are rotated / anisotropic and avoid region edges by at least one pixel
    for label, (shape, pts) in ROIS.items():
        mask = roi_mask(shape, pts, ROWS, COLS, ROW_SPACING, COL_SPACING)
        r0, r1, c0, c1 = REGIONS[label][0] if label in REGIONS else NOISE_REGION
        rows, cols = np.nonzero(mask)
        assert rows.min() > r0 and rows.max() < r1 and cols.min() > c0 and cols.max() < c1, label


def test_jpeg_baseline_decodes(tmp_path):
    """JPEG baseline is lossy: only check that it decodes to a plausible image of the right size."""
    v = Variant(bits=8)
    arr = phantom(v)
    assert arr.min() >= 0 and arr.max() <= 255
    path = via_gdcm(uid.JPEGBaseline8Bit, lossy=True)(arr, v, tmp_path)
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == uid.JPEGBaseline8Bit
    values = decode_pixels(ds)
    assert values.dtype == np.float64 and values.shape == (ROWS, COLS)
    assert np.abs(values - arr).mean() < 2  # lossy, but close
    (_, l1_pts), (_, csf_pts) = ROIS["L1"], ROIS["CSF"]
    l1 = roi_stats(values, roi_mask("rectangle", l1_pts, ROWS, COLS, ROW_SPACING, COL_SPACING), 0.8, 0.6)
    csf = roi_stats(values, roi_mask("ellipse", csf_pts, ROWS, COLS, ROW_SPACING, COL_SPACING), 0.8, 0.6)
    assert l1.mean == pytest.approx(200, abs=2) and csf.mean == pytest.approx(75, abs=2)
