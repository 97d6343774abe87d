"""Lists cost the same number of queries for N rows as for 3N (no per-row queries), and are paginated.

Counted with ``CaptureQueriesContext`` — never timed (the timings are benchmarks, DESIGN.md).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from studies.models import ImportJob, Read
from tests import factories as f

pytestmark = pytest.mark.django_db


def _grow(study, readers, n: int) -> None:
    """``n`` more cases, each read twice (read 1 submitted long ago, read 2 open) by every reader."""
    long_ago = timezone.now() - timedelta(days=365)
    for _ in range(n):
        case = f.make_case(study, n_slices=1, rows=8, cols=8)
        for reader in readers:
            f.make_read(case, reader, status=Read.Status.SUBMITTED, submitted_at=long_ago, order_index=case.pk)
            f.make_read(case, reader, read_number=2, order_index=case.pk)
        ImportJob.objects.create(study=study, created_by=study.created_by)


@pytest.fixture
def site():
    pi = f.make_user("pi")
    study = f.make_study(pi, name="Query counts", washout_days=7)
    readers = [f.make_user("reader1"), f.make_user("reader2")]
    for reader in readers:
        f.add_member(study, reader)
    return type("Site", (), {"pi": pi, "study": study, "readers": readers})


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _web(client, user):
    client.force_login(user)
    return client


def _count(client, url: str, **params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200, response.content[:300]
    return len(ctx.captured_queries)


def _endpoints(site):
    study = site.study
    return {
        "api reads (PI)": ("api", site.pi, reverse("api-read-list"), {}),
        "api reads (reader)": ("api", site.readers[0], reverse("api-read-list"), {}),
        "api reads of a study (PI)": ("api", site.pi, reverse("api-read-list"), {"study": study.pk}),
        "api cases (PI)": ("api", site.pi, reverse("api-study-cases", args=[study.pk]), {}),
        "api imports (PI)": ("api", site.pi, reverse("api-import-list"), {"study": study.pk}),
        "worklist page (reader)": ("web", site.readers[0], reverse("study-detail", args=[study.pk]), {}),
        "study page (PI)": ("web", site.pi, reverse("study-detail", args=[study.pk]), {}),
        "cases page (PI)": ("web", site.pi, reverse("study-cases", args=[study.pk]), {}),
        "imports page (PI)": ("web", site.pi, reverse("study-imports", args=[study.pk]), {}),
    }


def test_list_query_counts_do_not_grow_with_rows(site, client):
    def counts() -> dict[str, int]:
        out = {}
        for name, (kind, user, url, params) in _endpoints(site).items():
            c = _api(user) if kind == "api" else _web(client, user)
            out[name] = _count(c, url, **params)
        return out

    _grow(site.study, site.readers, 2)
    small = counts()
    _grow(site.study, site.readers, 4)  # 3N
    large = counts()
    assert large == small


def test_reads_list_is_paginated_with_the_body_still_a_list(site):
    _grow(site.study, site.readers, 3)  # 12 reads
    client = _api(site.pi)
    url = reverse("api-read-list")
    first = client.get(url, {"limit": 5})
    assert isinstance(first.json(), list) and len(first.json()) == 5
    assert first["X-Total-Count"] == "12"
    assert 'rel="next"' in first["Link"] and "offset=5" in first["Link"]
    rest = client.get(url, {"limit": 5, "offset": 10})
    assert len(rest.json()) == 2 and 'rel="next"' not in rest["Link"] and 'rel="prev"' in rest["Link"]
    everything = client.get(url, {"limit": 10_000}).json()  # capped at 500
    assert len(everything) == 12
    ids = [r["id"] for r in client.get(url).json()]
    assert ids == [r["id"] for r in everything]  # default page (100) holds them all, same order


def test_reads_list_openings_match_the_per_read_rules(site):
    """The batched opening dates and blinding equal read_opens_at / reader_may_view read by read."""
    from studies.selectors import reader_may_view
    from studies.services.read_opening import reads_opening
    from studies.services.reading import read_opens_at

    _grow(site.study, site.readers, 2)
    case = f.make_case(site.study, n_slices=1, rows=8, cols=8)
    f.make_read(case, site.readers[0])  # read 1 still open: read 2 of this case is blocked
    f.make_read(case, site.readers[0], read_number=2)
    Read.objects.filter(study=site.study, reader=site.readers[1], read_number=2).first().delete()
    reads = list(Read.objects.select_related("study"))
    openings = reads_opening(reads)
    for read in reads:
        assert openings[read.pk].opens_at == read_opens_at(read)
        assert openings[read.pk].may_view == reader_may_view(read)
    reader_ids = {r["id"] for r in _api(site.readers[0]).get(reverse("api-read-list")).json()}
    assert reader_ids == {r.pk for r in reads if r.reader_id == site.readers[0].pk and reader_may_view(r)}
