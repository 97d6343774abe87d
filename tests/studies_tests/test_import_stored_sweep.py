"""Stored files a killed import wrote and never recorded (#22): removed by the import sweep once older than
JOB_HEARTBEAT_TIMEOUT_SECONDS, never while an import of the study is live, never a file an image row names.
The real worker kill is in tests/integration/test_import_kill.py."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.utils import timezone

from studies import tasks
from studies.models import ImportJob, Instance
from studies.services.import_stored import orphan_candidate_studies, stored_orphans_sweep
from tests import factories as f

pytestmark = pytest.mark.django_db

BOUND = 300


@pytest.fixture(autouse=True)
def _bound(settings):
    settings.JOB_HEARTBEAT_TIMEOUT_SECONDS = BOUND


def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _orphan(settings, name: str, age: float) -> Path:
    path = Path(settings.MEDIA_ROOT) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"de-identified but never recorded")
    return _age(path, age)


def _killed_import(study, status=ImportJob.Status.DONE, requeues=1) -> ImportJob:
    """The job of an import whose first worker was killed: requeued by the job sweep, then ended."""
    return ImportJob.objects.create(
        study=study, source="/uploads/x.zip", status=status, requeues=requeues, finished_at=timezone.now()
    )


def _recorded(case) -> list[Path]:
    paths = sorted({Path(i.file.path) for i in Instance.objects.filter(series__case=case)})
    for path in paths:
        _age(path, 10 * BOUND)  # old, but named by a row: always kept
    return paths


def test_old_unrecorded_files_go_recorded_and_recent_ones_stay(settings, django_assert_max_num_queries):
    case = f.make_case(f.make_study(), "S001", n_slices=3)
    study = case.study
    recorded = _recorded(case)
    series_folder = recorded[0].parent.relative_to(settings.MEDIA_ROOT).as_posix()
    beside = _orphan(settings, f"{series_folder}/2.25.1.dcm", BOUND + 1)  # next to recorded files
    alone = [_orphan(settings, f"dicom/study-{study.pk}/S777/2.25.9/2.25.9.{k}.dcm", BOUND + 60) for k in range(4)]
    fresh = _orphan(settings, f"dicom/study-{study.pk}/S778/2.25.8/2.25.8.1.dcm", BOUND - 30)  # may be recorded soon
    _killed_import(study)
    # candidates; per study: the lock (in a savepoint here), live jobs, the known names — not per folder or file
    with django_assert_max_num_queries(6):
        removed = stored_orphans_sweep()
    media = Path(settings.MEDIA_ROOT)
    assert sorted(removed) == sorted(p.relative_to(media).as_posix() for p in [beside, *alone])
    assert not beside.exists() and not any(p.exists() for p in alone)
    assert all(p.exists() for p in recorded) and fresh.exists()
    assert not (media / f"dicom/study-{study.pk}/S777").exists()  # the emptied series and subject folders go
    assert Instance.objects.filter(series__case=case).count() == 3


def test_nothing_of_a_study_with_a_live_import_is_removed(settings):
    study = f.make_study()
    orphan = _orphan(settings, f"dicom/study-{study.pk}/S001/2.25.1/2.25.1.1.dcm", 10 * BOUND)
    _killed_import(study)
    for status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):  # e.g. the killed job's re-run
        live = ImportJob.objects.create(study=study, source="/uploads/y.zip", status=status)
        assert orphan_candidate_studies() == []
        assert stored_orphans_sweep(studies=[study.pk]) == [] and orphan.exists()
        live.delete()
    assert stored_orphans_sweep() == [f"dicom/study-{study.pk}/S001/2.25.1/2.25.1.1.dcm"]


def test_only_studies_where_a_process_may_have_died_are_looked_at(settings):
    quiet, failed, normal, old_news = (f.make_study() for _ in range(4))
    for study in (quiet, failed, normal, old_news):
        _orphan(settings, f"dicom/study-{study.pk}/S001/2.25.1/2.25.1.1.dcm", 10 * BOUND)
    _killed_import(failed, status=ImportJob.Status.FAILED, requeues=0)  # the job sweep gave up on it
    _killed_import(normal, requeues=0)  # ended normally: its process removed what it did not record
    ended_long_ago = _killed_import(old_news)
    ImportJob.objects.filter(pk=ended_long_ago.pk).update(
        finished_at=timezone.now() - timezone.timedelta(seconds=settings.IMPORT_ORPHAN_MAX_AGE_SECONDS + 60)
    )
    assert orphan_candidate_studies() == [failed.pk]
    assert tasks.import_sweep()["removed"] == 1  # the beat task runs it after the job sweep
    assert not (Path(settings.MEDIA_ROOT) / f"dicom/study-{failed.pk}/S001").exists()
    # any study can be swept on purpose
    assert stored_orphans_sweep(studies=[quiet.pk]) == [f"dicom/study-{quiet.pk}/S001/2.25.1/2.25.1.1.dcm"]


def test_a_frame_file_shared_by_many_rows_is_kept(settings, tmp_path):
    from studies.services.dicom_import import dicom_import_run

    study = f.make_study()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "enhanced.dcm").write_bytes(f.part10(f.enhanced_mr()[0]))
    dicom_import_run(study=study, source=tmp_path / "in")
    stored = {Path(i.file.path) for i in Instance.objects.filter(series__case__study=study)}
    assert len(stored) == 1
    _age(next(iter(stored)), 10 * BOUND)
    _killed_import(study)
    assert stored_orphans_sweep() == [] and next(iter(stored)).exists()
