"""Shared fixtures: media in a temp dir, a study with a PI, two readers, an outsider and an admin."""

from __future__ import annotations

import os

import pytest

from tests import factories as f

REQUIRE_SERVICES = os.environ.get("VBQ_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"


def skip_or_fail(reason: str) -> None:
    """Skip a test whose real component is missing — but fail in CI, where it must be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required component missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.UPLOAD_ROOT = tmp_path / "media" / "uploads"  # as in production: on the storage workers share
    # Fast hashing: the suite creates many accounts; production keeps Django's PBKDF2 default.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The tests' PACS (Orthanc, tests/dicom_net/) and their "server that is down" listen on loopback, which the
    # server refuses by default (studies/services/remote_urls.py): allowed here by name, as an administrator would.
    settings.DICOMWEB_ALLOW_HOSTS = ["127.0.0.1"]
    from django.core.cache import cache

    cache.clear()  # throttle counts (DRF) start at zero in every test


@pytest.fixture
def world(db):
    """A study with PI, two readers (each with a read of the one case), an outsider and a site admin."""
    pi = f.make_user("pi")
    study = f.make_study(pi, name="VBQ vs QCT")
    reader = f.make_user("reader")
    other_reader = f.make_user("other_reader")
    f.add_member(study, reader)
    f.add_member(study, other_reader)
    outsider = f.make_user("outsider")
    admin = f.make_user("admin", is_staff=True, is_superuser=True)
    case = f.make_case(study, "VBQ-001")
    read = f.make_read(case, reader)
    other_read = f.make_read(case, other_reader)
    roi = f.make_roi(read, "L1")
    other_roi = f.make_roi(other_read, "L1")
    return type(
        "World",
        (),
        dict(
            pi=pi,
            study=study,
            reader=reader,
            other_reader=other_reader,
            outsider=outsider,
            admin=admin,
            case=case,
            read=read,
            other_read=other_read,
            roi=roi,
            other_roi=other_roi,
        ),
    )


@pytest.fixture
def broker_down(settings):
    """The broker URL points at a closed port (as a broker that is down); tasks are not run in-process."""
    from vbqsite.celery import app

    saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url="redis://127.0.0.1:1/0", task_always_eager=False)
    app._pool, app.amqp._producer_pool = None, None
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    yield
    app.conf.update(saved)
    app._pool, app.amqp._producer_pool = None, None
