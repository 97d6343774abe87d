"""Nothing a user sends can crash an import job, hang it or leave identified files behind (#22).

Decoders that panic (pylibjpeg-rle raises ``pyo3_runtime.PanicException``, a ``BaseException``) or abort the
process reject one file with a reason; the job goes on and ends "done" with the other files imported.
"""

from __future__ import annotations

import copy
import io
import os
import shutil
import stat
import tempfile
import time
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from pydicom import uid

from studies import tasks
from studies.demo.phantom.dicom import to_bytes
from studies.dicom import validate
from studies.dicom.pixels import PixelError, decode_pixels
from studies.dicom.validate import inspect_file
from studies.models import ImportJob, Instance
from studies.services.dicom_import import import_job_run, uploads_dir
from studies.services.import_files import _safe_extract
from tests import factories as f

from .dicom_mutants import phantom_slices, rle_panic_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def panic_file():
    ds, _ = rle_panic_dataset(phantom_slices(0)[6])
    return ds, to_bytes(ds)


@pytest.fixture(scope="module")
def five_series(tmp_path_factory):
    """65 phantom slices (5 subjects x 13), one directory per subject."""
    root = tmp_path_factory.mktemp("five")
    for subject in range(5):
        out = root / f"S{subject}"
        out.mkdir()
        for i, ds in enumerate(phantom_slices(subject)):
            (out / f"IM{i:04d}.dcm").write_bytes(to_bytes(ds))
    return root


def _run(study, source: Path) -> ImportJob:
    job = ImportJob.objects.create(study=study, created_by=study.created_by, source=str(source))
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_a_panicking_rle_decoder_rejects_the_file_with_a_reason(panic_file):
    ds, data = panic_file
    result = inspect_file(data, name="bad.dcm")
    assert result.code == "corrupt_pixel_data"
    assert "compressed pixel data are corrupt (RLE decoder failed" in result.reason
    assert "PanicException" in result.reason
    with pytest.raises(PixelError, match=r"compressed pixel data are corrupt \(RLE decoder failed"):
        decode_pixels(copy.deepcopy(ds))  # the scoring path


@pytest.mark.parametrize("processes", [0, 2], ids=["in-process", "workers"])
def test_an_import_with_a_panicking_file_ends_done_with_the_others_imported(
    five_series, panic_file, tmp_path, settings, processes
):
    settings.IMPORT_PROCESSES = processes
    source = tmp_path / "upload"
    if processes:  # a large import (>= 64 files): worker processes
        shutil.copytree(five_series, source)
        good = 65 - 1
    else:  # a small one: in this process
        shutil.copytree(five_series / "S0", source / "S0")
        good = 13 - 1
    assert settings.IMPORT_PARALLEL_MIN_FILES == 64
    (source / "S0" / "IM0006.dcm").write_bytes(panic_file[1])  # replaces the slice it was made from
    job = _run(f.make_study(), source)
    assert job.status == "done", job.error
    assert job.accepted == good and Instance.objects.count() == good
    [bad] = [row for row in job.report if row["outcome"] == "rejected"]
    assert bad["file"] == "S0/IM0006.dcm" and bad["code"] == "corrupt_pixel_data"
    assert "RLE decoder failed" in bad["reason"]


@pytest.mark.parametrize("how", ["exit", "abort"])
def test_a_decoder_that_ends_the_worker_process_costs_only_its_file(five_series, tmp_path, settings, monkeypatch, how):
    """A decoder that aborts the process (as GDCM does on a corrupt JPEG 2000 stream): the worker dies, the
    file it was reading is rejected with a reason, a new worker goes on with the rest."""
    settings.IMPORT_PROCESSES = 2
    source = tmp_path / "upload"
    shutil.copytree(five_series, source)
    victim = phantom_slices(2)[4]
    victim.compress(uid.RLELossless, victim.pixel_array)  # compressed: inspection decodes it
    (source / "S2" / "IM0004.dcm").write_bytes(to_bytes(victim))
    target = str(victim.SOPInstanceUID)
    real = validate.decode_with_plugins

    def crashing(ds, decoder, ts):
        if str(ds.SOPInstanceUID) == target:
            os.abort() if how == "abort" else os._exit(3)
        return real(ds, decoder, ts)

    monkeypatch.setattr(validate, "decode_with_plugins", crashing)  # inherited by the forked workers
    job = _run(f.make_study(), source)
    assert job.status == "done", job.error
    assert job.accepted == 64 and Instance.objects.count() == 64
    [bad] = [row for row in job.report if row["outcome"] == "rejected"]
    assert bad["file"] == "S2/IM0004.dcm" and bad["code"] == "decoder_crashed"
    assert "stopped the process decoding it" in bad["reason"]
    assert ("SIGABRT" if how == "abort" else "exit code 3") in bad["reason"]


# --------------------------------------------------------------------------------------------------------------
# Uploads bounded
# --------------------------------------------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_a_zip_bomb_stops_at_the_ratio_limit_having_written_little(tmp_path):
    bomb = _zip(tmp_path / "bomb.zip", {"a.dcm": b"\0" * (8 * 1024 * 1024)})  # 8 MiB of zeros
    assert bomb.stat().st_size < 64 * 1024
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(ValidationError, match=r"compressed more than 200:1, which is how zip bombs look"):
        _safe_extract(bomb, target)
    assert _bytes_under(target) <= 2 * 1024 * 1024  # stopped early: at most the ratio-free size and one chunk


def test_a_zip_bomb_stops_at_the_size_limit(tmp_path, settings):
    settings.IMPORT_ZIP_MAX_RATIO = 10**6  # the total alone stops it
    settings.IMPORT_ZIP_MAX_BYTES = cap = 3 * 1024 * 1024
    bomb = _zip(tmp_path / "bomb.zip", {f"{i}.dcm": b"\0" * (2 * 1024 * 1024) for i in range(4)})
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(ValidationError, match=r"The archive expands to more than 3 MB"):
        _safe_extract(bomb, target)
    assert _bytes_under(target) <= cap


def test_an_archive_of_too_many_files_is_refused_before_extraction(tmp_path, settings):
    settings.IMPORT_ZIP_MAX_FILES = 3
    archive = _zip(tmp_path / "many.zip", {f"{i}.dcm": b"x" for i in range(4)})
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(ValidationError, match="more than 3 files"):
        _safe_extract(archive, target)
    assert not any(target.iterdir())


@pytest.mark.parametrize("size", [200 * 1024, 5 * 1024], ids=["announced", "streamed"])
@pytest.mark.parametrize("via", ["api", "page"])
def test_an_upload_over_the_limit_is_refused_before_it_is_stored(client, settings, tmp_path, size, via):
    settings.UPLOAD_ROOT = tmp_path / "var" / "uploads"
    settings.UPLOAD_MAX_BYTES = 1000
    pi = f.make_user()
    study = f.make_study(pi)
    client.force_login(pi)
    upload = io.BytesIO(b"PK" + b"\0" * size)
    upload.name = "export.zip"
    if via == "api":
        response = client.post(f"{reverse('api-import-list')}?study={study.pk}", {"file": upload})
        assert response.status_code == (413 if size > 64 * 1024 else 400), response.content
        assert "the largest upload accepted is 1000 bytes" in response.content.decode()
    else:
        response = client.post(reverse("study-imports", args=[study.pk]), {"file": upload}, follow=True)
        assert response.status_code in (413, 200)
        assert "the largest upload accepted is 1000 bytes" in response.content.decode()
    assert not ImportJob.objects.exists()
    assert not list((tmp_path / "var" / "uploads").glob("*"))


# --------------------------------------------------------------------------------------------------------------
# Nothing identified left behind
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Temporary folders of this test only (to look for /tmp/vbq-import-* leftovers); uploads under tmp_path."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _upload(settings, tmp_path, members: dict[str, bytes]) -> Path:
    settings.UPLOAD_ROOT = tmp_path / "var" / "uploads"
    return _zip(uploads_dir() / "upload.zip", members)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"a/IM1.dcm": b"DICM", "b/IM2.dcm": b"x", "../evil.dcm": b"x"}, "unsafe path"),
        ({"a/IM1.dcm": b"DICM", "b/bomb.dcm": b"\0" * (4 * 1024 * 1024)}, "how zip bombs look"),
        ({}, "No files found in the archive"),
    ],
    ids=["unsafe-entry-midway", "bomb-midway", "empty"],
)
def test_a_failed_extraction_leaves_no_temporary_folder_and_no_upload(
    tmp_path, settings, private_tmp, members, message
):
    upload = _upload(settings, tmp_path, members)
    job = _run(f.make_study(), upload)
    assert job.status == "failed" and message in job.error
    assert not list(private_tmp.glob("vbq-import-*"))
    assert not upload.exists()


def test_a_job_with_a_panicking_file_removes_its_temporary_folder_and_upload(
    tmp_path, settings, private_tmp, panic_file
):
    slices = phantom_slices(1)
    upload = _upload(settings, tmp_path, {f"IM{i}.dcm": to_bytes(ds) for i, ds in enumerate(slices[:3])})
    with zipfile.ZipFile(upload, "a") as zf:
        zf.writestr("IM9.dcm", panic_file[1])
    job = _run(f.make_study(), upload)
    assert job.status == "done" and job.accepted == 3 and job.rejected == 1
    assert not list(private_tmp.glob("vbq-import-*")) and not upload.exists()


def test_the_sweep_removes_old_leftovers_and_keeps_fresh_ones_and_active_uploads(tmp_path, settings, private_tmp):
    settings.UPLOAD_ROOT = tmp_path / "var" / "uploads"
    old = time.time() - 7 * 3600
    old_tmp, fresh_tmp = private_tmp / "vbq-import-old", private_tmp / "vbq-import-new"
    for folder in (old_tmp, fresh_tmp):
        (folder / "x").mkdir(parents=True)
        (folder / "x" / "IM1.dcm").write_bytes(b"identified")
    other = private_tmp / "someone-elses"
    other.mkdir()
    old_upload, fresh_upload, active_upload = (uploads_dir() / f"{n}.zip" for n in ("old", "new", "active"))
    for path in (old_upload, fresh_upload, active_upload):
        path.write_bytes(b"PK")
    study = f.make_study()
    ImportJob.objects.create(study=study, created_by=study.created_by, source=str(active_upload))
    for path in (old_tmp, other, old_upload, active_upload):
        os.utime(path, (old, old))
    removed = tasks.import_sweep()
    assert removed == {"requeued": [], "failed": [], "removed": 2}
    assert not old_tmp.exists() and not old_upload.exists()
    assert fresh_tmp.exists() and fresh_upload.exists() and active_upload.exists() and other.exists()
    assert "import-sweep" in settings.CELERY_BEAT_SCHEDULE


# --------------------------------------------------------------------------------------------------------------
# Messages that say what happened
# --------------------------------------------------------------------------------------------------------------


def test_an_unknown_vr_in_the_file_meta_is_a_corrupt_header():
    data = bytearray(to_bytes(phantom_slices(0)[0]))
    at = data.index(b"\x02\x00\x03\x00UI")
    data[at + 4 : at + 6] = b"ZZ"
    result = inspect_file(bytes(data), name="x.dcm")
    assert result.status == "rejected"
    assert result.reason.startswith("The file header is corrupt: unknown value representation 'ZZ'")


def _symlink_member(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("link", ["IM2.dcm", "linked-dir"], ids=["file", "directory"])
def test_a_link_in_an_archive_is_refused_with_a_reason(tmp_path, settings, private_tmp, link):
    upload = _upload(settings, tmp_path, {"a/IM1.dcm": b"x"})
    with zipfile.ZipFile(upload, "a") as zf:
        zf.writestr(_symlink_member(link, "/etc" if link == "linked-dir" else "/etc/passwd"), "/etc")
        if link == "linked-dir":
            zf.writestr("linked-dir/IM3.dcm", b"x")
    job = _run(f.make_study(), upload)
    assert job.status == "failed"
    assert "links are not accepted in an archive" in job.error
    assert not list(private_tmp.glob("vbq-import-*")) and not upload.exists()
