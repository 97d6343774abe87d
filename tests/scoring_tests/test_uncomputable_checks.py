"""Issue #23: every condition that leaves a score uncomputable is a warning the reader sees before submit,
naming the ROI and what to do — through the checks API, within the study's ``reader_roi_stats`` (no SI values
unless "full")."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from scoring.models import ReadScore
from tests import factories as f

pytestmark = pytest.mark.django_db

FLAT = 777  # the flat block's value


def _scan(k, rows, cols):
    """Textured tissue (300–349), a flat block (rows/cols 0–19 = 777) and a zero-filled background (cols ≥ 60)."""
    r, c = np.mgrid[0:rows, 0:cols]
    values = 300 + (r * 7 + c * 13) % 50
    values[0:20, 0:20] = FLAT
    values[:, 60:] = 0
    return values


def _study(**settings):
    pi = f.make_user()
    study = f.make_study(pi, **settings)
    reader = f.make_user()
    f.add_member(study, reader)
    case = f.make_case(study, value_fn=_scan)
    return pi, reader, f.make_read(case, reader)


def _draw(read, boxes: dict, callbacks) -> None:
    with callbacks(execute=True):  # scoring's receivers measure the ROIs
        for label, box in boxes.items():
            shape = "ellipse" if label.startswith("L") else "rectangle"
            extra = {"csf_level": "L3"} if label == "CSF" else {}
            f.make_roi(read, **f.roi_payload(read.case, label, shape=shape, box=box), **extra)


def _checks(client, user, read) -> dict:
    client.force_login(user)
    response = client.get(reverse("api-read-checks", args=[read.pk]))
    assert response.status_code == 200, response.content
    return response.json()


BLANK = {  # L1 on the flat block, CSF and noise on the zero-filled background
    "L1": (2, 2, 16, 16),
    "L2": (22, 22, 36, 32),
    "L3": (22, 34, 36, 44),
    "L4": (40, 22, 54, 32),
    "CSF": (62, 10, 66, 16),
    "NOISE": (62, 30, 76, 50),
}


@pytest.mark.parametrize("shown", ["none", "quality", "full"])
def test_blank_background_flat_roi_and_csf_without_signal_are_warned(shown, client, django_capture_on_commit_callbacks):
    pi, reader, read = _study(reader_roi_stats=shown, measure_vbq=True, measure_snr=True, same_slice_required=True)
    _draw(read, BLANK, django_capture_on_commit_callbacks)
    score = ReadScore.objects.get(read=read)  # the server cannot compute either score
    assert score.vbq is None and "CSF" in score.vbq_reason
    assert score.snr is None and "noise" in score.snr_reason

    checks = _checks(client, reader, read)
    assert checks["problems"] == []  # warnings only: the reader can still submit
    text = "\n".join(checks["warnings"])
    noise = next(w for w in checks["warnings"] if w.startswith("The background-noise ROI"))
    assert "has no variation" in noise and "the background is blank in this series, so SNR cannot be computed" in noise
    assert "Move the ROI to an area with visible noise, or tell the PI." in noise
    csf = next(w for w in checks["warnings"] if w.startswith("The CSF ROI"))
    assert "has no signal" in csf and "VBQ cannot be computed" in csf and "Move the ROI into the CSF" in csf
    flat = next(w for w in checks["warnings"] if w.startswith("The L1 ROI"))
    assert "all its pixels are equal" in flat and "Check its position" in flat
    assert not any(w.startswith(("The L2", "The L3", "The L4")) for w in checks["warnings"])  # textured: fine
    if shown == "full":
        assert "(SD 0)" in noise and "(mean 0)" in csf and f"(all {FLAT})" in flat
    else:
        assert "SD 0" not in text and "mean 0" not in text and str(FLAT) not in text

    assert "(SD 0)" in "\n".join(_checks(client, pi, read)["warnings"])  # the PI sees the values
    client.force_login(reader)
    submitted = client.post(reverse("api-read-submit", args=[read.pk]))
    assert submitted.status_code == 200, submitted.content


def test_the_csf_check_uses_the_studys_statistic(client, django_capture_on_commit_callbacks):
    _pi, reader, read = _study(roi_statistic="median", reader_roi_stats="full")
    _draw(read, {"CSF": (62, 10, 66, 16)}, django_capture_on_commit_callbacks)
    csf = [w for w in _checks(client, reader, read)["warnings"] if w.startswith("The CSF ROI")]
    assert csf and "(median 0)" in csf[0] and "its median is 0 or below" in csf[0]


def test_a_single_pixel_noise_roi_is_warned(client, django_capture_on_commit_callbacks):
    _pi, reader, read = _study(measure_snr=True)
    _draw(read, {"NOISE": (70, 40, 70.4, 40.4)}, django_capture_on_commit_callbacks)
    warnings = _checks(client, reader, read)["warnings"]
    assert any(
        w.startswith("The background-noise ROI holds a single pixel") and "Draw it larger" in w for w in warnings
    )


@pytest.mark.parametrize("shown", ["none", "quality", "full"])
def test_too_few_levels_after_exclusions_is_a_warning_naming_them(shown, client, django_capture_on_commit_callbacks):
    _pi, reader, read = _study(reader_roi_stats=shown, min_levels_vbq=2, measure_vbq=True, measure_snr=True)
    _draw(
        read,
        {"L1": BLANK["L2"], "CSF": (40, 40, 46, 46), "NOISE": (62, 30, 76, 50)},
        django_capture_on_commit_callbacks,
    )
    with django_capture_on_commit_callbacks(execute=True):
        for label in ("L2", "L3", "L4"):
            f.make_roi(read, label=label, excluded=True, exclusion_reason="fracture")
    checks = _checks(client, reader, read)
    assert checks["problems"] == []
    few = [w for w in checks["warnings"] if w.startswith("Only 1 vertebral level can be measured")]
    assert len(few) == 1, checks
    assert "(L2, L3, L4 excluded)" in few[0] and "at least 2" in few[0] and "VBQ and SNR cannot be computed" in few[0]
    score = ReadScore.objects.get(read=read)
    assert score.vbq is None and "Too few vertebral levels" in score.vbq_reason


def test_the_study_minimum_decides(client, django_capture_on_commit_callbacks):
    _pi, reader, read = _study(min_levels_vbq=4, measure_vbq=True, measure_snr=False)
    with django_capture_on_commit_callbacks(execute=True):
        f.make_roi(read, label="L4", excluded=True, exclusion_reason="hardware")
    few = [w for w in _checks(client, reader, read)["warnings"] if w.startswith("Only 3 vertebral levels")]
    assert few and "at least 4" in few[0] and "so VBQ cannot be computed" in few[0]
    read.study.min_levels_vbq = 3
    read.study.save(update_fields=["min_levels_vbq"])
    assert not any(w.startswith("Only") for w in _checks(client, reader, read)["warnings"])


def test_an_roi_that_could_not_be_measured_is_warned(client, django_capture_on_commit_callbacks):
    from scoring.models import RoiScore

    _pi, reader, read = _study()
    _draw(read, {"L2": BLANK["L2"]}, django_capture_on_commit_callbacks)
    RoiScore.objects.filter(roi__read=read).update(error="The slice this ROI was drawn on is no longer stored.")
    warnings = _checks(client, reader, read)["warnings"]
    assert any(
        w.startswith("The L2 ROI could not be measured (The slice this ROI was drawn on is no longer stored)")
        for w in warnings
    ), warnings
