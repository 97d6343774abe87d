"""Scoring services against the database: idempotent, version-keyed, M-scores follow the controls."""

from __future__ import annotations

import numpy as np
import pytest

from scoring import services
from scoring.models import ReadScore, RoiScore
from studies.models import Roi
from tests import factories as f

pytestmark = pytest.mark.django_db


def _phantom(k, rows, cols):
    """Levels L1–L4 at 400, 420, 440, 460 (columns 0–39), CSF 100 (40–49), air: 0/2 checkerboard (50+)."""
    img = np.zeros((rows, cols), dtype=np.uint16)
    for i, value in enumerate((400, 420, 440, 460)):
        img[i * 15 : i * 15 + 14, 0:40] = value
    img[:, 40:50] = 100
    img[:, 50:] = (np.indices((rows, cols - 50)).sum(axis=0) % 2) * 2
    return img


def _read_with_rois(study, reader, code, control=False):
    case = f.make_case(study, code, value_fn=_phantom, is_control=control)
    read = f.make_read(case, reader)
    boxes = {
        "L1": (5, 2, 30, 10),
        "L2": (5, 17, 30, 25),
        "L3": (5, 32, 30, 40),
        "L4": (5, 47, 30, 55),
        "CSF": (42, 20, 47, 40),
        "NOISE": (55, 10, 75, 50),
    }
    for label, box in boxes.items():
        Roi.objects.create(read=read, **f.roi_payload(case, label, box=box))
    return read


def test_scores_are_exact_and_running_twice_changes_nothing():
    reader = f.make_user()
    study = f.make_study()
    read = _read_with_rois(study, reader, "P-001")
    services.study_rescore(study_id=study.pk)
    first = {s.roi_id: (s.n, s.mean, s.sd) for s in RoiScore.objects.all()}
    score = ReadScore.objects.get(read=read)
    assert score.vbq == pytest.approx(np.median([400, 420, 440, 460]) / 100, abs=1e-12)
    noise = RoiScore.objects.get(roi__label="NOISE")
    assert score.snr_levels["L1"] == pytest.approx(400 / noise.sd, abs=1e-9)
    assert score.snr == pytest.approx(np.mean([400, 420, 440, 460]) / noise.sd, abs=1e-9)
    services.study_rescore(study_id=study.pk, force=True)
    assert {s.roi_id: (s.n, s.mean, s.sd) for s in RoiScore.objects.all()} == first
    assert RoiScore.objects.count() == 6 and ReadScore.objects.count() == 1


def test_stale_job_never_overwrites_a_newer_version():
    reader = f.make_user()
    study = f.make_study()
    read = _read_with_rois(study, reader, "P-002")
    roi = read.rois.get(label="L1")
    services.study_rescore(study_id=study.pk)
    Roi.objects.filter(pk=roi.pk).update(
        version=2, points_px=f.roi_payload(read.case, box=(5, 17, 30, 25))["points_px"]
    )
    # A job computed from version 1 finishing late:
    assert services._roi_score_upsert(roi_id=roi.pk, version=1, values={"n": 1, "mean": -1.0}, error="") is None
    assert RoiScore.objects.get(roi=roi).roi_version == 1 and RoiScore.objects.get(roi=roi).mean == 400
    assert services.stale_roi_ids(study.pk) == [roi.pk]
    services.roi_score_compute(roi_id=roi.pk)
    assert RoiScore.objects.get(roi=roi).mean == 420 and not services.stale_roi_ids(study.pk)


def test_m_scores_follow_the_control_group():
    reader = f.make_user()
    study = f.make_study()
    patient = _read_with_rois(study, reader, "P-003")
    services.study_rescore(study_id=study.pk)
    assert "control" in ReadScore.objects.get(read=patient).m_score_reason
    controls = [_read_with_rois(study, reader, f"C-{i}", control=True) for i in range(3)]
    # Make the controls' SNR differ: scale their noise ROI differently.
    for i, read in enumerate(controls):
        Roi.objects.filter(read=read, label="NOISE").update(
            points_px=f.roi_payload(read.case, box=(55, 10, 60 + 5 * i, 50))["points_px"]
        )
    services.study_rescore(study_id=study.pk)
    snrs = [ReadScore.objects.get(read=r).snr for r in controls]
    expected = (ReadScore.objects.get(read=patient).snr - np.mean(snrs)) / np.std(snrs, ddof=1)
    assert ReadScore.objects.get(read=patient).m_score == pytest.approx(expected, abs=1e-9)
