"""Every change that can alter a read's score leads to a recomputed score (issue #24).

The invariant, kept by a property test: after any sequence of ROI creates, moves, deletes, exclusions,
re-inclusions, CSF level changes, scoring-setting changes and control-group changes, once the queue has
drained (tasks run in-process here), every stored ROI statistic, read score and M-score equals a fresh
computation from the current ROIs and settings (``scoring.audit``, which measures the pixels again).
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.audit import study_scores_audit
from scoring.models import ReadScore, RoiScore
from studies.models import Read, Roi
from studies.services import membership, reading
from studies.services.reference_csv import reference_import
from tests import factories as f

pytestmark = pytest.mark.django_db

LEVEL_VALUES = (400, 420, 440, 460)
BOXES = {
    "L1": (5, 2, 30, 10),
    "L2": (5, 17, 30, 25),
    "L3": (5, 32, 30, 40),
    "L4": (5, 47, 30, 55),
    "CSF": (42, 20, 47, 40),
    "NOISE": (55, 10, 75, 50),
}


def _phantom(k, rows, cols):
    """Levels L1–L4 at 400, 420, 440, 460 (+ a row ramp), CSF 100, air: a 0/2/4 pattern (SD > 0)."""
    img = np.zeros((rows, cols), dtype=np.uint16)
    for i, value in enumerate(LEVEL_VALUES):
        img[i * 15 : i * 15 + 14, 0:40] = value + np.arange(14)[:, None] + 3 * k
    img[:, 40:50] = 100 + k
    img[:, 50:] = (np.indices((rows, cols - 50)).sum(axis=0) % 3) * 2
    return img


def _api(client, method, url, data=None):
    return getattr(client, method)(url, data=json.dumps(data), content_type="application/json")


def test_excluding_a_scored_level_takes_it_out_of_vbq_and_snr(client, django_capture_on_commit_callbacks):
    """The issue's API sequence: exclude L1 of a scored read, then bring it back with new geometry."""
    reader = f.make_user()
    study = f.make_study()
    f.add_member(study, reader)
    case = f.make_case(study, "P-024", value_fn=_phantom)
    read = f.make_read(case, reader)
    client.force_login(reader)
    url = reverse("api-read-roi-list", args=[read.pk])
    with django_capture_on_commit_callbacks(execute=True):
        ids = {
            label: _api(client, "post", url, f.roi_payload(case, label, box=box)).json()["id"]
            for label, box in BOXES.items()
        }
    stats = {label: RoiScore.objects.get(roi_id=pk) for label, pk in ids.items()}
    four = np.median([stats[lv].mean for lv in ("L1", "L2", "L3", "L4")]) / stats["CSF"].mean
    score = ReadScore.objects.get(read=read)
    assert score.vbq == pytest.approx(four, rel=1e-12)
    assert set(score.snr_levels) == {"L1", "L2", "L3", "L4"}
    before = (score.inputs_digest, score.computed_at)

    detail = reverse("api-read-roi-detail", args=[read.pk, ids["L1"]])
    with django_capture_on_commit_callbacks(execute=True):
        response = _api(client, "patch", detail, {"version": 1, "excluded": True, "exclusion_reason": "fracture"})
    assert response.status_code == 200 and response.json()["version"] == 2
    score = ReadScore.objects.get(read=read)
    three = np.median([stats[lv].mean for lv in ("L2", "L3", "L4")]) / stats["CSF"].mean
    assert score.vbq == pytest.approx(three, rel=1e-12) and score.vbq != pytest.approx(four)
    assert set(score.snr_levels) == {"L2", "L3", "L4"}
    noise_sd = stats["NOISE"].sd
    assert score.snr == pytest.approx(np.mean([stats[lv].mean for lv in ("L2", "L3", "L4")]) / noise_sd, rel=1e-12)
    assert (score.inputs_digest, score.computed_at) != before
    assert not RoiScore.objects.filter(roi_id=ids["L1"]).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = _api(
            client,
            "patch",
            detail,
            {"version": 2, "excluded": False, **f.roi_payload(case, "L1", box=(6, 3, 29, 9))},
        )
    assert response.status_code == 200, response.content
    new_l1 = RoiScore.objects.get(roi_id=ids["L1"])
    score = ReadScore.objects.get(read=read)
    expected = np.median([new_l1.mean, *(stats[lv].mean for lv in ("L2", "L3", "L4"))]) / stats["CSF"].mean
    assert score.vbq == pytest.approx(expected, rel=1e-12)
    assert set(score.snr_levels) == {"L1", "L2", "L3", "L4"}
    assert study_scores_audit(study_id=study.pk).differences == []


def test_a_scoring_setting_change_rescores_every_read(django_capture_on_commit_callbacks):
    reader = f.make_user()
    study = f.make_study()
    case = f.make_case(study, "P-025", value_fn=_phantom)
    read = f.make_read(case, reader)
    with django_capture_on_commit_callbacks(execute=True):
        for label, box in BOXES.items():
            Roi.objects.create(read=read, **f.roi_payload(case, label, box=box))
        call_command("scoring_audit", study=str(study.pk), fix=True, stdout=io.StringIO())
    means = {s.roi.label: s for s in RoiScore.objects.filter(roi__read=read).select_related("roi")}
    with django_capture_on_commit_callbacks(execute=True):
        membership.study_update(study=study, user=study.created_by, roi_statistic="median")
    expected = np.median([means[lv].median for lv in ("L1", "L2", "L3", "L4")]) / means["CSF"].median
    assert ReadScore.objects.get(read=read).vbq == pytest.approx(expected, rel=1e-12)


def test_scoring_audit_reports_and_fixes_a_stale_score(django_capture_on_commit_callbacks):
    reader = f.make_user()
    study = f.make_study()
    case = f.make_case(study, "P-026", value_fn=_phantom)
    read = f.make_read(case, reader)
    with django_capture_on_commit_callbacks(execute=True):
        for label, box in BOXES.items():
            reading.roi_create(read=read, user=reader, data=f.roi_payload(case, label, box=box))
    ReadScore.objects.filter(read=read).update(vbq=1.0)  # what a missed event used to leave behind
    RoiScore.objects.filter(roi__read=read, roi__label="L2").update(mean=1.0)
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("scoring_audit", study=str(study.pk), stdout=out)
    assert exit_.value.code == 1
    assert "2 differences found" in out.getvalue() and "vbq stored 1.0" in out.getvalue()
    out = io.StringIO()
    call_command("scoring_audit", study=str(study.pk), fix=True, stdout=out)
    assert "2 differences fixed" in out.getvalue()
    out = io.StringIO()
    call_command("scoring_audit", study=str(study.pk), stdout=out)
    assert "0 differences found" in out.getvalue()


# ------------------------------------------------------------------------------------------------ property

LEVELS = ("L1", "L2", "L3", "L4")
box_shift = st.integers(min_value=-2, max_value=2)
operation = st.one_of(
    st.tuples(st.just("draw"), st.sampled_from(tuple(BOXES)), box_shift, st.integers(0, 2)),
    st.tuples(st.just("delete"), st.sampled_from(tuple(BOXES))),
    st.tuples(st.just("exclude"), st.sampled_from(LEVELS), st.sampled_from(("fracture", "hemangioma"))),
    st.tuples(st.just("csf_level"), st.sampled_from(("L3", "L2", "L1"))),
    st.tuples(st.just("setting"), st.sampled_from(("roi_statistic",)), st.sampled_from(("mean", "median"))),
    st.tuples(st.just("setting"), st.sampled_from(("noise_correction",)), st.sampled_from(("raw", "rayleigh"))),
    st.tuples(st.just("setting"), st.sampled_from(("min_levels_vbq",)), st.integers(1, 4)),
    st.tuples(st.just("controls"), st.sets(st.sampled_from(("C-1", "C-2", "P-1")))),
)


class _World:
    """A study with a patient and two candidate controls, each read once (fully drawn) by one reader."""

    def __init__(self) -> None:
        self.reader = f.make_user()
        self.study = f.make_study()
        f.add_member(self.study, self.reader)
        self.reads: dict[str, Read] = {}
        for code in ("P-1", "C-1", "C-2"):
            case = f.make_case(self.study, code, value_fn=_phantom, n_slices=2)
            read = f.make_read(case, self.reader)
            for label, box in BOXES.items():
                reading.roi_create(read=read, user=self.reader, data=f.roi_payload(case, label, box=box))
            self.reads[code] = read

    def apply(self, op: tuple, target: str) -> None:
        read = self.reads[target]
        rois = {r.label: r for r in Roi.objects.filter(read=read)}
        kind = op[0]
        if kind == "draw":
            _, label, shift, index = op
            c0, r0, c1, r1 = BOXES[label]
            data = f.roi_payload(read.case, label, box=(c0 + shift, r0, c1 + shift, r1), index=index % 2)
            if label in rois:
                roi = rois[label]
                reading.roi_update(roi=roi, user=self.reader, data={**data, "excluded": False}, version=roi.version)
            else:
                reading.roi_create(read=read, user=self.reader, data=data)
        elif kind == "delete" and op[1] in rois:
            roi = rois[op[1]]
            reading.roi_delete(roi=roi, user=self.reader, version=roi.version)
        elif kind == "exclude":
            data = {"label": op[1], "excluded": True, "exclusion_reason": op[2]}
            if op[1] in rois:
                roi = rois[op[1]]
                reading.roi_update(roi=roi, user=self.reader, data=data, version=roi.version)
            else:
                reading.roi_create(read=read, user=self.reader, data=data)
        elif kind == "csf_level" and "CSF" in rois:
            roi = rois["CSF"]
            reading.roi_update(roi=roi, user=self.reader, data={"csf_level": op[1]}, version=roi.version)
        elif kind == "setting":
            membership.study_update(study=self.study, user=self.study.created_by, **{op[1]: op[2]})
        elif kind == "controls":
            rows = "".join(f"{code},QCT,{'yes' if code in op[1] else 'no'}\n" for code in self.reads)
            reference_import(
                study=self.study, file_bytes_or_text="subject_code,reference_modality,control\n" + rows, user=None
            )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(operation, st.sampled_from(("P-1", "C-1", "C-2"))), min_size=1, max_size=8))
def test_stored_scores_always_equal_a_fresh_computation(steps, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        world = _World()
    for op, target in steps:
        world.study.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            world.apply(op, target)
    report = study_scores_audit(study_id=world.study.pk, pixels=True)
    assert [str(d) for d in report.differences] == []


def test_the_pi_read_view_shows_the_excluded_level_and_the_score_without_it(client, django_capture_on_commit_callbacks):
    reader = f.make_user()
    study = f.make_study()
    f.add_member(study, reader)
    case = f.make_case(study, "P-027", value_fn=_phantom)
    read = f.make_read(case, reader)
    with django_capture_on_commit_callbacks(execute=True):
        for label, box in BOXES.items():
            if label == "L1":
                data = {"label": "L1", "excluded": True, "exclusion_reason": "hemangioma"}
            else:
                data = f.roi_payload(case, label, box=box)
            reading.roi_create(read=read, user=reader, data=data)
    client.force_login(study.created_by)
    html = client.get(reverse("read-viewer", args=[read.pk])).content.decode()
    vbq = ReadScore.objects.get(read=read).vbq
    assert f"{vbq:.3f}" in html
    assert "from L2, L3, L4; left out: L1 (Hemangioma)" in html
    client.force_login(reader)
    assert "data-pi-score" not in client.get(reverse("read-viewer", args=[read.pk])).content.decode()


def test_scoring_audit_finds_nothing_to_fix_on_the_demo(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("demo", subjects=2, stdout=io.StringIO())
    out = io.StringIO()
    call_command("scoring_audit", stdout=out)  # exit status 0: no difference in any study
    lines = out.getvalue().splitlines()
    assert sum("0 differences found" in line for line in lines) == 2, out.getvalue()
