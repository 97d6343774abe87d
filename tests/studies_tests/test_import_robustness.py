"""Nothing a user sends can crash an import job, hang it or leave identified files behind (#22).

Decoders that panic (pylibjpeg-rle raises ``pyo3_runtime.PanicException``, a ``BaseException``) or abort the
process reject one file with a reason; the job goes on and ends "done" with the other files imported.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest
from pydicom import uid

from studies.demo.phantom.dicom import to_bytes
from studies.dicom import validate
from studies.dicom.pixels import PixelError, decode_pixels
from studies.dicom.validate import inspect_file
from studies.models import ImportJob, Instance
from studies.services.dicom_import import import_job_run
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
