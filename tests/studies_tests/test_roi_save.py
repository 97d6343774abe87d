"""ROI saves (issue #20 point 2): four queries whatever the study's size, no study lock, the version check kept.

Counted with ``django_assert_max_num_queries`` — never timed (the timings are bench/concurrency.py's). API clients are
authenticated with ``force_authenticate`` so the count is the save's own; a browser's session adds Django's session
and user lookups (2 queries), counted separately below.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from studies.models import AuditEvent, Read, Roi
from studies.selectors import reader_may_view
from studies.services import roi_save
from studies.services.reading import StaleEdit, read_is_open
from studies.slices import slice_refs
from tests import factories as f

pytestmark = pytest.mark.django_db

SAVE_QUERIES = 4
MOVED = [[12, 12], [22, 12], [12, 22], [22, 22]]


@pytest.fixture
def site():
    pi = f.make_user()
    study = f.make_study(pi, washout_days=7)
    readers = [f.make_user() for _ in range(2)]
    for reader in readers:
        f.add_member(study, reader)
    case = f.make_case(study, n_slices=3)
    read = f.make_read(case, readers[0])
    f.make_read(case, readers[0], read_number=2)  # read 2 exists (closed): the blinding check has a later read
    return type("Site", (), {"pi": pi, "study": study, "readers": readers, "case": case, "read": read})


def _grow(site, n: int) -> None:
    """``n`` more cases read twice by both readers (read 1 submitted with six ROIs), and ROIs on the read under test."""
    long_ago = timezone.now() - timedelta(days=365)
    for _ in range(n):
        case = f.make_case(site.study, n_slices=2, rows=32, cols=32)
        for reader in site.readers:
            read = f.make_read(case, reader)
            for label in ("L1", "L2", "L3", "L4", "CSF", "NOISE"):
                Roi.objects.create(read=read, **f.roi_payload(case, label, box=(2, 2, 8, 8)))
            Read.objects.filter(pk=read.pk).update(status=Read.Status.SUBMITTED, submitted_at=long_ago)
            f.make_read(case, reader, read_number=2)


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _saves(site, client, django_assert_max_num_queries, label: str) -> None:
    """Create, move and delete one ROI, each within the budget and without a lock on the study."""
    read = site.read
    url = reverse("api-read-roi-list", args=[read.pk])
    payload = f.roi_payload(site.case, label)
    for action in ("create", "move", "delete"):
        with CaptureQueriesContext(connection) as ctx, django_assert_max_num_queries(SAVE_QUERIES):
            if action == "create":
                response = client.post(url, payload, format="json")
                roi = response.json()
            elif action == "move":
                detail = reverse("api-read-roi-detail", args=[read.pk, roi["id"]])
                response = client.patch(detail, {"version": roi["version"], "points_px": MOVED}, format="json")
                roi = response.json()
            else:
                response = client.delete(f"{detail}?version={roi['version']}")
        assert response.status_code in (200, 201, 204), response.content
        assert not [q for q in ctx.captured_queries if "FOR UPDATE" in q["sql"].upper()]


def test_create_move_delete_cost_four_queries_whatever_the_study_size(site, django_assert_max_num_queries):
    client = _client(site.readers[0])
    _grow(site, 2)
    _saves(site, client, django_assert_max_num_queries, "L1")
    _grow(site, 6)  # 4x the reads and ROIs
    _saves(site, client, django_assert_max_num_queries, "L2")


def test_a_browser_save_adds_only_the_session_and_user_lookups(site, client, django_assert_max_num_queries):
    client.force_login(site.readers[0])
    _grow(site, 3)
    url, payload = reverse("api-read-roi-list", args=[site.read.pk]), f.roi_payload(site.case, "L1")
    with django_assert_max_num_queries(SAVE_QUERIES + 2):
        response = client.post(url, payload, content_type="application/json")
    assert response.status_code == 201


def test_a_stale_version_is_refused_with_the_current_roi(site):
    client = _client(site.readers[0])
    roi = client.post(reverse("api-read-roi-list", args=[site.read.pk]), f.roi_payload(site.case, "L1"), format="json")
    detail = reverse("api-read-roi-detail", args=[site.read.pk, roi.json()["id"]])
    assert client.patch(detail, {"version": 1, "points_px": MOVED}, format="json").status_code == 200
    stale = client.patch(detail, {"version": 1, "points_px": [[1, 1], [5, 1], [1, 5], [5, 5]]}, format="json")
    assert stale.status_code == 409
    assert stale.json()["current"]["version"] == 2 and stale.json()["current"]["points_px"] == MOVED
    assert client.delete(f"{detail}?version=1").status_code == 409
    assert Roi.objects.get(pk=roi.json()["id"]).points_px == MOVED


def test_a_save_that_loses_the_race_between_select_and_update_writes_nothing(site):
    """Another tab's save lands between this save's SELECT and its UPDATE: the conditional UPDATE matches no row,
    the answer is 409 and neither the read's activity nor the audit log records this save."""
    reader = site.readers[0]
    roi = f.make_roi(site.read, "L1")
    audits = AuditEvent.objects.count()
    activity = Read.objects.get(pk=site.read.pk).last_activity_at

    def other_tab_first(execute, sql, params, many, context):
        if sql.startswith('UPDATE "studies_roi"') and not getattr(other_tab_first, "done", False):
            other_tab_first.done = True
            Roi.objects.filter(pk=roi.pk).update(version=roi.version + 1)  # what the other tab's save did
        return execute(sql, params, many, context)

    with connection.execute_wrapper(other_tab_first), pytest.raises(StaleEdit) as stale:
        roi_save.save_roi_update(
            read_id=site.read.pk, roi_id=roi.pk, user=reader, data={"points_px": MOVED}, version=roi.version
        )
    assert stale.value.roi.version == roi.version + 1
    stored = Roi.objects.get(pk=roi.pk)
    assert stored.points_px != MOVED
    assert AuditEvent.objects.count() == audits
    assert Read.objects.get(pk=site.read.pk).last_activity_at == activity


def test_the_audit_row_names_the_slices_as_the_audit_trail_does(site):
    reader = site.readers[0]
    roi = f.make_roi(site.read, "L1", sop_instance_uid=f.sop_of(site.case, 2))
    roi_save.save_roi_update(
        read_id=site.read.pk,
        roi_id=roi.pk,
        user=reader,
        data={"sop_instance_uid": f.sop_of(site.case, 1)},
        version=roi.version,
    )
    refs = slice_refs([f.sop_of(site.case, 1), f.sop_of(site.case, 2)])
    update = AuditEvent.objects.filter(action="roi.update").latest("pk").data
    assert update["before"]["slice_number"] == refs[f.sop_of(site.case, 2)].number == 3
    assert update["after"]["slice_number"] == refs[f.sop_of(site.case, 1)].number == 2
    assert update["case"] == site.case.subject_code and update["read_number"] == 1
    created = AuditEvent.objects.filter(action="roi.create").latest("pk").data
    assert created["slice_number"] == 3 and created["version"] == 1


def test_time_on_task_counts_the_gaps_between_saves(site):
    reader = site.readers[0]
    roi = f.make_roi(site.read, "L1")
    read = Read.objects.get(pk=site.read.pk)
    assert read.status == Read.Status.IN_PROGRESS and read.started_at is not None
    Read.objects.filter(pk=read.pk).update(last_activity_at=timezone.now() - timedelta(seconds=30))
    roi_save.save_roi_update(read_id=read.pk, roi_id=roi.pk, user=reader, data={"points_px": MOVED}, version=1)
    assert Read.objects.get(pk=read.pk).time_on_task_seconds == pytest.approx(read.time_on_task_seconds + 30, abs=2)


def _random_reads(rng: random.Random, study, reader, n_cases: int, n_reads: int) -> list[Read]:
    now = timezone.now()
    reads = []
    for _ in range(n_cases):
        case = f.make_case(study, n_slices=1, rows=8, cols=8)
        for number in range(1, n_reads + 1):
            status = rng.choice(list(Read.Status.values))
            fields = {"status": status}
            if status == Read.Status.SUBMITTED:
                fields["submitted_at"] = now - timedelta(days=rng.choice([1, 3, 10, 30]))
            if rng.random() < 0.3:
                fields["available_from"] = now + timedelta(days=rng.choice([-2, 2]))
            reads.append(f.make_read(case, reader, read_number=number, **fields))
    return reads


@pytest.mark.parametrize("seed", range(6))
def test_opening_and_blinding_in_the_save_query_match_the_selectors(seed):
    """For random plans (3 read numbers, every status, opening dates past and future, washout 7 days), a save is
    refused as "not open" exactly when :func:`reader_may_view` / :func:`read_is_open` say so."""
    rng = random.Random(seed)
    reader = f.make_user()
    study = f.make_study(washout_days=7)
    f.add_member(study, reader)
    reads = _random_reads(rng, study, reader, n_cases=4, n_reads=3)
    now = timezone.now()
    for read in reads:
        row = (
            Read.objects.filter(pk=read.pk)
            .select_related("study", "case")
            .annotate(**roi_save._annotations("", reader, now))
            .get()
        )
        fresh = Read.objects.select_related("study").get(pk=read.pk)
        opens_at = roi_save._opens_at(row)
        is_open = opens_at is not None and opens_at <= now
        assert is_open == read_is_open(fresh, now), (seed, read.read_number, read.status)
        if is_open:
            assert (not roi_save._later_open(row, now)) == reader_may_view(fresh), (seed, read.pk)


def test_an_id_beyond_any_row_is_a_404_not_a_500(site):
    """The schema fuzz sent /api/reads/2198570800898387214336/rois/3875/: past a 64-bit integer the database driver
    raises OverflowError before any query; nothing can have that id, so the answer is 404."""
    client = _client(site.readers[0])
    huge = 2**71
    roi = client.post(reverse("api-read-roi-list", args=[site.read.pk]), f.roi_payload(site.case, "L1"), format="json")
    for read_id, roi_id in ((huge, roi.json()["id"]), (site.read.pk, huge)):
        detail = f"/api/reads/{read_id}/rois/{roi_id}/"
        assert client.patch(detail, {"version": 1, "points_px": MOVED}, format="json").status_code == 404
        assert client.delete(f"{detail}?version=1").status_code == 404
    assert client.post(f"/api/reads/{huge}/rois/", f.roi_payload(site.case, "L2"), format="json").status_code == 404
    assert Roi.objects.get(pk=roi.json()["id"]).version == 1
