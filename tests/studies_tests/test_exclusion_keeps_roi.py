"""Excluding a level keeps its ROI (issue #18 point 4): the geometry stays, the scores leave the level out, and
undoing the exclusion brings the same ROI back with its statistics."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from studies.models import Read, Roi
from tests import factories as f

pytestmark = pytest.mark.django_db


def _api(client, method, url, data=None):
    return getattr(client, method)(
        url, data=json.dumps(data) if data is not None else None, content_type="application/json"
    )


def _body_and_air(k, rows, cols):
    """Bright 'body' left of column 55 (value 1000 + column), dark air (values 0–2) right of it."""
    import numpy as np

    img = 1000 + np.tile(np.arange(cols), (rows, 1))
    img[:, 55:] = np.indices((rows, cols - 55)).sum(axis=0) % 3
    return img


BOXES = {
    "L1": (10, 10, 20, 20),
    "L2": (25, 10, 35, 20),
    "L3": (40, 10, 50, 20),
    "L4": (44, 25, 54, 35),
    "CSF": (5, 30, 9, 40),
    "NOISE": (60, 40, 70, 50),
}


@pytest.fixture
def drawn(world, client, django_capture_on_commit_callbacks):
    """A read with all six ROIs drawn through the API, scored."""
    case = f.make_case(world.study, "VBQ-060", value_fn=_body_and_air)
    read = f.make_read(case, world.reader)
    client.force_login(world.reader)
    url = reverse("api-read-roi-list", args=[read.pk])
    with django_capture_on_commit_callbacks(execute=True):
        for label, box in BOXES.items():
            assert _api(client, "post", url, f.roi_payload(case, label, box=box)).status_code == 201
    return read


def test_excluding_a_drawn_level_keeps_its_roi_and_leaves_it_out_of_vbq(
    drawn, client, django_capture_on_commit_callbacks
):
    l4 = Roi.objects.get(read=drawn, label="L4")
    points, sop = l4.points_px, l4.sop_instance_uid
    all_levels = Read.objects.get(pk=drawn.pk).score.vbq
    url = reverse("api-read-roi-detail", args=[drawn.pk, l4.pk])
    body = {"label": "L4", "excluded": True, "exclusion_reason": "fracture", "version": l4.version}
    with django_capture_on_commit_callbacks(execute=True):
        response = _api(client, "put", url, body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["excluded"] and answer["score_status"] == "excluded"
    assert answer["points_px"] == points and answer["sop_instance_uid"] == sop and answer["shape"] == "rectangle"
    l4.refresh_from_db()
    assert l4.excluded and l4.points_px == points and l4.sop_instance_uid == sop

    # VBQ = median(SI of L1..L3) / SI_CSF: L4 (mean 1049 + …) is left out although its ROI is still there.
    read = Read.objects.select_related("score").get(pk=drawn.pk)
    means = {r.label: r.score.mean for r in Roi.objects.filter(read=read, excluded=False).select_related("score")}
    assert "L4" not in means
    assert read.score.vbq == pytest.approx(sorted([means["L1"], means["L2"], means["L3"]])[1] / means["CSF"])
    assert read.score.vbq != pytest.approx(all_levels)

    # Undo: the same ROI back, measured again, in the VBQ again.
    with django_capture_on_commit_callbacks(execute=True):
        back = _api(client, "put", url, {"excluded": False, "version": l4.version})
    assert back.status_code == 200, back.content
    l4.refresh_from_db()
    assert not l4.excluded and l4.points_px == points and l4.exclusion_reason == ""
    assert Read.objects.get(pk=drawn.pk).score.vbq == pytest.approx(all_levels)


def test_an_exclusion_sent_with_geometry_keeps_it_and_bad_geometry_is_refused(world, client):
    case = f.make_case(world.study, "VBQ-061")
    read = f.make_read(case, world.reader)
    client.force_login(world.reader)
    url = reverse("api-read-roi-list", args=[read.pk])
    excl = {"excluded": True, "exclusion_reason": "other", "exclusion_note": "metastasis"}
    # A level excluded before it was drawn has no geometry, as before.
    bare = _api(client, "post", url, {"label": "L3", **excl})
    assert bare.status_code == 201 and bare.json()["points_px"] == []
    # Drawn and excluded in one request (the viewer sends the ROI with the exclusion).
    kept = _api(client, "post", url, f.roi_payload(case, "L2", box=(25, 10, 35, 20)) | excl)
    assert kept.status_code == 201, kept.content
    assert kept.json()["points_px"] == [[25, 10], [35, 10], [25, 20], [35, 20]]
    # Geometry off the image is refused like for any ROI: nothing stored.
    off = _api(client, "post", url, f.roi_payload(case, "L4", box=(500, 500, 520, 520)) | excl)
    assert off.status_code == 400 and "off the image" in off.json()["detail"]
    assert not Roi.objects.filter(read=read, label="L4").exists()
