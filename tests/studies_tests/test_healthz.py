import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_healthz_reports_database_and_in_process_tasks(client, settings):
    settings.CELERY_BROKER_URL = ""
    body = client.get(reverse("healthz")).json()
    assert body["ok"] is True
    assert body["database"]["ok"] is True
    assert body["broker"]["mode"].startswith("in-process")


@pytest.mark.django_db
def test_healthz_reports_unreachable_broker(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    from vbqsite.celery import app

    saved = app.conf.broker_url
    app.conf.broker_url = settings.CELERY_BROKER_URL
    try:
        response = client.get(reverse("healthz"))
    finally:
        app.conf.broker_url = saved
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False
