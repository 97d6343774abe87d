"""Reading through the API: ROI autosave with optimistic concurrency, blinding, submit, worklists."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from studies.models import AuditEvent, Read, ReferenceRecord, Roi
from studies.services.reading import reading_plan_build, worklist_order
from tests import factories as f

pytestmark = pytest.mark.django_db

REFERENCE_FIELDS = ("t_score", "bmd", "z_score", "tbs", "is_control", "reference", "group", "modality")


def _api(client, method, url, data=None):
    return getattr(client, method)(
        url, data=json.dumps(data) if data is not None else None, content_type="application/json"
    )


@pytest.fixture
def setup(world, django_capture_on_commit_callbacks):
    ReferenceRecord.objects.create(case=world.case, modality="QCT", t_score=-2.7, bmd=70.0, age=70, sex="F")
    return world


def test_roi_create_returns_server_statistics(setup, client, django_capture_on_commit_callbacks):
    setup.study.reader_roi_stats = "full"  # readers see SI values only when the PI chose it (blinding)
    setup.study.save(update_fields=["reader_roi_stats"])
    client.force_login(setup.reader)
    url = reverse("api-read-roi-list", args=[setup.read.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = _api(client, "post", url, f.roi_payload(setup.case, "L2", box=(10, 10, 20, 20)))
    assert response.status_code == 201, response.content
    body = client.get(reverse("api-read-roi-detail", args=[setup.read.pk, response.json()["id"]])).json()
    assert body["score_status"] == "scored"
    assert body["stats"]["n"] == 121
    assert body["stats"]["mean"] == pytest.approx(100 + 15)  # pixel value = 100 + column on slice 0
    assert body["stats"]["area_mm2"] == pytest.approx(121 * 0.8 * 0.6)


def test_stale_edit_gets_409_with_the_current_roi(setup, client):
    client.force_login(setup.reader)
    url = reverse("api-read-roi-detail", args=[setup.read.pk, setup.roi.pk])
    payload = f.roi_payload(setup.case, "L1", box=(12, 12, 22, 22)) | {"version": setup.roi.version}
    first = _api(client, "put", url, payload)
    assert first.status_code == 200 and first.json()["version"] == setup.roi.version + 1
    stale = _api(client, "put", url, f.roi_payload(setup.case, "L1", box=(30, 30, 40, 40)) | {"version": 1})
    assert stale.status_code == 409
    assert stale.json()["current"]["points_px"] == [[12, 12], [22, 12], [12, 22], [22, 22]]
    assert Roi.objects.get(pk=setup.roi.pk).points_px[0] == [12, 12]  # not overwritten
    assert _api(client, "delete", url + "?version=1").status_code == 409
    assert AuditEvent.objects.filter(action="roi.update", object_id=str(setup.roi.pk)).count() == 1


def test_bad_geometry_is_400_and_stores_nothing(setup, client):
    client.force_login(setup.reader)
    url = reverse("api-read-roi-list", args=[setup.read.pk])
    cases = [
        f.roi_payload(setup.case, "L2", box=(500, 500, 520, 520)),  # off the image
        f.roi_payload(setup.case, "L2", box=(10, 10, 10, 20)),  # zero width
        f.roi_payload(setup.case, "L2") | {"points_px": [[1, 2]]},
        f.roi_payload(setup.case, "L2") | {"points_px": "nonsense"},
        f.roi_payload(setup.case, "L2") | {"sop_instance_uid": "1.2.3"},
        f.roi_payload(setup.case, "XX"),
        f.roi_payload(setup.case, "L2") | {"shape": "star"},
        {"label": "CSF", "excluded": True, "exclusion_reason": "fracture"},
        {"label": "L2", "excluded": True, "exclusion_reason": "bad luck"},
    ]
    for payload in cases:
        response = _api(client, "post", url, payload)
        assert response.status_code == 400, (payload, response.content)
        assert response.json()["detail"]
    assert Roi.objects.filter(read=setup.read).count() == 1


def _body_and_air(k, rows, cols):
    """Bright 'body' left of column 55, dark air (values 0–2) right of it."""
    import numpy as np

    img = 1000 + np.tile(np.arange(cols), (rows, 1))
    img[:, 55:] = np.indices((rows, cols - 55)).sum(axis=0) % 3
    return img


def test_exclusion_and_submit(setup, client, django_capture_on_commit_callbacks):
    case = f.make_case(setup.study, "VBQ-050", value_fn=_body_and_air)
    read = f.make_read(case, setup.reader)
    client.force_login(setup.reader)
    url = reverse("api-read-roi-list", args=[read.pk])
    submit = reverse("api-read-submit", args=[read.pk])
    missing = _api(client, "post", submit)
    assert missing.status_code == 400 and len(missing.json()["errors"]) == 6
    with django_capture_on_commit_callbacks(execute=True):
        for label, box in (
            ("L1", (10, 10, 20, 20)),
            ("L2", (25, 10, 35, 20)),
            ("L3", (40, 10, 50, 20)),
            ("CSF", (5, 30, 9, 40)),
            ("NOISE", (60, 40, 70, 50)),
        ):
            assert _api(client, "post", url, f.roi_payload(case, label, box=box)).status_code == 201
        excl = _api(client, "post", url, {"label": "L4", "excluded": True, "exclusion_reason": "fracture"})
    assert excl.status_code == 201 and excl.json()["score_status"] == "excluded"
    response = _api(client, "post", submit)
    assert response.status_code == 200, response.content
    read = Read.objects.get(pk=read.pk)
    assert read.status == "submitted" and read.submitted_at is not None
    assert read.score.vbq is not None and read.score.snr is not None
    # closed: no more edits
    again = _api(client, "post", url, f.roi_payload(case, "L4"))
    assert again.status_code == 403


def test_reader_responses_never_contain_reference_data_or_other_reads(setup, client):
    client.force_login(setup.reader)
    urls = [
        reverse("api-study-list"),
        reverse("api-study-detail", args=[setup.study.pk]),
        reverse("api-read-list"),
        reverse("api-read-detail", args=[setup.read.pk]),
        reverse("api-read-roi-list", args=[setup.read.pk]),
        reverse("api-read-checks", args=[setup.read.pk]),
        reverse("read-viewer", args=[setup.read.pk]),
        reverse("study-detail", args=[setup.study.pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        for field in REFERENCE_FIELDS:
            assert f'"{field}":' not in text, (url, field)  # as a JSON key (API or the page's config)
        assert "-2.7" not in text and "randomisation_seed" not in text
        assert '"vbq"' not in text and '"m_score"' not in text  # no scores for readers (bias)
        assert f"/api/reads/{setup.other_read.pk}/" not in text
    reads = client.get(reverse("api-read-list")).json()
    assert {r["id"] for r in reads} == {setup.read.pk}
    assert client.get(reverse("api-read-roi-list", args=[setup.other_read.pk])).status_code == 404


def test_reader_never_sees_own_other_read_of_the_same_case(setup, client):
    """Read 2 is invisible until it opens; once open, read 1 of that case is hidden."""
    read2 = f.make_read(setup.case, setup.reader, read_number=2)
    client.force_login(setup.reader)
    assert client.get(reverse("api-read-roi-list", args=[read2.pk])).status_code == 403
    assert {r["id"] for r in client.get(reverse("api-read-list")).json()} == {setup.read.pk}
    Read.objects.filter(pk=setup.read.pk).update(status="submitted", submitted_at=timezone.now() - timedelta(days=30))
    assert {r["id"] for r in client.get(reverse("api-read-list")).json()} == {read2.pk}
    assert client.get(reverse("api-read-roi-list", args=[setup.read.pk])).status_code == 403
    assert client.get(reverse("api-read-roi-list", args=[read2.pk])).json() == []


def test_washout_keeps_read_2_closed(setup, client):
    read2 = f.make_read(setup.case, setup.reader, read_number=2)
    Read.objects.filter(pk=setup.read.pk).update(status="submitted", submitted_at=timezone.now())
    client.force_login(setup.reader)
    assert client.get(reverse("api-read-detail", args=[read2.pk])).status_code == 403
    page = client.get(reverse("study-detail", args=[setup.study.pk])).content.decode()
    assert "washout" in page


def test_worklist_order_is_reproducible_and_differs_between_reads():
    codes = [f"VBQ-{i:03d}" for i in range(1, 62)]
    a = worklist_order(seed=7, reader_key="reader1", read_number=1, case_codes=codes)
    assert a == worklist_order(seed=7, reader_key="reader1", read_number=1, case_codes=list(reversed(codes)))
    assert sorted(a) == codes
    assert a != worklist_order(seed=7, reader_key="reader1", read_number=2, case_codes=codes)
    assert a != worklist_order(seed=7, reader_key="reader2", read_number=1, case_codes=codes)


def test_plan_build_is_idempotent_and_extends(world):
    Read.objects.all().delete()
    created = reading_plan_build(study=world.study)
    assert created == 2 * 1 * world.study.reads_per_reader  # 2 readers × 1 case × reads
    assert reading_plan_build(study=world.study) == 0
    f.make_case(world.study, "VBQ-002")
    assert reading_plan_build(study=world.study) == 2 * world.study.reads_per_reader
    cases = Read.objects.filter(reader=world.reader, read_number=1).values_list("case__subject_code", flat=True)
    assert sorted(cases) == ["VBQ-001", "VBQ-002"]


def test_member_add_invites_by_email(world, client, mailoutbox):
    client.force_login(world.pi)
    url = reverse("api-study-members", args=[world.study.pk])
    response = _api(client, "post", url, {"identifier": "new.reader@example.org", "role": "reader"})
    assert response.status_code == 201 and response.json()["account_created"] is True
    assert len(mailoutbox) == 1 and "/password/set/" in mailoutbox[0].body
    link = mailoutbox[0].body.split("http://127.0.0.1:8000")[1].split()[0]
    client.logout()
    page = client.get(link, follow=True)
    assert page.status_code == 200 and b"Choose a password" in page.content
    unknown = _api(client.__class__(), "post", url, {"identifier": "nobody", "role": "reader"})
    assert unknown.status_code == 401
    client.force_login(world.pi)
    bad = _api(client, "post", url, {"identifier": "nobody", "role": "reader"})
    assert bad.status_code == 400 and "e-mail" in bad.json()["detail"]


def test_pi_sees_scores_and_can_rescore(setup, client, django_capture_on_commit_callbacks):
    client.force_login(setup.pi)
    reads = client.get(reverse("api-read-list")).json()
    assert {r["id"] for r in reads} == {setup.read.pk, setup.other_read.pk}
    assert all("score" in r for r in reads)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("api-study-rescore", args=[setup.study.pk]))
    assert response.status_code == 202
    progress = client.get(reverse("api-study-rescore", args=[setup.study.pk])).json()
    assert progress["status"] == "done" and progress["done"] == progress["total"] == 2
