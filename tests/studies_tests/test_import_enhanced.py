"""Importing enhanced (multi-frame) MR: one stored file, one slice per frame, as the single-frame series would be.

The files are our phantoms converted by highdicom's legacy conversion (tests.factories.enhanced_mr).
"""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pydicom
import pytest
from django.urls import reverse

from studies.dicom.frames import frame_uid
from studies.models import Case, Instance, Series
from studies.services.dicom_import import dicom_import_run
from studies.slices import ordered_instances, slice_refs
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def converted():
    return f.enhanced_mr()


@pytest.fixture(params=[0, 2], ids=["one-process", "two-workers"])
def processes(request, settings) -> int:
    settings.IMPORT_PROCESSES = request.param
    settings.IMPORT_PARALLEL_MIN_FILES = 1
    return request.param


def _write(folder: Path, name: str, ds) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(f.part10(ds))
    return path


def _stored(settings) -> list[Path]:
    return sorted(Path(settings.MEDIA_ROOT).rglob("*.dcm"))


@pytest.mark.parametrize("enhanced", [False, True], ids=["legacy-converted", "enhanced-mr"])
def test_an_enhanced_file_becomes_one_stored_file_and_a_slice_per_frame(tmp_path, settings, processes, enhanced):
    mf, singles, _ = f.enhanced_mr(enhanced=enhanced)
    study = f.make_study()
    _write(tmp_path / "in", "enhanced.dcm", mf)
    outcome = dicom_import_run(study=study, source=tmp_path / "in")
    assert (outcome.accepted, outcome.rejected) == (1, 0), outcome.report
    series = Series.objects.get()
    assert (series.orientation, series.weighting) == ("sagittal", "T1")
    rows = list(ordered_instances(series))
    assert len(rows) == len(singles) == 13
    assert len({r.file.name for r in rows}) == 1 and len(_stored(settings)) == 1
    stored = pydicom.dcmread(rows[0].file.path)
    assert stored.SOPClassUID == mf.SOPClassUID and int(stored.NumberOfFrames) == 13
    assert {r.frame_number for r in rows} == set(range(1, 14))
    assert all(r.sop_instance_uid == frame_uid(stored.SOPInstanceUID, r.frame_number) for r in rows)
    # the frames are ordered along the slice normal like the single-frame files
    positions = [r.slice_position for r in rows]
    assert positions == sorted(positions) and len(set(positions)) == 13
    for row in rows:
        item = stored.PerFrameFunctionalGroupsSequence[row.frame_number - 1]
        assert row.image_position == pytest.approx(
            [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
        )
    # the series picker takes the multi-frame sagittal T1 as it takes a single-frame one
    case = Case.objects.get()
    assert case.primary_series_id == series.pk and not case.series_to_confirm
    refs = slice_refs([r.sop_instance_uid for r in rows])
    assert [refs[r.sop_instance_uid].number for r in rows] == list(range(1, 14))


def test_the_enhanced_slices_match_the_single_frame_import(tmp_path):
    mf, singles, _ = f.enhanced_mr()
    single_study, multi_study = f.make_study(), f.make_study()
    for k, ds in enumerate(singles):
        _write(tmp_path / "single", f"IM{k:04d}.dcm", ds)
    _write(tmp_path / "multi", "enhanced.dcm", mf)
    dicom_import_run(study=single_study, source=tmp_path / "single")
    dicom_import_run(study=multi_study, source=tmp_path / "multi")
    one = list(ordered_instances(Series.objects.get(case__study=single_study)))
    multi = list(ordered_instances(Series.objects.get(case__study=multi_study)))
    assert [r.slice_position for r in one] == pytest.approx([r.slice_position for r in multi])
    assert [r.image_orientation for r in one] == [r.image_orientation for r in multi]


def test_a_second_import_of_the_same_file_changes_nothing(converted, tmp_path, settings):
    study = f.make_study()
    _write(tmp_path / "in", "enhanced.dcm", converted[0])
    dicom_import_run(study=study, source=tmp_path / "in")
    again = dicom_import_run(study=study, source=tmp_path / "in")
    assert [(r["outcome"], r["code"]) for r in again.report] == [("skipped", "already_imported")]
    assert Instance.objects.count() == 13 and len(_stored(settings)) == 1


def test_an_inconsistent_enhanced_file_is_rejected_with_its_reason_and_nothing_of_it_stored(
    converted, tmp_path, settings, processes
):
    """A frame without a position next to a good single-frame series: the good one is stored, the bad file only
    reported."""
    study = f.make_study()
    bad = copy.deepcopy(converted[0])
    del bad.PerFrameFunctionalGroupsSequence[6].PlanePositionSequence
    bad.PatientID = "OTHER-PATIENT"
    _write(tmp_path / "in", "bad_enhanced.dcm", bad)
    for k, ds in enumerate(converted[1]):
        _write(tmp_path / "in" / "singles", f"IM{k:04d}.dcm", ds)
    outcome = dicom_import_run(study=study, source=tmp_path / "in")
    rows = {r["file"]: r for r in outcome.report}
    assert rows["bad_enhanced.dcm"]["outcome"] == "rejected"
    assert rows["bad_enhanced.dcm"]["code"] == "inconsistent_frames"
    assert "frame 7 has no valid Image Position (Patient)" in rows["bad_enhanced.dcm"]["reason"]
    assert (outcome.accepted, outcome.rejected) == (13, 1)
    assert Series.objects.count() == 1 and Instance.objects.filter(frame_number__isnull=False).count() == 0
    assert len(_stored(settings)) == 13 and Case.objects.count() == 1


def test_the_viewer_payload_names_each_frame_of_the_shared_file(converted, tmp_path, client):
    pi = f.make_user()
    study = f.make_study(pi)
    _write(tmp_path / "in", "enhanced.dcm", converted[0])
    dicom_import_run(study=study, source=tmp_path / "in")
    series = Series.objects.get()
    client.force_login(pi)
    payload = client.get(reverse("series-detail", args=[series.pk])).json()
    instances = payload["instances"]
    assert [i["frame"] for i in instances] == [r.frame_number for r in ordered_instances(series)]
    assert [i["slice_number"] for i in instances] == list(range(1, 14))
    assert len({i["url"] for i in instances}) == 1  # one file, fetched once by the viewer
    body = b"".join(client.get(instances[0]["url"]).streaming_content)
    assert int(pydicom.dcmread(io.BytesIO(body)).NumberOfFrames) == 13


def test_replacing_subject_codes_rewrites_the_shared_file_once(
    converted, tmp_path, settings, django_capture_on_commit_callbacks
):
    from studies.services.subject_rekey import subject_codes_rekey

    study = f.make_study()
    _write(tmp_path / "in", "enhanced.dcm", converted[0])
    dicom_import_run(study=study, source=tmp_path / "in")
    with django_capture_on_commit_callbacks(execute=True):  # the old file is removed once the change is committed
        result = subject_codes_rekey(study=study, user=study.created_by)
    assert result.files == 1
    case = Case.objects.get()
    rows = list(Instance.objects.all())
    assert len(rows) == 13 and len({r.file.name for r in rows}) == 1 and len(_stored(settings)) == 1
    stored = pydicom.dcmread(rows[0].file.path)
    assert stored.PatientID == case.subject_code and rows[0].sha256 == rows[-1].sha256


def test_default_window_and_thumbnail_read_the_frames(converted, tmp_path):
    from studies.services.display_window import series_default_window
    from studies.services.thumbnails import series_thumbnail_png

    study = f.make_study()
    _write(tmp_path / "in", "enhanced.dcm", converted[0])
    for k, ds in enumerate(converted[1]):
        _write(tmp_path / "single", f"IM{k:04d}.dcm", ds)
    dicom_import_run(study=study, source=tmp_path / "in")
    other = f.make_study()
    dicom_import_run(study=other, source=tmp_path / "single")
    multi, single = Series.objects.get(case__study=study), Series.objects.get(case__study=other)
    window = series_default_window(multi)
    assert window is not None and window == series_default_window(single)  # the same voxels, the same window
    assert series_thumbnail_png(multi) == series_thumbnail_png(single)
