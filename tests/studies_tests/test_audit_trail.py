"""The audit trail (issue #17 point 2): append-only rows, the PI's page and CSV export, the admin's view."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest
from django.contrib import admin
from django.db import transaction
from django.test import RequestFactory
from django.urls import reverse

from studies.models import AuditEvent, AuditEventAppendOnly
from studies.services.audit import audit_log
from tests import factories as f

pytestmark = pytest.mark.django_db


def _api(client, method, url, data=None):
    return getattr(client, method)(
        url, data=json.dumps(data) if data is not None else None, content_type="application/json"
    )


def _csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


# --- append-only ---------------------------------------------------------------------------------------------


def test_audit_rows_cannot_be_updated_or_deleted(world):
    event = audit_log(study=world.study, user=world.pi, action="study.update", obj=world.study, data={"x": 1})
    event.action = "tampered"
    with pytest.raises(AuditEventAppendOnly):
        event.save()
    with pytest.raises(AuditEventAppendOnly):
        event.delete()
    with pytest.raises(AuditEventAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(action="tampered")
    with pytest.raises(AuditEventAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AuditEventAppendOnly):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditEventAppendOnly), transaction.atomic():  # its own savepoint: bulk_update has none
        AuditEvent.objects.bulk_update([event], ["action"])
    assert AuditEvent.objects.get(pk=event.pk).action == "study.update"


def test_admin_is_read_only(world):
    model_admin = admin.site._registry[AuditEvent]
    request = RequestFactory().get("/admin/")
    request.user = world.admin
    event = AuditEvent.objects.first()
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
    assert not model_admin.has_add_permission(request)


def test_deleting_a_study_is_the_one_exception(world):
    """An admin deleting a whole study removes its audit rows with it (the collector, not the ORM API)."""
    study_id = world.study.pk
    assert AuditEvent.objects.filter(study_id=study_id).exists()
    world.study.delete()
    assert not AuditEvent.objects.filter(study_id=study_id).exists()


# --- the scripted reading session ----------------------------------------------------------------------------


def test_acknowledged_saves_all_appear_in_the_audit_csv(world, client, django_capture_on_commit_callbacks):
    """A scripted reading session's acknowledged saves all appear in the audit CSV (count and versions equal)."""
    case = f.make_case(world.study, "VBQ-AUD")
    read = f.make_read(case, world.reader)
    client.force_login(world.reader)
    rois_url = reverse("api-read-roi-list", args=[read.pk])
    acked: list[tuple[str, str, str]] = []  # (roi id, version, action) of every 2xx answer
    ids: dict[str, int] = {}
    versions: dict[str, int] = {}

    def create(label, payload=None):
        r = _api(client, "post", rois_url, payload or f.roi_payload(case, label))
        assert r.status_code == 201, r.content
        ids[label], versions[label] = r.json()["id"], r.json()["version"]
        acked.append((str(ids[label]), str(versions[label]), "roi.create"))

    def patch(label, data):
        url = reverse("api-read-roi-detail", args=[read.pk, ids[label]])
        r = _api(client, "patch", url, data | {"version": versions[label]})
        assert r.status_code == 200, r.content
        versions[label] = r.json()["version"]
        acked.append((str(ids[label]), str(versions[label]), "roi.update"))

    with django_capture_on_commit_callbacks(execute=True):
        for label in ("L1", "L2", "L3", "L4", "CSF", "NOISE"):
            create(label)
        for dx in (1, 2, 3):  # move L1 three times, L2 twice
            patch("L1", {"points_px": [[10 + dx, 10], [20 + dx, 10], [10 + dx, 20], [20 + dx, 20]]})
        for dx in (1, 2):
            patch("L2", {"points_px": [[25 + dx, 10], [35 + dx, 10], [25 + dx, 20], [35 + dx, 20]]})
        patch("L4", {"excluded": True, "exclusion_reason": "fracture"})
        url = reverse("api-read-roi-detail", args=[read.pk, ids["L3"]])
        r = _api(client, "delete", f"{url}?version={versions['L3']}")
        assert r.status_code == 204, r.content
        acked.append((str(ids["L3"]), str(versions["L3"]), "roi.delete"))
        create("L3", f.roi_payload(case, "L3", box=(40, 10, 50, 20)))
        stale = _api(client, "patch", reverse("api-read-roi-detail", args=[read.pk, ids["L1"]]), {"version": 1})
        assert stale.status_code == 409  # refused: not acknowledged, not audited
        submit = _api(client, "post", reverse("api-read-submit", args=[read.pk]))
        assert submit.status_code == 200, submit.content

    client.force_login(world.pi)
    rows = _csv_rows(client.get(reverse("study-audit-csv", args=[world.study.pk]), {"case": "VBQ-AUD"}))
    audited = Counter((r["object_id"], r["version"], r["action"]) for r in rows if r["object_type"] == "roi")
    assert audited == Counter(acked) and len(acked) == 14
    assert all(r["user"] == "reader" and r["read_number"] == "1" for r in rows)
    assert [r["action"] for r in rows if r["object_type"] == "read"] == ["read.submit"]
    assert rows[0]["action"] == "read.submit"  # newest first
    assert rows[0]["time"].endswith("Z")
    assert {r["roi_label"] for r in rows if r["object_type"] == "roi"} == {"L1", "L2", "L3", "L4", "CSF", "NOISE"}
    moved = [json.loads(r["details"]) for r in rows if r["action"] == "roi.update" and r["roi_label"] == "L1"]
    assert all(d["after"]["version"] == d["before"]["version"] + 1 for d in moved)


# --- the page ------------------------------------------------------------------------------------------------


def _many_events(world, n):
    for i in range(n):
        user = world.reader if i % 2 else world.other_reader
        audit_log(study=world.study, user=user, action="roi.update", obj=world.roi, data={"i": i})


def test_page_filters_and_paginates(world, client):
    before = AuditEvent.objects.filter(study=world.study).count()
    _many_events(world, 130)
    client.force_login(world.pi)
    url = reverse("study-audit", args=[world.study.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert len(page.context["rows"]) == 100 and page.context["page"].paginator.count == 130 + before
    assert page.context["rows"][0]["details"].find('"i": 129') >= 0  # newest first
    only = client.get(url, {"user": "other_reader", "action": "roi.update"})
    assert {r["user"] for r in only.context["rows"]} == {"other_reader"}
    assert only.context["page"].paginator.count == 65
    assert client.get(url, {"case": "nope"}).context["page"].paginator.count == 0
    assert client.get(url, {"case": "VBQ-001"}).context["page"].paginator.count == 130 + 2  # and the 2 ROIs
    assert client.get(url, {"since": "2999-01-01"}).context["page"].paginator.count == 0
    assert client.get(url, {"until": "2000-01-01"}).context["page"].paginator.count == 0
    assert client.get(url, {"page": 2}).context["page"].number == 2
    study_page = client.get(reverse("study-detail", args=[world.study.pk]))
    assert url.encode() in study_page.content


def test_page_queries_do_not_grow_with_rows(world, client, django_assert_num_queries):
    client.force_login(world.pi)
    url = reverse("study-audit", args=[world.study.pk])
    client.get(url)  # warm (session, content types)
    _many_events(world, 3)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    _many_events(world, 60)
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


def test_site_wide_trail_is_for_admins(world, client):
    other = f.make_study(world.pi, name="Other")
    audit_log(study=other, user=world.pi, action="study.lock", obj=other)
    client.force_login(world.admin)
    page = client.get(reverse("site-audit"), {"action": "study.lock"})
    assert page.status_code == 200 and [r["study"] for r in page.context["rows"]] == [other]
    rows = _csv_rows(client.get(reverse("site-audit-csv")))
    assert len(rows) == AuditEvent.objects.count()
    client.force_login(world.pi)
    assert client.get(reverse("site-audit")).status_code == 403
