"""Every URL pattern × every kind of user → expected status (and, for lists, the visible objects).

A new URL without a row here fails ``test_every_url_has_a_row``. The admin site is one row: Django's
admin applies one staff check to all its URLs.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from studies.models import DicomWebServer, ImportJob
from tests import factories as f

ROLES = ("anon", "outsider", "reader", "other_reader", "pi", "admin")


def _ids(w):
    return {
        "study": w.study.pk,
        "read": w.read.pk,
        "roi": w.roi.pk,
        "instance": w.case.primary_series.instances.first().pk,
        "series": w.case.primary_series.pk,
        "other_membership": w.study.memberships.get(user=w.other_reader).pk,
        "job": ImportJob.objects.get_or_create(study=w.study, source="/nonexistent.zip", status="done")[0].pk,
        "case": w.case.pk,
        "dicomweb_server": DicomWebServer.objects.get_or_create(
            study=w.study, name="PACS", defaults={"url": "http://127.0.0.1:9/dicom-web"}
        )[0].pk,
    }


def S(anon, outsider, reader, other_reader, pi, admin):
    return dict(zip(ROLES, (anon, outsider, reader, other_reader, pi, admin), strict=True))


# name: (method, kwargs from ids, {role: status}, optional list-visibility check)
MATRIX = {
    "home": ("get", lambda i: {}, S(302, 302, 302, 302, 302, 302)),
    "login": ("get", lambda i: {}, S(200, 302, 302, 302, 302, 302)),
    "logout": ("post", lambda i: {}, S(302, 302, 302, 302, 302, 302)),
    "password-change": ("get", lambda i: {}, S(302, 200, 200, 200, 200, 200)),
    "password-change-done": ("get", lambda i: {}, S(302, 200, 200, 200, 200, 200)),
    "password-set": (
        "get",
        lambda i: {"uidb64": "MQ", "token": "bad-token"},
        S(200, 200, 200, 200, 200, 200),
    ),
    "password-set-done": ("get", lambda i: {}, S(200, 200, 200, 200, 200, 200)),
    "notification-preferences": ("get", lambda i: {}, S(302, 200, 200, 200, 200, 200)),  # one's own e-mail settings
    "set-language": ("post", lambda i: {}, S(302, 302, 302, 302, 302, 302)),  # the header's language switcher
    "study-list": ("get", lambda i: {}, S(302, 200, 200, 200, 200, 200)),
    # Only users an admin allowed ("Can add study": the PI here, superusers) may create a study.
    "study-create": ("get", lambda i: {}, S(302, 403, 403, 403, 200, 200)),
    "study-detail": ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 200, 200, 200, 404)),
    "study-settings": ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 200, 404)),
    "study-member-add": ("post", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 302, 404)),
    "study-plan-build": ("post", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 302, 404)),
    "study-imports": ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 200, 404)),
    "study-import-detail": (
        "get",
        lambda i: {"study_id": i["study"], "job_id": i["job"]},
        S(302, 404, 403, 403, 200, 404),
    ),
    "study-import-retry": (  # the job is done: the PI is told so (redirect with a message)
        "post",
        lambda i: {"study_id": i["study"], "job_id": i["job"]},
        S(302, 404, 403, 403, 302, 404),
    ),
    "study-cases": ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 200, 404)),
    "study-reads": ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 200, 404)),
    # no action and no reason: the PI gets the page back with the error (400), nothing changes
    "study-read-action": (
        "post",
        lambda i: {"study_id": i["study"], "read_id": i["read"]},
        S(302, 404, 403, 403, 400, 404),
    ),
    "study-reference": ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 200, 404)),
    "study-subject-keys": ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 200, 404)),
    "study-subject-keys-export": ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 200, 404)),
    "study-subject-keys-delete": ("post", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 302, 404)),
    "study-audit": ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 200, 404)),
    "study-audit-csv": ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 200, 404)),
    "site-audit": ("get", lambda i: {}, S(302, 403, 403, 403, 403, 200)),  # admins (is_staff) only
    "site-audit-csv": ("get", lambda i: {}, S(302, 403, 403, 403, 403, 200)),
    "study-subject-codes": ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 200, 404)),
    # the study has reads: re-keying is refused (the PI is sent back with the reason)
    "study-subject-codes-rekey": ("post", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 302, 404)),
    "study-case-primary-series": (
        "post",
        lambda i: {"study_id": i["study"], "case_id": i["case"]},
        S(302, 404, 403, 403, 404, 404),
    ),
    "api-import-list": ("get", lambda i: {}, S(401, 200, 200, 200, 200, 200)),
    "api-import-detail": ("get", lambda i: {"pk": i["job"]}, S(401, 404, 404, 404, 200, 404)),
    "api-import-retry": ("post", lambda i: {"pk": i["job"]}, S(401, 404, 404, 404, 400, 404)),  # done: 400
    "api-study-primary-series": (
        "post",
        lambda i: {"pk": i["study"], "case_id": i["case"]},
        S(401, 404, 403, 403, 400, 404),
    ),
    # POST without a file: the PI gets 400 with the reason; nothing is stored.
    "api-study-reference": ("post", lambda i: {"pk": i["study"]}, S(401, 404, 403, 403, 400, 404)),
    "api-study-reference-template": ("get", lambda i: {"pk": i["study"]}, S(401, 404, 403, 403, 200, 404)),
    "api-study-subject-codes": ("get", lambda i: {"pk": i["study"]}, S(401, 404, 403, 403, 200, 404)),
    "api-study-subject-codes-rekey": ("post", lambda i: {"pk": i["study"]}, S(401, 404, 403, 403, 409, 404)),
    # Hospital DICOM (#19): the PI's; search and pull without a body are refused with the reason (400)
    "study-dicom-network": ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 200, 404)),
    # the Hospital DICOM page's "Send DICOM SR" form (scoring.pages): an empty form (no server) is the PI's 400
    "study-sr-send": ("post", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 400, 404)),
    "api-study-dicom-receiver": ("get", lambda i: {"pk": i["study"]}, S(401, 404, 403, 403, 200, 404)),
    "api-study-dicomweb-servers": ("get", lambda i: {"pk": i["study"]}, S(401, 404, 403, 403, 200, 404)),
    "api-study-dicomweb-server": (
        "delete",
        lambda i: {"pk": i["study"], "server_pk": i["dicomweb_server"]},
        S(401, 404, 403, 403, 204, 404),
    ),
    "api-study-dicomweb-search": (
        "post",
        lambda i: {"pk": i["study"], "server_pk": i["dicomweb_server"]},
        S(401, 404, 403, 403, 400, 404),
    ),
    "api-study-dicomweb-pull": (
        "post",
        lambda i: {"pk": i["study"], "server_pk": i["dicomweb_server"]},
        S(401, 404, 403, 403, 400, 404),
    ),
    "read-viewer": ("get", lambda i: {"read_id": i["read"]}, S(302, 404, 200, 404, 200, 404)),
    "instance-file": ("get", lambda i: {"pk": i["instance"]}, S(401, 403, 200, 200, 200, 403)),
    # The reader's pixel-grant link (issued to the reader's session by series-detail), fetched by each role:
    # only that session opens it (test_granted_links_per_role: each role's own links).
    "instance-file-granted": ("get", None, S(401, 403, 200, 403, 403, 403)),
    # The same with PIXEL_LINK_SECRET set: the reader's pixel link (nginx checks it in the deployment; Django's
    # view checks it the same way here).
    "instance-file-linked": ("get", None, S(401, 403, 200, 403, 403, 403)),
    "series-detail": ("get", lambda i: {"pk": i["series"]}, S(401, 403, 200, 200, 200, 403)),
    "series-thumbnail": ("get", lambda i: {"pk": i["series"]}, S(401, 403, 200, 200, 200, 403)),
    "healthz": ("get", lambda i: {}, S(200, 200, 200, 200, 200, 200)),
    "favicon": ("get", lambda i: {}, S(200, 200, 200, 200, 200, 200)),  # the site icon: public, no login page first
    "api-root": ("get", lambda i: {}, S(401, 200, 200, 200, 200, 200)),
    "api-token": ("post", lambda i: {}, S(400, 400, 400, 400, 400, 400)),
    # The API schema and docs are for logged-in users only.
    "api-schema": ("get", lambda i: {}, S(401, 200, 200, 200, 200, 200)),
    "api-docs": ("get", lambda i: {}, S(302, 200, 200, 200, 200, 200)),
    "api-study-list": ("get", lambda i: {}, S(401, 200, 200, 200, 200, 200)),
    "api-study-detail": ("get", lambda i: {"pk": i["study"]}, S(401, 404, 200, 200, 200, 404)),
    "api-study-cases": ("get", lambda i: {"pk": i["study"]}, S(401, 404, 403, 403, 200, 404)),
    "api-study-members": ("get", lambda i: {"pk": i["study"]}, S(401, 404, 403, 403, 200, 404)),
    "api-study-member-remove": (
        "delete",
        lambda i: {"pk": i["study"], "membership_id": i["other_membership"]},
        S(401, 404, 403, 403, 204, 404),
    ),
    "api-study-plan": ("post", lambda i: {"pk": i["study"]}, S(401, 404, 403, 403, 200, 404)),
    "api-study-rescore": ("post", lambda i: {"pk": i["study"]}, S(401, 404, 403, 403, 202, 404)),
    # DICOM SR (#19): the world's reads are not submitted (409 with the reason); zips are the PI's
    "api-read-sr": ("get", lambda i: {"pk": i["read"]}, S(401, 404, 409, 404, 409, 404)),
    "api-case-sr": ("get", lambda i: {"pk": i["study"], "case_id": i["case"]}, S(401, 404, 403, 403, 409, 404)),
    "api-study-sr": ("get", lambda i: {"pk": i["study"]}, S(401, 404, 403, 403, 409, 404)),
    "api-study-sr-send": ("post", lambda i: {"pk": i["study"]}, S(401, 404, 403, 403, 400, 404)),  # no server: 400
    "api-study-lock": ("post", lambda i: {"pk": i["study"]}, S(401, 404, 403, 403, 200, 404)),
    "api-read-list": ("get", lambda i: {}, S(401, 200, 200, 200, 200, 200)),
    "api-read-detail": ("get", lambda i: {"pk": i["read"]}, S(401, 404, 200, 404, 200, 404)),
    "api-read-checks": ("get", lambda i: {"pk": i["read"]}, S(401, 404, 200, 404, 200, 404)),
    "api-read-submit": ("post", lambda i: {"pk": i["read"]}, S(401, 404, 400, 404, 403, 404)),
    # without a reason: 400 for the PI (the reason is required), nothing changes
    "api-read-reopen": ("post", lambda i: {"pk": i["read"]}, S(401, 404, 403, 404, 400, 404)),
    "api-read-reassign": ("post", lambda i: {"pk": i["read"]}, S(401, 404, 403, 404, 400, 404)),
    "api-read-void": ("post", lambda i: {"pk": i["read"]}, S(401, 404, 403, 404, 400, 404)),
    "api-read-roi-list": ("get", lambda i: {"read_pk": i["read"]}, S(401, 404, 200, 404, 200, 404)),
    "api-read-roi-detail": (
        "get",
        lambda i: {"read_pk": i["read"], "pk": i["roi"]},
        S(401, 404, 200, 404, 200, 404),
    ),
    # Analytics dashboard and exports (PI only): pages redirect anonymous users, the API answers 401.
    **{
        name: ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 200, 404))
        for name in (
            "analytics-overview",
            "analytics-agreement",
            "analytics-table1",
            "analytics-groups",
            "analytics-roc",
            "analytics-correlation",
            "analytics-exports",
            "analytics-snapshot",
        )
    },
    "analytics-refresh": ("post", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 302, 404)),
    # The readers of the inter-rater ICC (#16): an empty POST keeps the default, every reader.
    "analytics-agreement-readers": ("post", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 302, 404)),
    "analytics-tables-xlsx": ("get", lambda i: {"study_id": i["study"]}, S(302, 404, 403, 403, 200, 404)),
    "analytics-export-csv": (
        "get",
        lambda i: {"study_id": i["study"], "kind": "roi_measurements"},
        S(302, 404, 403, 403, 200, 404),
    ),
    "analytics-table-csv": (
        "get",
        lambda i: {"study_id": i["study"], "section": "progress", "table": "progress"},
        S(302, 404, 403, 403, 200, 404),
    ),
    "analytics-figure": (
        "get",
        lambda i: {"study_id": i["study"], "name": "roc-op_vs_normal", "fmt": "svg"},
        S(302, 404, 403, 403, 200, 404),
    ),
    "api-analytics-sections": ("get", lambda i: {"study_id": i["study"]}, S(401, 404, 403, 403, 200, 404)),
    "api-analytics-section": (
        "get",
        lambda i: {"study_id": i["study"], "section": "agreement"},
        S(401, 404, 403, 403, 200, 404),
    ),
    "api-analytics-agreement-readers": (
        "get",
        lambda i: {"study_id": i["study"]},
        S(401, 404, 403, 403, 200, 404),
    ),
    "api-analytics-export": (
        "get",
        lambda i: {"study_id": i["study"], "kind": "scores"},
        S(401, 404, 403, 403, 200, 404),
    ),
    # The snapshot zip (#20): its state (and POST: build it), and the stored file (409 until built).
    "api-analytics-snapshot": ("get", lambda i: {"study_id": i["study"]}, S(401, 404, 403, 403, 200, 404)),
    "api-analytics-snapshot-zip": ("get", lambda i: {"study_id": i["study"]}, S(401, 404, 403, 403, 409, 404)),
    "admin": ("get", lambda i: {}, S(302, 302, 302, 302, 302, 200)),
}
URL_NAME_FOR_ROW = {"admin": "admin:index"}

# What each role sees in list endpoints (by object), beside the status.
VISIBLE = {
    "api-study-list": lambda w: {
        "anon": None,
        "outsider": set(),
        "reader": {w.study.pk},
        "other_reader": {w.study.pk},
        "pi": {w.study.pk},
        "admin": set(),
    },
    "api-read-list": lambda w: {
        "anon": None,
        "outsider": set(),
        "reader": {w.read.pk},
        "other_reader": {w.other_read.pk},
        "pi": {w.read.pk, w.other_read.pk},
        "admin": set(),
    },
}


def _all_url_names(patterns=None, ns=None):
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(p, URLResolver):
            yield from _all_url_names(p.url_patterns, p.namespace or ns)
        elif isinstance(p, URLPattern):
            yield f"{ns}:{p.name}" if ns else p.name


def test_every_url_has_a_row():
    names = set(_all_url_names())
    covered = {URL_NAME_FOR_ROW.get(k, k) for k in MATRIX}
    missing = sorted(n for n in names if not n.startswith("admin:") and n not in covered)
    assert not missing, f"URL patterns without a permission-matrix row: {missing}"
    assert None not in names, "every URL pattern needs a name"


def _client_for(role, w, client):
    user = {
        "anon": None,
        "outsider": w.outsider,
        "reader": w.reader,
        "other_reader": w.other_reader,
        "pi": w.pi,
        "admin": w.admin,
    }[role]
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_permission_matrix(name, role, world, client, settings):
    method, kwargs, expected = MATRIX[name]
    f.allow_study_creation(world.pi)  # as an admin grants it to a PI
    settings.PIXEL_LINK_SECRET = "matrix-link-secret" if name == "instance-file-linked" else ""
    if kwargs is None:  # a pixel-grant link or pixel link: the one series-detail gave the reader's session
        url, reader_client = _reader_granted_url(world)
        client = reader_client if role == "reader" else _client_for(role, world, client)
    else:
        url = reverse(URL_NAME_FOR_ROW.get(name, name), kwargs=kwargs(_ids(world)) or None)
        client = _client_for(role, world, client)
    response = getattr(client, method)(url)
    assert response.status_code == expected[role], (name, role, getattr(response, "content", b"")[:300])
    if name in VISIBLE and expected[role] == 200:
        visible = VISIBLE[name](world)[role]
        assert {obj["id"] for obj in response.json()} == visible


def _reader_granted_url(w):
    from django.test import Client

    reader_client = Client()
    reader_client.force_login(w.reader)
    series = reader_client.get(reverse("series-detail", args=[w.case.primary_series.pk])).json()
    return series["instances"][0]["url"], reader_client


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("prefix", ["/dicom/g/", "/dicom/s/"], ids=["grants", "pixel-links"])
def test_granted_links_per_role(role, prefix, world, client, settings):
    """Each role's own links: given (and opening) exactly where series-detail and read-viewer answer 200 — pixel
    grants, and pixel links when PIXEL_LINK_SECRET is set (nginx checks those in the deployment)."""
    settings.PIXEL_LINK_SECRET = "matrix-link-secret" if prefix == "/dicom/s/" else ""
    client = _client_for(role, world, client)
    detail = client.get(reverse("series-detail", args=[world.case.primary_series.pk]))
    assert detail.status_code == MATRIX["series-detail"][2][role]
    page = client.get(reverse("read-viewer", args=[world.read.pk]))
    assert (prefix in page.content.decode()) == (page.status_code == 200)
    if detail.status_code == 200:
        urls = [i["url"] for i in detail.json()["instances"]]
        assert urls and all(u.startswith(prefix) for u in urls)
        assert all(client.get(u).status_code == 200 for u in urls)


@pytest.mark.django_db
def test_redirects_to_login_never_for_dicom(world, client):
    """The viewer's XHR must get 401, not a login page."""
    response = client.get(reverse("instance-file", args=[world.case.primary_series.instances.first().pk]))
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
