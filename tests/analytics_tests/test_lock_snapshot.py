"""Locking a study builds its analysis snapshot at once; afterwards it is served frozen."""

import pytest
from django.urls import reverse

from analytics.digests import SNAPSHOT
from analytics.models import AnalysisCache

pytestmark = pytest.mark.django_db


def test_lock_builds_the_snapshot(world, client, django_capture_on_commit_callbacks):
    client.force_login(world.pi)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("api-study-lock", args=[world.study.pk])).status_code == 200
    row = AnalysisCache.objects.filter(study=world.study, section=SNAPSHOT, status=AnalysisCache.Status.DONE)
    assert row.exists(), list(AnalysisCache.objects.values("section", "status"))
