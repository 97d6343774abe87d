"""The e-mail settings page: every signed-in user turns each kind of e-mail on or off; the e-mails honour it."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils.html import escape

from notifications.kinds import KINDS
from notifications.models import NotificationPreference
from notifications.read_opened import read_opened_notify

from .helpers import repeat_study

pytestmark = pytest.mark.django_db

URL = "/account/email/"


def test_the_url():
    assert reverse("notification-preferences") == URL


def test_anonymous_is_sent_to_the_login_page(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("role", ["reader", "other_reader", "pi", "outsider", "admin"])
def test_every_user_sees_the_labelled_choices_all_on_by_default(world, client, role):
    user = getattr(world, role)
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    for kind in KINDS:
        # the checkbox inside its label, described by its help text
        assert re.search(
            rf'<label><input type="checkbox" name="{kind.key}" aria-describedby="id_{kind.key}_helptext" '
            rf'id="id_{kind.key}" checked> {kind.label}</label>\s*'
            rf'<div class="helptext" id="id_{kind.key}_helptext">{re.escape(escape(str(kind.help_text)))}</div>',
            html,
        ), kind.key
    assert html.count("checked") == len(KINDS)
    assert f"<strong>{user.email}</strong>" in html
    assert 'href="/account/email/">E-mail settings</a>' in html  # in the header, on every page


def test_saving_turns_one_kind_off_for_this_user_only(world, client):
    client.force_login(world.reader)
    response = client.post(URL, {"read_changed": "on", "daily_digest": "on"})  # read_opened unticked
    assert response.status_code == 302 and response["Location"] == URL
    prefs = NotificationPreference.objects.get(user=world.reader)
    assert (prefs.read_opened, prefs.read_changed, prefs.daily_digest) == (False, True, True)
    assert not NotificationPreference.objects.filter(user=world.other_reader).exists()
    page = client.get(URL).content.decode()
    assert "E-mail settings saved." in page
    assert page.count("checked") == 2
    # and back on
    client.post(URL, {"read_opened": "on", "read_changed": "on", "daily_digest": "on"})
    assert NotificationPreference.objects.get(user=world.reader).read_opened is True
    assert NotificationPreference.objects.count() == 1


def test_a_user_without_an_address_is_told(world, client):
    world.reader.email = ""
    world.reader.save()
    client.force_login(world.reader)
    assert "Your account has no e-mail address" in client.get(URL).content.decode()


def test_the_choice_is_honoured_per_user():
    w = repeat_study(n_cases=2)
    NotificationPreference.objects.create(user=w.bob, read_opened=False)  # bob's choice does not affect alice
    assert read_opened_notify() == {"reads": 2, "sent": 1}
    assert [m.to for m in mail.outbox] == [["alice@example.org"]]
