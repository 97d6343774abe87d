"""A reader downloads the DICOM SR of their own submitted read from their worklist and the view-only viewer
(#19 point 4): the link is shown exactly where ``api-read-sr`` answers 200 to them — never for a read hidden by
blinding (a later read of the same case is open: the API's 403), nor for a read not submitted yet."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from studies.models import Read
from tests import factories as f
from tests.scoring_tests.test_sr_api import scene  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def _worklist(client, user, study) -> str:
    client.force_login(user)
    response = client.get(reverse("study-detail", args=[study.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_reader_gets_the_sr_of_their_visible_submitted_read(client, scene):  # noqa: F811
    link = reverse("api-read-sr", args=[scene.read.pk])
    page = _worklist(client, scene.reader, scene.study)
    assert f'href="{link}" download data-role="read-sr"' in page
    assert reverse("api-read-sr", args=[scene.other_read.pk]) not in page  # another reader's read
    assert client.get(link).status_code == 200  # the link works: the reader's blinded SR
    viewer = client.get(reverse("read-viewer", args=[scene.read.pk])).content.decode()
    assert f'href="{link}" download data-read-sr' in viewer


def test_no_link_for_a_read_hidden_by_blinding_or_not_submitted(client, scene):  # noqa: F811
    later = f.make_read(scene.case, scene.reader, read_number=2, available_from=timezone.now())
    page = _worklist(client, scene.reader, scene.study)
    assert 'data-role="round-hidden"' in page  # read 1 is hidden while read 2 is open
    assert reverse("api-read-sr", args=[scene.read.pk]) not in page and 'data-role="read-sr"' not in page
    assert client.get(reverse("api-read-sr", args=[scene.read.pk])).status_code == 403  # what a link would get
    viewer = client.get(reverse("read-viewer", args=[later.pk])).content.decode()  # read 2: open, not submitted
    assert "data-read-sr" not in viewer and reverse("api-read-sr", args=[later.pk]) not in viewer

    Read.objects.filter(pk=later.pk).delete()
    Read.objects.filter(pk=scene.read.pk).update(status=Read.Status.IN_PROGRESS, submitted_at=None)
    page = _worklist(client, scene.reader, scene.study)
    assert reverse("read-viewer", args=[scene.read.pk]) in page and 'data-role="read-sr"' not in page


def test_the_pi_viewer_links_the_sr_of_any_submitted_read(client, scene):  # noqa: F811
    client.force_login(scene.pi)
    viewer = client.get(reverse("read-viewer", args=[scene.other_read.pk])).content.decode()
    assert f'href="{reverse("api-read-sr", args=[scene.other_read.pk])}" download data-read-sr' in viewer
