"""Files an import must turn away (and one good file with its duplicate), for validation tests (no Django)."""

from __future__ import annotations

import copy
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    MPEG4HP41,
    CTImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    MediaStorageDirectoryStorage,
    RLELossless,
)

from .cohort import PhantomSubject
from .dicom import to_bytes, uid
from .geometry import MID_SLICE
from .series import build_series


def example_subject() -> PhantomSubject:
    return PhantomSubject(
        subject_code="BAD-001",
        patient_id="PID0000001",
        patient_name="EXAMPLE^Erika",
        birth_date="19600101",
        study_date="20240108",
        cohort="VBQ",
        group="normal",
        reference_modality="QCT",
        t_score=0.0,
        bmd=146.7,
        z_score=None,
        tbs=None,
        age=64,
        sex="F",
        bmi=24.0,
        diabetes=False,
        hyperlipidemia=False,
        control=False,
        target_vbq=2.4,
        target_snr=None,
        csf_signal=400.0,
        noise_sigma=10.0,
        level_factors=(1.0, 1.04, 0.99, 1.01, 0.96, 1.0),
    )


def _png_bytes() -> bytes:
    """A small valid grey-scale PNG (what a screenshot upload looks like)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    width = height = 16
    raw = b"".join(b"\x00" + bytes((x * 16 + y) % 256 for x in range(width)) for y in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _derived(base: Dataset, tag: str) -> Dataset:
    """A copy of the good slice with a new SOP Instance UID (so only the intended defect differs)."""
    ds = copy.deepcopy(base)
    ds.SOPInstanceUID = uid("bad-file", tag)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _encapsulated(ds: Dataset, transfer_syntax: str, fragment: bytes) -> Dataset:
    from pydicom.encaps import encapsulate

    ds.PixelData = encapsulate([fragment])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    return ds


def make_bad_files(out_dir: Path) -> dict[str, str]:
    """Write files an import must turn away (plus one good file and its duplicate); return name → code.

    The codes are those of :mod:`studies.dicom.validate`; ``"accepted"`` marks the one good file.
    ``good_mr_copy.dcm`` repeats ``good_mr.dcm``'s SOP Instance UID: it is a ``duplicate_sop_instance`` when
    files are processed in name order (the first copy wins).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    datasets, _ = build_series(example_subject(), rng_seed=7)
    base = datasets[MID_SLICE]
    good = to_bytes(base)
    expected: dict[str, str] = {}

    def write(name: str, data: bytes, code: str) -> None:
        (out / name).write_bytes(data)
        expected[name] = code

    write("good_mr.dcm", good, "accepted")
    shutil.copyfile(out / "good_mr.dcm", out / "good_mr_copy.dcm")
    expected["good_mr_copy.dcm"] = "duplicate_sop_instance"
    write("empty.dcm", b"", "empty_file")
    write("notes.txt", b"Patient list for the MRI export\nVBQ-001 ok\nVBQ-002 ok\n" * 8, "not_dicom")
    write("screenshot.png", _png_bytes(), "not_dicom")
    write("truncated.dcm", good[: int(len(good) * 0.6)], "truncated")
    write("truncated_header.dcm", good[:700], "truncated")

    ds = _derived(base, "no-pixels")
    del ds.PixelData
    write("no_pixels.dcm", to_bytes(ds), "no_pixel_data")

    ds = _derived(base, "rgb")
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    grey = (np.frombuffer(base.PixelData, dtype=np.uint16) >> 4).astype(np.uint8)
    ds.PixelData = np.repeat(grey, 3).tobytes()
    ds["PixelData"].VR = "OB"
    write("rgb_screen_capture.dcm", to_bytes(ds), "unsupported_photometric")

    ds = _derived(base, "multiframe")
    ds.SOPClassUID = EnhancedMRImageStorage
    ds.file_meta.MediaStorageSOPClassUID = EnhancedMRImageStorage
    ds.NumberOfFrames = 3
    ds.PixelData = base.PixelData * 3
    write("enhanced_multiframe.dcm", to_bytes(ds), "inconsistent_frames")  # no functional groups place its frames

    ds = _derived(base, "ct")
    ds.SOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.Modality = "CT"
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    write("ct_slice.dcm", to_bytes(ds), "non_mr_modality")

    ds = _derived(base, "no-geometry")
    del ds.ImagePositionPatient
    del ds.PixelSpacing
    write("no_geometry.dcm", to_bytes(ds), "missing_geometry")

    ds = _derived(base, "no-uids")
    del ds.SeriesInstanceUID
    write("missing_series_uid.dcm", to_bytes(ds), "missing_uids")

    ds = _derived(base, "32-bit")
    ds.BitsAllocated = ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelData = np.frombuffer(base.PixelData, dtype=np.uint16).astype(np.uint32).tobytes()
    write("pixels_32bit.dcm", to_bytes(ds), "unsupported_pixel_format")

    # JPEG 2000 data labelled with a vendor-private transfer syntax (Philips private compression UID).
    ds = _derived(base, "private-ts")
    fragment = _j2k_fragment(base)
    _encapsulated(ds, "1.3.46.670589.33.1.4.1", fragment)
    data = to_bytes(ds, implicit_vr=False, little_endian=True)
    write("jpeg_private_transfer_syntax.dcm", data, "unknown_transfer_syntax")

    # A standard transfer syntax for which no decoder exists on the server (MPEG-4 video).
    ds = _derived(base, "mpeg4")
    _encapsulated(ds, MPEG4HP41, b"\x00\x00\x00\x01\x67\x64\x00\x29" + bytes(248))
    write("mpeg4_encoded.dcm", to_bytes(ds), "codec_missing")

    # JPEG 2000 whose code stream is garbage: a decoder exists but fails.
    ds = _derived(base, "corrupt-j2k")
    _encapsulated(ds, JPEG2000Lossless, b"\xff\x4f\xff\x51" + bytes(range(256)) * 4)
    write("corrupt_jpeg2000.dcm", to_bytes(ds), "corrupt_pixel_data")

    write("DICOMDIR", _dicomdir_bytes(), "dicomdir")
    return expected


def _j2k_fragment(base: Dataset) -> bytes:
    """JPEG 2000 code stream of the slice (or RLE data when no JPEG 2000 encoder is installed)."""
    from pydicom.encaps import generate_fragments

    ds = copy.deepcopy(base)

    try:
        ds.compress(JPEG2000Lossless)
    except Exception:
        ds.compress(RLELossless, encoding_plugin="pydicom")
    return b"".join(generate_fragments(ds.PixelData))


def _dicomdir_bytes() -> bytes:
    ds = Dataset()
    ds.FileSetID = "VBQEXPORT"
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.FileSetConsistencyFlag = 0
    ds.DirectoryRecordSequence = Sequence()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    meta.MediaStorageSOPInstanceUID = uid("dicomdir")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return to_bytes(ds)
