"""Reader side of issue #17 point 4: submitted reads open view-only from the worklist (blinding kept, writes
refused), and the study forms carry labels and help text a clinician understands."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from studies.forms import STUDY_HELP, STUDY_LABELS, MemberAddForm, StudyForm
from studies.models import Read, ReferenceRecord, Roi
from tests import factories as f

pytestmark = pytest.mark.django_db


def _api(client, method, url, data=None):
    return getattr(client, method)(
        url, data=json.dumps(data) if data is not None else None, content_type="application/json"
    )


def _submit(read: Read, when=None) -> None:
    Read.objects.filter(pk=read.pk).update(
        status=Read.Status.SUBMITTED, submitted_at=when or timezone.now(), started_at=timezone.now()
    )


def _viewer_cfg(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="viewer-config" type="application/json">') + len(
        '<script id="viewer-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_worklist_links_submitted_reads_view_only(world, client):
    case2 = f.make_case(world.study, "VBQ-002")
    open_read = f.make_read(case2, world.reader, order_index=1)
    _submit(world.read)
    client.force_login(world.reader)
    html = client.get(reverse("study-detail", args=[world.study.pk])).content.decode()
    view = f'<a href="{reverse("read-viewer", args=[world.read.pk])}" data-role="view-submitted"'
    assert view in html and ">View</a>" in html
    assert f'<a href="{reverse("read-viewer", args=[open_read.pk])}">Open</a>' in html  # the open one still "Open"
    assert "can be viewed but not changed" in html


def test_submitted_read_opens_view_only_without_scores(world, client):
    ReferenceRecord.objects.create(case=world.case, modality="QCT", t_score=-2.7, bmd=70.0, age=70, sex="F")
    _submit(world.read)
    client.force_login(world.reader)
    response = client.get(reverse("read-viewer", args=[world.read.pk]))
    assert response.status_code == 200
    cfg = _viewer_cfg(response)
    assert cfg["editable"] is False and cfg["status"] == "submitted"
    assert cfg["readOnlyMessage"].startswith("You submitted this read on ")
    assert "ask the PI to reopen it" in cfg["readOnlyMessage"]
    html = response.content.decode()
    assert "data-pi-score" not in html and "VBQ</dt>" not in html  # no scores for the reader (blinding)
    assert "-2.7" not in html and "QCT" not in html  # no reference data
    assert 'class="vw-submit-row" hidden' in html  # nothing to submit
    # The ROIs come from the same API as while reading: the study's setting decides what statistics are shown.
    rois = client.get(reverse("api-read-roi-list", args=[world.read.pk])).json()
    assert [r["label"] for r in rois] == ["L1"]
    assert all("mean" not in (r.get("stats") or {}) for r in rois)  # default "quality": no SI values


def test_server_refuses_every_write_to_a_submitted_read(world, client):
    _submit(world.read)
    client.force_login(world.reader)
    roi_url = reverse("api-read-roi-detail", args=[world.read.pk, world.roi.pk])
    before = Roi.objects.get(pk=world.roi.pk)
    answers = [
        _api(client, "post", reverse("api-read-roi-list", args=[world.read.pk]), f.roi_payload(world.case, "L2")),
        _api(client, "put", roi_url, f.roi_payload(world.case, "L1", box=(30, 30, 40, 40)) | {"version": 1}),
        _api(client, "delete", roi_url + "?version=1"),
        _api(client, "post", reverse("api-read-submit", args=[world.read.pk])),
    ]
    assert [a.status_code for a in answers] == [403] * 4, [a.content for a in answers]
    assert all("submitted" in a.json()["detail"] for a in answers)
    after = Roi.objects.get(pk=world.roi.pk)
    assert (after.points_px, after.version) == (before.points_px, before.version)
    assert Roi.objects.filter(read=world.read).count() == 1


def test_read_1_hidden_from_worklist_and_viewer_once_read_2_opens(world, client):
    _submit(world.read, when=timezone.now() - timedelta(days=30))
    read2 = f.make_read(world.case, world.reader, read_number=2)
    client.force_login(world.reader)
    html = client.get(reverse("study-detail", args=[world.study.pk])).content.decode()
    assert reverse("read-viewer", args=[world.read.pk]) not in html
    assert 'data-role="round-hidden"' in html and "Read 1 is complete" in html
    assert f'href="{reverse("read-viewer", args=[read2.pk])}"' in html
    assert client.get(reverse("read-viewer", args=[world.read.pk])).status_code == 403


def test_other_readers_submitted_read_is_not_shown(world, client):
    _submit(world.other_read)
    client.force_login(world.reader)
    assert client.get(reverse("read-viewer", args=[world.other_read.pk])).status_code == 404
    html = client.get(reverse("study-detail", args=[world.study.pk])).content.decode()
    assert reverse("read-viewer", args=[world.other_read.pk]) not in html


def test_every_study_setting_has_a_label_and_help_text():
    form = StudyForm()
    assert set(form.fields) == set(STUDY_LABELS) == set(STUDY_HELP)
    for name, field in form.fields.items():
        assert field.label == STUDY_LABELS[name] and field.help_text == STUDY_HELP[name]
        assert "mm2" not in field.label and " vbq" not in field.label, f"{name}: raw label {field.label!r}"
        assert len(field.help_text) > 20, f"{name}: no help text"
    assert form.fields["roi_area_min_mm2"].label == "Smallest expected ROI area (mm²)"
    assert form.fields["measure_vbq"].label == "Measure the VBQ score"
    for field in MemberAddForm().fields.values():
        assert field.label and field.help_text


def test_new_study_page_shows_the_labels_and_help(world, client):
    client.force_login(f.allow_study_creation(world.pi))
    html = client.get(reverse("study-create")).content.decode()
    assert "Measure vbq" not in html and "Roi area min mm2" not in html
    assert "Smallest expected ROI area (mm²)" in html and "Washout between reads (days)" in html
    assert 'class="helptext"' in html and "intra-reader agreement" in html
    settings_html = client.get(reverse("study-settings", args=[world.study.pk])).content.decode()
    assert "Fewest vertebrae for a VBQ" in settings_html
    study_html = client.get(reverse("study-detail", args=[world.study.pk])).content.decode()
    assert "Someone new: give their e-mail address" in study_html  # the add-member form
