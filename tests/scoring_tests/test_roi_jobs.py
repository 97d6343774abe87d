"""Scoring after an ROI change (issue #20 point 2): the changed ROI only, its read, M-scores only when a control's
SNR changed; superseded versions dropped; results equal to a fresh computation (``scoring.audit``)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scoring import roi_jobs
from scoring.audit import study_scores_audit
from scoring.models import ReadScore, RoiScore
from studies.models import Roi
from studies.services import reading
from tests import factories as f
from tests.scoring_tests.test_rescore_events import BOXES, _phantom

pytestmark = pytest.mark.django_db


def _scored_read(study, reader, code: str, *, control: bool = False, shift: int = 0):
    """A read of a new phantom case with every ROI drawn; ``shift`` moves L1 down (a different level mean and SNR)."""
    case = f.make_case(study, code, value_fn=_phantom, is_control=control)
    read = f.make_read(case, reader)
    boxes = BOXES | {"L1": (5, 2 + shift, 30, 10)}
    rois = {
        label: reading.roi_create(read=read, user=reader, data=f.roi_payload(case, label, box=box))
        for label, box in boxes.items()
    }
    return read, rois


@pytest.fixture
def world(django_capture_on_commit_callbacks):
    """Three control subjects and two patients, each read once, every ROI scored through the events."""
    reader = f.make_user()
    study = f.make_study()
    f.add_member(study, reader)
    with django_capture_on_commit_callbacks(execute=True):
        controls = [_scored_read(study, reader, f"C-{i}", control=True, shift=i) for i in range(3)]
        patients = [_scored_read(study, reader, f"P-{i}", shift=2 + i) for i in range(2)]
    assert ReadScore.objects.filter(read__study=study, m_score__isnull=False).count() == 5
    return type("World", (), {"reader": reader, "study": study, "controls": controls, "patients": patients})


def _move(world, roi: Roi, *, box=None, index: int = 0) -> Roi:
    current = Roi.objects.get(pk=roi.pk)
    payload = f.roi_payload(Roi.objects.get(pk=roi.pk).read.case, roi.label, box=box or BOXES[roi.label], index=index)
    return reading.roi_update(roi=current, user=world.reader, data=payload, version=current.version)


def _stamps(study):
    return (
        dict(ReadScore.objects.filter(read__study=study).values_list("read_id", "computed_at")),
        dict(RoiScore.objects.filter(roi__read__study=study).values_list("roi_id", "computed_at")),
    )


def test_a_superseded_version_is_dropped_and_quick_moves_coalesce(world, django_capture_on_commit_callbacks):
    _read, rois = world.patients[0]
    l1 = rois["L1"]
    with django_capture_on_commit_callbacks(execute=False) as queued:
        for shift in range(1, 6):  # five quick moves, queued before the worker gets to any of them
            _move(world, l1, box=(5 + shift, 2, 30, 10))
    assert Roi.objects.get(pk=l1.pk).version == 6
    assert roi_jobs.roi_change_score(roi_id=l1.pk, version=3) is None  # version 3 finds 5 stored: nothing
    assert RoiScore.objects.get(roi=l1).roi_version == 1
    with CaptureQueriesContext(connection) as ctx:
        for callback in queued:
            callback()  # the five jobs, in order (tasks run in-process without a broker)
    writes = [
        q
        for q in ctx.captured_queries
        if q["sql"].startswith(('INSERT INTO "scoring_roiscore"', 'UPDATE "scoring_roiscore"'))
    ]
    assert len(writes) == 1  # one measurement, of the latest position
    assert RoiScore.objects.get(roi=l1).roi_version == 6
    assert study_scores_audit(study_id=world.study.pk).differences == []


def test_a_patient_move_rescores_that_roi_and_read_only(world, django_capture_on_commit_callbacks):
    read, rois = world.patients[0]
    reads_before, rois_before = _stamps(world.study)
    m_before = dict(ReadScore.objects.filter(read__study=world.study).values_list("read_id", "m_score"))
    with django_capture_on_commit_callbacks(execute=True):
        _move(world, rois["L2"], box=(6, 16, 29, 21))
    reads_after, rois_after = _stamps(world.study)
    assert [pk for pk in reads_after if reads_after[pk] != reads_before[pk]] == [read.pk]
    assert [pk for pk in rois_after if rois_after[pk] != rois_before[pk]] == [rois["L2"].pk]
    m_after = dict(ReadScore.objects.filter(read__study=world.study).values_list("read_id", "m_score"))
    assert m_after[read.pk] != m_before[read.pk]
    assert {k: v for k, v in m_after.items() if k != read.pk} == {k: v for k, v in m_before.items() if k != read.pk}
    assert study_scores_audit(study_id=world.study.pk).differences == []


def test_a_control_snr_change_refreshes_every_m_score(world, django_capture_on_commit_callbacks):
    _read, rois = world.controls[0]
    m_before = dict(ReadScore.objects.filter(read__study=world.study).values_list("read_id", "m_score"))
    with django_capture_on_commit_callbacks(execute=True):
        _move(world, rois["L1"], box=(6, 2, 20, 12))  # the level mean changes: the control's SNR changes
    m_after = dict(ReadScore.objects.filter(read__study=world.study).values_list("read_id", "m_score"))
    patients = [r.pk for r, _ in world.patients]
    assert all(m_after[pk] != m_before[pk] for pk in patients)
    assert study_scores_audit(study_id=world.study.pk).differences == []


def test_a_control_change_that_keeps_its_snr_leaves_the_other_m_scores(world, django_capture_on_commit_callbacks):
    read, rois = world.controls[0]
    snr_before = ReadScore.objects.get(read=read).snr
    reads_before, _ = _stamps(world.study)
    with django_capture_on_commit_callbacks(execute=True):
        _move(world, rois["CSF"], index=1)  # CSF on the next slice: VBQ changes, SNR (levels / noise) does not
    score = ReadScore.objects.get(read=read)
    assert score.snr == snr_before
    reads_after, _ = _stamps(world.study)
    assert [pk for pk in reads_after if reads_after[pk] != reads_before[pk]] == [read.pk]
    assert study_scores_audit(study_id=world.study.pk).differences == []


def test_a_deleted_roi_loses_its_statistics_and_the_sweep_drops_orphans(world, django_capture_on_commit_callbacks):
    _read, rois = world.patients[1]
    with django_capture_on_commit_callbacks(execute=True):
        reading.roi_delete(roi=rois["L4"], user=world.reader, version=1)
    assert not RoiScore.objects.filter(roi_id=rois["L4"].pk).exists()
    assert study_scores_audit(study_id=world.study.pk).differences == []
    other, other_rois = world.patients[0]
    ids = [roi.pk for roi in other_rois.values()]
    other.delete()  # an admin deletes a read: its ROIs go, their statistics stay until the sweep
    assert RoiScore.objects.filter(roi_id__in=ids).count() == len(ids) == 6
    assert roi_jobs.orphan_scores_delete() == 6
    assert not RoiScore.objects.filter(roi_id__in=ids).exists()
    assert roi_jobs.orphan_scores_delete() == 0


def test_the_job_for_a_move_costs_the_same_queries_for_a_bigger_study(world, django_capture_on_commit_callbacks):
    _read, rois = world.patients[0]

    def job_queries(shift: int) -> int:
        roi = _move(world, rois["L3"], box=(5 + shift, 32, 30, 40))
        with CaptureQueriesContext(connection) as ctx:
            roi_jobs.roi_change_score(roi_id=roi.pk, version=roi.version)
        return len(ctx.captured_queries)

    small = job_queries(1)
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(4):
            _scored_read(world.study, world.reader, f"P-more-{i}")
    assert job_queries(2) == small <= 14  # counted with the test transaction's SAVEPOINTs


def _many_scored_reads(study, n: int) -> None:
    """``n`` more scored patient reads of one case (one reader each), SNR 5-20: a big study's M-scores to refresh."""
    from django.contrib.auth import get_user_model

    from studies.models import Read

    user_model = get_user_model()
    users = user_model.objects.bulk_create([user_model(username=f"many-{study.pk}-{i}") for i in range(n)])
    case = f.make_case(study, f"P-many-{n}", value_fn=_phantom)
    reads = Read.objects.bulk_create([Read(study=study, case=case, reader=u, read_number=1) for u in users])
    ReadScore.objects.bulk_create(
        [ReadScore(read=r, inputs_digest="-", snr=5 + 15 * i / n) for i, r in enumerate(reads)]
    )


def test_a_control_move_costs_the_same_queries_for_a_bigger_study(world):
    """Every M-score of the study is refreshed in one statement, however many reads the study has."""
    _read, rois = world.controls[0]

    def job_queries(shift: int) -> int:
        roi = _move(world, rois["L1"], box=(6, 2 + shift, 20, 10 + shift))  # the level mean and the SNR change
        with CaptureQueriesContext(connection) as ctx:
            roi_jobs.roi_change_score(roi_id=roi.pk, version=roi.version)
        assert any('UPDATE "scoring_readscore" SET "m_score"' in q["sql"] for q in ctx.captured_queries)
        return len(ctx.captured_queries)

    small = job_queries(1)
    _many_scored_reads(world.study, 600)  # more than one batch of the former bulk_update (500)
    assert job_queries(2) == small <= 14  # counted with the test transaction's SAVEPOINTs


def test_refreshed_m_scores_are_exactly_the_formula(world):
    """The refresh stores bit for bit (SNR − mean of the controls) / their SD (n − 1) for every read."""
    import statistics

    from scoring.services import control_snrs, study_mscores_refresh

    _many_scored_reads(world.study, 50)
    _read, rois = world.controls[1]
    roi = _move(world, rois["L1"], box=(7, 3, 22, 12))
    roi_jobs.roi_change_score(roi_id=roi.pk, version=roi.version)
    controls = control_snrs(world.study)
    rows = ReadScore.objects.filter(read__study=world.study).values_list("snr", "m_score", "m_score_reason")
    assert len(rows) == 55
    mean, sd = statistics.fmean(controls), statistics.stdev(controls)
    assert all(snr is not None for snr, _, _ in rows)
    assert [(value, reason) for _, value, reason in rows] == [((snr - mean) / sd, "") for snr, _, _ in rows]
    assert study_mscores_refresh(study_id=world.study.pk) == 0  # nothing left to change
