"""A reader turns off a reminder on the e-mail settings page in real Chromium (Debian package); the sweep obeys.

The page is a plain form (no JavaScript), so it runs under the site's real Content-Security-Policy (no
``bypass_csp``), in the session's one shared Chromium.
"""

from __future__ import annotations

import pytest

from notifications.models import NotificationPreference
from notifications.read_opened import read_opened_notify
from tests.notifications_tests.helpers import repeat_study

from .conftest import ARTIFACTS, login

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(chromium_session, live_server, transactional_db):
    context = chromium_session.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # the pages link no favicon: Chromium's own request for /favicon.ico (404) is not the page's error
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
            else None
        ),
    )
    try:
        yield page
        assert errors == []
    finally:
        context.close()


def test_a_reader_turns_off_the_repeat_read_reminder(page, mailoutbox):
    w = repeat_study(n_cases=2)  # alice's two second reads opened a day ago
    login(page, "alice")
    page.click("header a:text-is('E-mail settings')")
    page.wait_for_url("**/account/email/")
    box = page.get_by_label("Cases ready for a repeat read")
    assert box.is_checked()
    # the help text says what the e-mail is, and is tied to the checkbox for screen readers
    help_id = box.get_attribute("aria-describedby")
    assert "after the washout" in page.locator(f"#{help_id}").inner_text()
    box.uncheck()
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert page.locator(".messages").inner_text() == "E-mail settings saved."
    page.reload()
    assert not page.get_by_label("Cases ready for a repeat read").is_checked()
    assert page.get_by_label("Changes the PI makes to my reads").is_checked()
    page.screenshot(path=str(ARTIFACTS / "notification-preferences.png"), full_page=True)

    prefs = NotificationPreference.objects.get(user=w.alice)
    assert (prefs.read_opened, prefs.read_changed, prefs.daily_digest) == (False, True, True)
    assert read_opened_notify() == {"reads": 2, "off": 1}
    assert mailoutbox == []
