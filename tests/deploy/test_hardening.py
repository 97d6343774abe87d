"""Hardening (#21): login lockout on every login path, throttles, security headers, who may see the API schema
and create a study, and `manage.py check --deploy` clean with the HTTPS settings on."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from cryptography.fernet import Fernet
from django.urls import reverse

from studies.models import Membership, Study
from tests import factories as f

ROOT = Path(__file__).resolve().parents[2]
WRONG = "not-the-password"


def _login_page(client, path: str, username: str, password: str):
    client.get(path)
    return client.post(path, {"username": username, "password": password})


def _token(client, username: str, password: str):
    return client.post(reverse("api-token"), {"username": username, "password": password})


def _attempt(client, kind: str, username: str, password: str):
    if kind == "token":
        return _token(client, username, password)
    return _login_page(client, "/login/" if kind == "page" else "/admin/login/", username, password)


def _logged_in(client, kind: str, response) -> bool:
    if kind == "token":
        return response.status_code == 200 and "token" in response.json()
    return response.status_code == 302 and "_auth_user_id" in client.session


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["page", "admin", "token"])
def test_the_sixth_attempt_after_five_wrong_passwords_is_refused_even_with_the_right_one(kind, client, settings):
    user = f.make_user("victim", is_staff=True)  # staff: may log in to /admin/ too
    answers = [_attempt(client, kind, user.username, WRONG).status_code for _ in range(5)]
    assert answers[:4] == [400 if kind == "token" else 200] * 4, answers  # the form / API says "wrong password"
    assert answers[4] == 429, answers  # the 5th failure locks
    assert _attempt(client, kind, user.username, WRONG).status_code == 429  # 6th: refused
    right = _attempt(client, kind, user.username, f.PASSWORD)
    assert right.status_code == 429 and not _logged_in(client, kind, right)  # right password, still refused
    assert "too many login attempts" in right.content.decode().lower()

    # Another account from the same address is not locked (lockout by username + address).
    other = f.make_user("bystander", is_staff=True)
    assert _logged_in(client, kind, _attempt(client, kind, other.username, f.PASSWORD))

    # After the cool-off the right password works again.
    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.first().attempt_time - timedelta(hours=1))
    client.logout()
    assert _logged_in(client, kind, _attempt(client, kind, user.username, f.PASSWORD))


@pytest.mark.django_db
def test_failures_on_one_login_path_count_on_the_others(client):
    user = f.make_user("spread")
    for kind in ("page", "admin", "token", "page"):
        _attempt(client, kind, user.username, WRONG)
    assert _attempt(client, "token", user.username, WRONG).status_code == 429
    assert _attempt(client, "page", user.username, f.PASSWORD).status_code == 429


@pytest.mark.django_db
def test_the_token_endpoint_is_throttled_per_client(client):
    from rest_framework.throttling import ScopedRateThrottle

    limit = int(ScopedRateThrottle.THROTTLE_RATES["login"].split("/")[0])
    # Different unknown usernames: no lockout, only the throttle counts.
    codes = [_token(client, f"nobody{i}", WRONG).status_code for i in range(limit + 1)]
    assert codes[:limit] == [400] * limit and codes[limit] == 429, codes


@pytest.mark.django_db
def test_security_headers_on_pages_and_api(client):
    for url in ("/login/", reverse("api-root")):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
        assert directives["script-src"] == ["'self'", "'wasm-unsafe-eval'"], policy  # no inline script, no eval
        assert directives["default-src"] == ["'self'"] and directives["style-src"] == ["'self'"], policy
        assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"], policy
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_no_template_has_an_inline_script():
    """Every <script> loads a file (or is json_script data, which is not executed): the CSP allows no other."""
    for template in (ROOT / "templates").rglob("*.html"):
        for tag in re.findall(r"<script\b[^>]*>", template.read_text()):
            assert "src=" in tag or 'type="application/json"' in tag, f"{template}: inline script {tag}"
            assert not re.search(r"\son\w+=", tag), f"{template}: event handler attribute in {tag}"
        assert not re.search(r"\son(click|load|change|submit|input)=", template.read_text()), template


@pytest.mark.django_db
def test_api_schema_and_docs_are_for_logged_in_users_and_docs_load_from_our_static_files(client):
    assert client.get(reverse("api-schema")).status_code == 401
    docs = client.get(reverse("api-docs"))
    assert docs.status_code == 302 and "/login/" in docs["Location"]
    client.force_login(f.make_user("someone"))
    assert client.get(reverse("api-schema")).status_code == 200
    page = client.get(reverse("api-docs")).content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "https://" not in page
    assert not re.search(r"<script>(?!\s*</script>)", page), "the init script must be a separate file"
    script = client.get(reverse("api-docs") + "?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")


@pytest.mark.django_db
def test_only_users_an_admin_allowed_create_studies_on_the_page_and_the_api(client):
    reader = f.make_user("just-a-reader")
    client.force_login(reader)
    assert client.get(reverse("study-create")).status_code == 403
    assert client.post(reverse("study-create"), {"name": "Nope"}).status_code == 403
    api = client.post(reverse("api-study-list"), data=json.dumps({"name": "Nope"}), content_type="application/json")
    assert api.status_code == 403 and "Can add study" in api.json()["detail"]
    assert "New study" not in client.get(reverse("study-list")).content.decode()
    assert not Study.objects.filter(name="Nope").exists()

    allowed = f.allow_study_creation(f.make_user("allowed-pi"))
    client.force_login(allowed)
    assert "New study" in client.get(reverse("study-list")).content.decode()
    created = client.post(reverse("api-study-list"), data=json.dumps({"name": "Yes"}), content_type="application/json")
    assert created.status_code == 201, created.content
    assert Membership.objects.get(study_id=created.json()["id"], user=allowed).role == Membership.Role.PI

    client.force_login(f.make_user("root", is_staff=True, is_superuser=True))
    assert client.get(reverse("study-create")).status_code == 200


def test_check_deploy_is_clean_with_debug_off_and_the_https_settings_on(tmp_path):
    import secrets

    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "VBQ_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEID_SECRET": secrets.token_urlsafe(50),
        "VBQ_MAPPING_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "vbq.example.org",
        "HTTPS": "true",
        "SECURE_HSTS_PRELOAD": "true",
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout, result.stdout
