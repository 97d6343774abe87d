"""GDCM runs in a child process (#22): its abort rejects the file instead of killing the caller.

GDCM decodes only when no other plugin handles the transfer syntax. Here the JPEG 2000 decoder is left with one
plugin registered as "gdcm": one that calls ``os.abort()`` (what python-gdcm does on some corrupt streams), or
pylibjpeg's working decoder under that name. Outside worker processes — a small in-process import, the web, the
Celery worker scoring ROIs — the caller must survive and say why the file was refused.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from pydicom import dcmread, uid
from pydicom.pixels import get_decoder
from pydicom.pixels.decoders import pylibjpeg as pylibjpeg_plugin

from studies.dicom.pixels import PixelError, decode_pixels, load_pixels
from studies.dicom.validate import inspect_file
from tests.scoring_tests.test_transfer_syntaxes import UNSIGNED, compressed, phantom

TS = uid.JPEG2000Lossless


@pytest.fixture
def j2k_file(tmp_path):
    """A JPEG 2000 phantom slice with what an import needs (UIDs, patient, geometry)."""
    path = compressed(TS)(phantom(UNSIGNED), UNSIGNED, tmp_path)
    ds = dcmread(path)
    ds.PatientID, ds.PatientName = "GDCM01", "Gdcm^Patient"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uid.generate_uid(), uid.generate_uid()
    ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, 0], [0, 1, 0, 0, 0, -1]
    ds.SliceThickness, ds.InstanceNumber = 4, 1
    ds.save_as(path, enforce_file_format=True)
    return path


def _aborting(src, runner):
    os.abort()


def _only_gdcm(monkeypatch, plugin) -> None:
    monkeypatch.setattr(get_decoder(TS), "_available", {"gdcm": plugin})


def test_an_aborting_gdcm_rejects_the_slice_and_the_scoring_process_survives(monkeypatch, j2k_file):
    _only_gdcm(monkeypatch, _aborting)
    with pytest.raises(PixelError) as caught:
        load_pixels(j2k_file)
    assert "gdcm: the decoder crashed (its process ended by SIGABRT)" in str(caught.value)
    assert "JPEG 2000 decoder failed" in str(caught.value)


def test_an_aborting_gdcm_rejects_the_file_in_an_in_process_inspection(monkeypatch, j2k_file):
    _only_gdcm(monkeypatch, _aborting)
    result = inspect_file(str(j2k_file))
    assert not result.accepted
    assert "crashed" in result.reason and "SIGABRT" in result.reason, result.reason


def test_a_small_in_process_import_reports_the_file_and_goes_on(monkeypatch, j2k_file, settings, tmp_path, db):
    from studies.services.dicom_import import dicom_import_run
    from tests import factories as f

    settings.IMPORT_PROCESSES = 0  # everything in this process, as for imports of fewer than 64 files
    _only_gdcm(monkeypatch, _aborting)
    folder = tmp_path / "scan"
    folder.mkdir()
    (folder / "IM1.dcm").write_bytes(j2k_file.read_bytes())
    outcome = dicom_import_run(study=f.make_study(), source=folder)
    assert (outcome.accepted, outcome.rejected) == (0, 1)
    assert "SIGABRT" in outcome.report[0]["reason"]


def test_a_working_gdcm_decodes_in_the_child_and_the_array_is_kept(monkeypatch, j2k_file):
    parent = os.getpid()
    decoded_in: list[int] = []

    def working(src, runner):
        decoded_in.append(os.getpid())  # the child's copy of this list: the parent's stays empty
        return pylibjpeg_plugin._decode_frame(src, runner)

    _only_gdcm(monkeypatch, working)
    ds = dcmread(j2k_file)
    values = decode_pixels(ds)
    np.testing.assert_array_equal(values, phantom(UNSIGNED).astype(np.float64))
    assert decoded_in == [] and os.getpid() == parent  # decoded in the child only
    np.testing.assert_array_equal(ds.pixel_array, phantom(UNSIGNED))  # cached: not decoded again here
    assert decoded_in == []


def test_an_exception_in_the_child_is_reported_with_its_message(monkeypatch, j2k_file):
    def failing(src, runner):
        raise RuntimeError("corrupt codestream")

    _only_gdcm(monkeypatch, failing)
    with pytest.raises(PixelError, match="gdcm: RuntimeError: Unable to decode"):  # pydicom's wrapping
        load_pixels(j2k_file)


def test_a_hung_decoder_is_killed_and_the_slice_rejected(monkeypatch, j2k_file):
    import time

    from studies.dicom import guard

    def hanging(src, runner):
        time.sleep(3600)

    monkeypatch.setattr(guard, "ISOLATED_TIMEOUT_SECONDS", 0.5)
    _only_gdcm(monkeypatch, hanging)
    started = time.monotonic()
    with pytest.raises(PixelError, match=r"gdcm: the decoder did not answer within 0.5 s"):
        load_pixels(j2k_file)
    assert time.monotonic() - started < 5
