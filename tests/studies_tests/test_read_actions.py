"""The PI's reads page (list, filters, sort, pages) and read actions: reopen, reassign, void — each with a reason."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from analytics.datasets import roi_rows, study_data
from scoring.models import ReadScore
from studies import reads_page
from studies.models import AuditEvent, Case, Read, Roi
from studies.services.reading import reads_for_reader
from tests import factories as f

pytestmark = pytest.mark.django_db


def _submit(read):
    read.status = Read.Status.SUBMITTED
    read.started_at = timezone.now()
    read.submitted_at = timezone.now()
    read.time_on_task_seconds = 125
    read.save()
    return read


def _snapshot(study):
    return (
        list(Read.objects.filter(study=study).order_by("pk").values()),
        AuditEvent.objects.filter(study=study, action__startswith="read.").count(),
    )


def _page(client, w, **params):
    return client.get(reverse("study-reads", args=[w.study.pk]), params)


def _act(client, w, read, **data):
    return client.post(reverse("study-read-action", args=[w.study.pk, read.pk]), data)


def _api(client, read, action, **data):
    return client.post(reverse(f"api-read-{action}", args=[read.pk]), data, content_type="application/json")


# ---- the page -------------------------------------------------------------------------------------------------


def test_page_lists_every_read_with_scores_and_links(world, client):
    _submit(world.read)
    ReadScore.objects.create(
        read=world.read, inputs_digest="x", vbq=3.456, snr=12.3, m_score=None, m_score_reason="no QCT"
    )
    client.force_login(world.pi)
    response = _page(client, world)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-read="{world.read.pk}"' in html and f'data-read="{world.other_read.pk}"' in html
    assert "3.456" in html and "12.3" in html and "no QCT" in html and "2:05" in html
    assert "reader" in html and "other_reader" in html and "VBQ-001" in html
    # linked from the study page and from the PI's viewer (which names the reader)
    url = reverse("study-reads", args=[world.study.pk])
    assert url in client.get(reverse("study-detail", args=[world.study.pk])).content.decode()
    viewer = client.get(reverse("read-viewer", args=[world.read.pk])).content.decode()
    assert url in viewer and "Read by reader" in viewer and "3.456" in viewer


def test_filters_and_sort(world, client):
    _submit(world.read)
    ReadScore.objects.create(read=world.read, inputs_digest="x", vbq=1.0)
    ReadScore.objects.create(read=world.other_read, inputs_digest="x", vbq=2.0)
    client.force_login(world.pi)

    def ids(**params):
        rows = _page(client, world, **params).context["rows"]
        return [row["read"].pk for row in rows]

    both = {world.read.pk, world.other_read.pk}
    assert set(ids()) == both
    assert ids(reader=world.other_reader.pk) == [world.other_read.pk]
    assert ids(status="submitted") == [world.read.pk]
    assert ids(read_number=2) == []
    assert set(ids(case="vbq-0")) == both and ids(case="nope") == []
    assert ids(sort="vbq") == [world.read.pk, world.other_read.pk]
    assert ids(sort="-vbq") == [world.other_read.pk, world.read.pk]
    assert set(ids(sort="bogus", reader="x", status="zzz", read_number="²")) == both  # junk is ignored


def test_pages(world, client, monkeypatch):
    monkeypatch.setattr(reads_page, "PAGE_SIZE", 1)
    client.force_login(world.pi)
    first = _page(client, world, sort="reader").context["rows"]
    second = _page(client, world, sort="reader", page=2).context["rows"]
    assert [r["read"].pk for r in first + second] == [world.other_read.pk, world.read.pk]  # other_reader < reader


def test_page_queries_do_not_grow_with_rows(world, client, django_assert_num_queries):
    client.force_login(world.pi)
    with CaptureQueriesContext(connection) as few:
        assert _page(client, world).status_code == 200
    for k in range(30):
        case = Case.objects.create(study=world.study, subject_code=f"X{k:03d}")
        read = _submit(f.make_read(case, world.reader if k % 2 else world.other_reader))
        ReadScore.objects.create(read=read, inputs_digest="x", vbq=k, vbq_reason="" if k else "no L3")
    with django_assert_num_queries(len(few)):
        response = _page(client, world)
    assert len(response.context["rows"]) == 32


# ---- reopen ---------------------------------------------------------------------------------------------------


def test_reopen_from_the_page_with_reason(world, client):
    _submit(world.read)
    client.force_login(world.pi)
    response = _act(client, world, world.read, action="reopen", reason="L2 drawn on the wrong slice")
    assert response.status_code == 302
    world.read.refresh_from_db()
    assert world.read.status == Read.Status.IN_PROGRESS and world.read.submitted_at is None
    event = AuditEvent.objects.get(action="read.reopen")
    assert event.data["reason"] == "L2 drawn on the wrong slice" and event.object_id == str(world.read.pk)


def test_reopen_api_with_reason(world, client):
    _submit(world.read)
    client.force_login(world.pi)
    response = _api(client, world.read, "reopen", reason="check L4")
    assert response.status_code == 200 and response.json()["status"] == "in_progress"
    assert AuditEvent.objects.get(action="read.reopen").data["reason"] == "check L4"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_no_reason_is_refused_and_changes_nothing(world, client, reason):
    _submit(world.read)
    client.force_login(world.pi)
    before = _snapshot(world.study)
    data = {} if reason is None else {"reason": reason}
    for action in ("reopen", "reassign", "void"):
        extra = {"reader": world.other_reader.pk} if action == "reassign" else {}
        api = _api(client, world.read, action, **data, **extra)
        assert api.status_code == 400 and "reason is required" in str(api.json()), (action, api.json())
        page = _act(client, world, world.read, action=action, **data, **extra)
        assert page.status_code == 400 and "A reason is required." in page.content.decode(), action
    assert _snapshot(world.study) == before


def test_locked_study_refuses_every_action(world, client):
    _submit(world.read)
    world.study.locked = True
    world.study.save()
    client.force_login(world.pi)
    before = _snapshot(world.study)
    for action in ("reopen", "reassign", "void"):
        extra = {"reader": world.other_reader.pk} if action == "reassign" else {}
        api = _api(client, world.read, action, reason="why", **extra)
        assert api.status_code == 403 and "locked" in str(api.json()), action
        page = _act(client, world, world.read, action=action, reason="why", **extra)
        assert page.status_code == 403 and "locked" in page.content.decode(), action
    assert _snapshot(world.study) == before


def test_unknown_action_on_the_page(world, client):
    client.force_login(world.pi)
    before = _snapshot(world.study)
    assert _act(client, world, world.read, action="delete", reason="x").status_code == 400
    assert _snapshot(world.study) == before


def test_readers_may_not_act(world, client):
    client.force_login(world.reader)
    before = _snapshot(world.study)
    assert _api(client, world.read, "void", reason="x").status_code == 403
    assert _act(client, world, world.read, action="void", reason="x").status_code == 403
    assert _snapshot(world.study) == before


# ---- reassign -------------------------------------------------------------------------------------------------


def _third_reader(w, n_reads=2):
    """A third reader with a worklist of ``n_reads`` other cases (positions 0..n−1)."""
    third = f.make_user("third")
    f.add_member(w.study, third)
    for k in range(n_reads):
        case = Case.objects.create(study=w.study, subject_code=f"T{k}")
        f.make_read(case, third, order_index=k)
    return third


@pytest.mark.parametrize("via", ["api", "page"])
def test_reassign_creates_a_new_read_and_voids_the_old(world, client, via):
    third = _third_reader(world)
    client.force_login(world.pi)
    if via == "api":
        response = _api(client, world.read, "reassign", reader=third.pk, reason="reader left the study")
        assert response.status_code == 200
        new = Read.objects.get(pk=response.json()["id"])
    else:
        response = _act(client, world, world.read, action="reassign", reader=third.pk, reason="reader left the study")
        assert response.status_code == 302
        new = Read.objects.get(reader=third, case=world.case)
    old = Read.objects.get(pk=world.read.pk)
    assert old.status == Read.Status.VOIDED and old.void_reason == "reader left the study" and old.voided_at
    assert (new.reader, new.case, new.read_number, new.status) == (third, world.case, 1, Read.Status.NOT_STARTED)
    # appended at the end: the worklist positions stay a permutation 0..n−1
    positions = sorted(Read.objects.filter(reader=third, read_number=1).values_list("order_index", flat=True))
    assert positions == [0, 1, 2] and new.order_index == 2
    assert list(Roi.objects.filter(read=old)) == [world.roi] and not Roi.objects.filter(read=new).exists()
    event = AuditEvent.objects.get(action="read.reassign")
    assert event.data | {"reason": "reader left the study", "to_reader": "third", "new_read": new.pk} == event.data
    assert event.object_id == str(old.pk)
    # the old reader no longer sees it; the new one does
    assert world.read.pk not in {r.pk for r in reads_for_reader(study=world.study, reader=world.reader)}
    assert new.pk in {r.pk for r in reads_for_reader(study=world.study, reader=third)}


def test_reassign_to_someone_not_a_reader_is_refused(world, client):
    client.force_login(world.pi)
    before = _snapshot(world.study)
    for who, message in (
        (world.outsider.pk, "not a reader of this study"),
        (world.pi.pk, "not a reader of this study"),
        (None, "Choose the reader"),
        ("abc", "Choose the reader"),
        (world.reader.pk, "already belongs"),
        (world.other_reader.pk, "already has a read"),  # other_reader has a read of this case already
    ):
        data = {"reason": "r"} | ({} if who is None else {"reader": who})
        api = _api(client, world.read, "reassign", **data)
        assert api.status_code == 400 and message in str(api.json()), who
        page = _act(client, world, world.read, action="reassign", **data)
        assert page.status_code == 400 and message in page.content.decode(), who
    assert _snapshot(world.study) == before


# ---- void -----------------------------------------------------------------------------------------------------


def test_void_leaves_worklists_and_analytics(world, client):
    _submit(world.read)
    ReadScore.objects.create(read=world.read, inputs_digest="x", vbq=1.5)
    client.force_login(world.pi)
    assert world.read.pk in {r.read_id for r in study_data(world.study).reads}
    response = _api(client, world.read, "void", reason="wrong patient")
    assert response.status_code == 200 and response.json()["status"] == "voided"
    assert AuditEvent.objects.get(action="read.void").data["reason"] == "wrong patient"
    assert world.read.pk not in {r.read_id for r in study_data(world.study).reads}
    assert all(row["read__reader__username"] != "reader" for row in roi_rows(world.study))
    assert Roi.objects.filter(read=world.read).exists()  # kept, with the read, in the history
    # a voided read cannot be acted on again
    assert _api(client, world.read, "reopen", reason="x").status_code == 403
    # the PI still lists it; its reader no longer sees it anywhere
    assert f'data-read="{world.read.pk}"' in _page(client, world).content.decode()
    client.force_login(world.reader)
    assert [r["id"] for r in client.get(reverse("api-read-list")).json()] == []
    assert client.get(reverse("read-viewer", args=[world.read.pk])).status_code == 404
    assert client.get(reverse("api-read-detail", args=[world.read.pk])).status_code == 404
    assert list(reads_for_reader(study=world.study, reader=world.reader)) == []
