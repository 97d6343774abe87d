"""DICOM import fuzz suite (#22): mutated files in every decoded transfer syntax and malformed archives, through
the real import (worker processes), with a fixed seed.

Asserted: no exception escapes, every job ends "done" or "failed", no temporary folder or upload is left, every
file that is not accepted has a reason. The counts (files tried, accepted, rejected by reason) are printed (run
with ``-s``) and recorded in the README's import section.
"""

from __future__ import annotations

import io
import random
import struct
import tempfile
import zipfile
from collections import Counter

import pytest
from pydicom import uid

from studies.models import ImportJob
from studies.services.dicom_import import import_job_run, uploads_dir
from tests import factories as f
from tests.scoring_tests.test_transfer_syntaxes import (
    RESCALED,
    SIGNED,
    UNSIGNED,
    Variant,
    compressed,
    dataset,
    native,
    phantom,
    via_gdcm,
)

pytestmark = pytest.mark.django_db

SEED = 22
MUTANTS_PER_SYNTAX = 14
SYNTAXES = [
    ("explicit-le", uid.ExplicitVRLittleEndian, UNSIGNED, native(uid.ExplicitVRLittleEndian)),
    ("implicit-le", uid.ImplicitVRLittleEndian, RESCALED, native(uid.ImplicitVRLittleEndian)),
    ("explicit-be", uid.ExplicitVRBigEndian, SIGNED, native(uid.ExplicitVRBigEndian)),
    ("deflate", uid.DeflatedExplicitVRLittleEndian, UNSIGNED, native(uid.DeflatedExplicitVRLittleEndian)),
    ("rle", uid.RLELossless, UNSIGNED, compressed(uid.RLELossless)),
    ("jpeg-baseline", uid.JPEGBaseline8Bit, Variant(bits=8), via_gdcm(uid.JPEGBaseline8Bit, lossy=True)),
    ("jpeg-lossless", uid.JPEGLosslessSV1, RESCALED, via_gdcm(uid.JPEGLosslessSV1)),
    ("jpeg-ls", uid.JPEGLSLossless, UNSIGNED, compressed(uid.JPEGLSLossless, "pyjpegls")),
    ("jpeg-2000", uid.JPEG2000Lossless, UNSIGNED, compressed(uid.JPEG2000Lossless)),
]


def _importable(encode, number: int):
    """The phantom slice of ``encode`` with what an import needs (UIDs, patient, geometry)."""

    def make(arr, v, tmp_path):
        base = dataset  # the encoders call the module's dataset(): given these identifiers for the call

        def with_ids(arr_, v_):
            ds = base(arr_, v_)
            ds.PatientID, ds.PatientName = f"FUZZ{number:02d}", "Fuzz^Patient"
            ds.StudyInstanceUID = uid.generate_uid(entropy_srcs=["fuzz-study"])
            ds.SeriesInstanceUID = f"1.2.826.0.1.3680043.22.{number}2000000"  # one series per mutant (below)
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.22.{number}1000000"
            ds.ImagePositionPatient = [0, 0, 0]
            ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
            ds.SliceThickness = 4
            ds.InstanceNumber = 1
            return ds

        import tests.scoring_tests.test_transfer_syntaxes as ts_module

        original = ts_module.dataset
        ts_module.dataset = with_ids
        try:
            return encode(arr, v, tmp_path)
        finally:
            ts_module.dataset = original

    return make


def _pixel_offset(data: bytes) -> int:
    at = data.rfind(b"\xe0\x7f\x10\x00")
    return at if at > 0 else len(data) // 2


def _mutants(base: bytes, number: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """Truncations, bit flips in the header and in the pixel data, wrong element lengths; each with its own
    SOP Instance and Series UIDs (when they are not compressed away) so that accepted mutants are not all
    duplicates at one position."""
    pixels = _pixel_offset(base)
    out = []
    for i in range(MUTANTS_PER_SYNTAX):
        data = base.replace(f".{number}1000000".encode(), f".{number}1{i + 1:06d}".encode())
        data = bytearray(data.replace(f".{number}2000000".encode(), f".{number}2{i + 1:06d}".encode()))
        kind = ("truncate", "header-flip", "pixel-flip", "vr-length")[i % 4]
        if kind == "truncate":
            data = data[: rng.randrange(1, len(data))]
        elif kind == "header-flip":
            for _ in range(rng.randint(1, 4)):
                at = rng.randrange(128, max(pixels, 129))
                data[at] ^= 1 << rng.randrange(8)
        elif kind == "pixel-flip":
            for _ in range(rng.randint(1, 16)):
                at = rng.randrange(pixels, len(data))
                data[at] ^= 1 << rng.randrange(8)
        else:  # an explicit VR element's 16-bit length made wrong
            starts = [m for m in range(132, pixels - 8) if data[m + 4 : m + 6] in (b"DS", b"IS", b"UI", b"CS", b"LO")]
            if starts:
                at = rng.choice(starts)
                data[at + 6 : at + 8] = struct.pack("<H", rng.choice([0, 1, 0xFFFF, rng.randrange(2, 400)]))
            else:
                data = data[: len(data) - 3]
        out.append((f"{kind}-{i:02d}.dcm", bytes(data)))
    return out


@pytest.fixture
def private_tmp(tmp_path, monkeypatch, settings):
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    settings.UPLOAD_ROOT = tmp_path / "var" / "uploads"
    settings.IMPORT_PROCESSES, settings.IMPORT_PARALLEL_MIN_FILES = 2, 1
    return folder


def _run_upload(members: dict[str, bytes] | bytes) -> ImportJob:
    path = uploads_dir() / f"fuzz-{random.random():.12f}.zip"
    if isinstance(members, bytes):
        path.write_bytes(members)
    else:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    study = f.make_study()
    job = ImportJob.objects.create(study=study, created_by=study.created_by, source=str(path))
    import_job_run(job_id=job.pk)  # an exception escaping fails the test
    job.refresh_from_db()
    assert not path.exists(), "the upload was left behind"
    return job


def test_mutated_dicom_files_never_crash_or_hang_an_import(tmp_path, private_tmp):
    rng = random.Random(SEED)
    members: dict[str, bytes] = {}
    for number, (label, _ts, variant, encode) in enumerate(SYNTAXES, 1):
        work = tmp_path / label
        work.mkdir()
        base = _importable(encode, number)(phantom(variant), variant, work).read_bytes()
        members[f"{label}/0-original.dcm"] = base  # first: it wins any duplicate
        for name, data in _mutants(base, number, rng):
            members[f"{label}/{name}"] = data
    job = _run_upload(members)
    assert job.status == "done", job.error
    assert job.total == len(members) == len(job.report)
    assert not list(private_tmp.glob("vbq-import-*"))
    for row in job.report:
        assert row["outcome"] == "accepted" or row["reason"], row
    for row in job.report:  # every unmutated file is stored (GDCM's JPEG files included: empty IS elements)
        if row["file"].endswith("/0-original.dcm"):
            assert row["outcome"] == "accepted", row
    by_reason = Counter(row["code"] for row in job.report if row["outcome"] != "accepted")
    print(
        f"\nfuzz: {job.total} files tried, {job.accepted} accepted, {job.skipped} skipped, {job.rejected} rejected;"
        f" by reason: {dict(sorted(by_reason.items()))}"
    )


def _zip_bytes(members: dict[str, bytes], method=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _bad_crc() -> bytes:
    data = bytearray(_zip_bytes({"a.dcm": b"A" * 4000, "b.dcm": b"B" * 4000}))
    data[data.index(b"A" * 100) + 50] ^= 0xFF
    return bytes(data)


def _symlink() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.dcm")
        info.create_system, info.external_attr = 3, (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


ARCHIVES = {
    "bad-crc": (_bad_crc, "damaged"),
    "truncated": (lambda: _zip_bytes({"a.dcm": b"x" * 5000}, zipfile.ZIP_DEFLATED)[:-60], "not a valid zip"),
    "not-a-zip": (lambda: b"this is not a zip", "not a valid zip"),
    "traversal": (lambda: _zip_bytes({"ok.dcm": b"x", "../../evil.dcm": b"x"}), "unsafe path"),
    "absolute": (lambda: _zip_bytes({"ok.dcm": b"x", "/etc/evil.dcm": b"x"}), None),
    "symlink": (_symlink, "links are not accepted"),
    "empty": (lambda: _zip_bytes({}), "No files found"),
    "nested-zip": (lambda: _zip_bytes({"inner.zip": _zip_bytes({"a.dcm": b"x"})}), None),
    "file-and-folder": (lambda: _zip_bytes({"a": b"x", "a/b.dcm": b"x"}), "cannot be extracted"),
}


@pytest.mark.parametrize("kind", list(ARCHIVES))
def test_malformed_archives_end_the_job_with_a_reason(private_tmp, kind):
    make, message = ARCHIVES[kind]
    job = _run_upload(make())
    assert job.status in ("done", "failed")
    if message is not None:
        assert job.status == "failed" and message in job.error, job.error
    if job.status == "done":  # the archive was readable: every file it held is reported with a reason
        assert job.report and all(row["outcome"] == "accepted" or row["reason"] for row in job.report)
    assert not list(private_tmp.glob("vbq-import-*"))
