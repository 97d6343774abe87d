"""Schema-driven API fuzzing: nothing a user sends may answer 5xx (issue #22).

Every operation of the drf-spectacular OpenAPI schema is called by schemathesis through the Django WSGI app,
in-process, as the study's PI and as one of its readers (token auth), with requests that fit the schema
("positive") and requests that do not ("negative"), once with the path pointing at real objects of the
``world`` fixture (the study, the reader's read and ROI) and once with generated path values. Each call runs
in a savepoint that is rolled back, so every request meets the same world. The example count per
(operation, role, mode, path kind) is ``VBQ_FUZZ_EXAMPLES`` (default 6) and generation is derandomised, so a
CI run is reproducible; raise the count locally to dig deeper. All 5xx answers are collected and listed.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from rest_framework.throttling import UserRateThrottle
from schemathesis import GenerationMode

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("VBQ_FUZZ_EXAMPLES", "6"))


def _schema() -> dict:
    # Generated in-process (no request, no network): exactly what /api/schema/ serves.
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(json.dumps(raw, default=str))


def _real_path(path: str, world, analytics: dict) -> dict[str, list]:
    """Path parameters that name objects of the world (the reader's read and ROI, the study, its analytics)."""
    if path.startswith("/api/reads/{read_pk}/rois/"):
        return {"read_pk": [world.read.pk], "id": [world.roi.pk]}
    if path.startswith("/api/reads/{id}"):
        return {"id": [world.read.pk]}
    if path.startswith("/api/analytics/studies/"):
        return {"study_id": [world.study.pk], **analytics}
    if path.startswith("/api/studies/{id}"):
        membership = world.study.memberships.get(user=world.reader)
        return {"id": [world.study.pk], "case_id": [world.case.pk], "membership_id": [membership.pk]}
    return {}


@pytest.fixture
def analytics(client, world) -> dict[str, list[str]]:
    """The study's analytics section and export names, as its section list announces them."""
    client.force_login(world.pi)
    listing = client.get(f"/api/analytics/studies/{world.study.pk}/").json()
    client.logout()
    sections = sorted({s["url"].split("?")[0].rstrip("/").rsplit("/", 1)[-1] for s in listing["sections"]})
    return {"section": sections or ["summary"], "kind": sorted(listing["exports"]) or ["scores"]}


def _with_path(strategy, choices: dict[str, list]):
    """``strategy`` with the path parameters in ``choices`` drawn from their real values."""

    def override(pair):
        case, values = pair
        case.path_parameters = {**(case.path_parameters or {}), **values}
        return case

    draws = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in choices.items()})
    return st.tuples(strategy, draws).map(override)


@pytest.fixture
def wsgi_app(settings, monkeypatch, analytics):  # after ``analytics``: the test client reconnects the signals
    settings.ALLOWED_HOSTS = ["*"]
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": None})  # no 429 from thousands of calls
    # As Django's test client does: the handler must not close the test's connection between requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


TALLY: dict = {}


def _fuzz(strategy, role: str, key: str, failures: list[str]) -> int:
    """Send ``EXAMPLES`` generated requests as ``role``; append every 5xx to ``failures``; return the count."""
    calls = 0

    @hyp_settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case):
        nonlocal calls
        calls += 1
        sid = transaction.savepoint()
        try:
            response = case.call(headers={"Authorization": f"Token {key}"})
            status, text = response.status_code, response.text[:300]
        except Exception as exc:  # the app raised instead of answering
            status, text = 599, repr(exc)[:300]
        finally:
            transaction.savepoint_rollback(sid)
        TALLY.setdefault(f"{case.method} {case.path} {role}", []).append(status)
        if status >= 500:
            body = case.body[:80] if isinstance(case.body, bytes) else case.body
            failures.append(
                f"{role}: {case.method} {case.formatted_path} query={case.query!r} "
                f"body={str(body)[:200]} -> {status} {text}"
            )

    try:
        run()
    except Unsatisfiable:
        pass  # e.g. no negative request exists for an operation whose only parameters are fixed
    return calls


def test_no_request_answers_5xx(world, analytics, wsgi_app):
    schema = schemathesis.openapi.from_dict(_schema())
    schema.app = wsgi_app
    tokens = {
        "pi": Token.objects.create(user=world.pi).key,
        "reader": Token.objects.create(user=world.reader).key,
    }
    failures: list[str] = []
    calls = 0
    operations = 0
    started = time.monotonic()

    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        real = {k: v for k, v in _real_path(operation.path, world, analytics).items() if f"{{{k}}}" in operation.path}
        for role, key in tokens.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                for use_real in (True, False) if real else (False,):
                    fixed = {k: v[0] for k, v in real.items()} if use_real else None
                    strategy = operation.as_strategy(mode, path_parameters=fixed)
                    choices = {k: v for k, v in real.items() if len(v) > 1}
                    if use_real and choices:
                        strategy = _with_path(strategy, choices)
                    calls += _fuzz(strategy, role, key, failures)

    elapsed = time.monotonic() - started
    statuses = sorted({code for codes in TALLY.values() for code in codes})
    print("statuses:", {code: sum(codes.count(code) for codes in TALLY.values()) for code in statuses})
    print(f"\nAPI fuzz: {operations} operations, {calls} requests, {len(failures)} 5xx, {elapsed:.0f} s")
    assert operations >= 30, f"only {operations} operations in the schema"
    assert not failures, f"{len(failures)} request(s) answered 5xx:\n" + "\n".join(failures[:50])
