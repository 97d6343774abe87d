"""The agreement tab's sample-size form: every field has a label tied to its input and a line of help (#17)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from analytics.pages import SAMPLE_SIZE_FIELDS, SAMPLE_SIZE_HELP

pytestmark = pytest.mark.django_db


def test_sample_size_fields_have_labels_and_help(world, client):
    assert set(SAMPLE_SIZE_HELP) == set(SAMPLE_SIZE_FIELDS)
    client.force_login(world.pi)
    body = client.get(reverse("analytics-agreement", kwargs={"study_id": world.study.pk})).content.decode()
    for name, (label, _default, _kind) in SAMPLE_SIZE_FIELDS.items():
        assert f'<label for="id_ss_{name}">{label}</label>' in body
        assert f'aria-describedby="ss_{name}_help"' in body
        assert f'<span class="helptext" id="ss_{name}_help">{SAMPLE_SIZE_HELP[name]}</span>' in body
