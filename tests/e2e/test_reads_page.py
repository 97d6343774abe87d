"""The PI's reads page in real Chromium (Debian package): reopen and reassign a read from the UI, with a reason.

No JavaScript is involved (plain forms), so the page runs under the site's real Content-Security-Policy.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from studies.models import AuditEvent, Case, Read
from tests import factories as f

from .conftest import ARTIFACTS, login

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def reads_browser(chromium_session):
    """The session's Chromium without the viewer bundle requirement of the shared ``browser`` fixture."""
    return chromium_session


@pytest.fixture
def pi_page(reads_browser, live_server, transactional_db):
    pi = f.make_user("reads-pi")
    study = f.make_study(pi, name="Reads e2e")
    alice, bob = f.make_user("alice"), f.make_user("bob")
    f.add_member(study, alice)
    f.add_member(study, bob)
    case = Case.objects.create(study=study, subject_code="VBQ-101")
    other = Case.objects.create(study=study, subject_code="VBQ-102")
    now = timezone.now()
    read = f.make_read(case, alice, status=Read.Status.SUBMITTED, started_at=now, submitted_at=now)
    f.make_read(other, alice, order_index=1)
    f.make_read(other, bob)
    context = reads_browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=live_server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        login(page, pi.username)
        page.goto(f"/studies/{study.pk}/")
        page.click("a:text-is('Reads')")
        page.wait_for_url(f"**/studies/{study.pk}/reads/")
        errors.clear()  # from here on only the reads page counts (the login page has no favicon link)
        yield page, study, read, bob
        assert errors == []
    finally:
        context.close()


def _row(page, read):
    return page.locator(f'tr[data-read="{read.pk}"]')


def test_reopen_from_the_reads_page(pi_page):
    page, _study, read, _ = pi_page
    row = _row(page, read)
    assert row.locator("[data-status]").inner_text() == "Submitted"
    row.locator("select[name=action]").select_option("reopen")
    row.locator("input[name=reason]").fill("L3 on the wrong slice")
    row.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert _row(page, read).locator("[data-status]").inner_text() == "In progress"
    page.screenshot(path=str(ARTIFACTS / "reads-reopen.png"), full_page=True)
    read.refresh_from_db()
    assert read.status == Read.Status.IN_PROGRESS
    assert AuditEvent.objects.get(action="read.reopen").data["reason"] == "L3 on the wrong slice"


def test_reassign_from_the_reads_page(pi_page):
    page, _study, read, bob = pi_page
    row = _row(page, read)
    row.locator("select[name=action]").select_option("reassign")
    row.locator("select[name=reader]").select_option(label="bob")
    # the reason is required: the browser does not send the form without it
    row.locator("button[type=submit]").click()
    assert Read.objects.get(pk=read.pk).status == Read.Status.SUBMITTED
    row.locator("input[name=reason]").fill("alice left the study")
    row.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert _row(page, read).locator("[data-status]").inner_text() == "Voided"
    assert "alice left the study" in _row(page, read).inner_text()
    new = Read.objects.get(case=read.case, reader=bob)
    assert new.order_index == 1  # after bob's one earlier read
    new_row = _row(page, new)
    assert "bob" in new_row.inner_text() and new_row.locator("[data-status]").inner_text() == "Not started"
    page.screenshot(path=str(ARTIFACTS / "reads-reassign.png"), full_page=True)
