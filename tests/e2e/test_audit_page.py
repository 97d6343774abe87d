"""The PI's audit trail in Chromium: filtering by reader and action changes the rows shown."""

from __future__ import annotations

import pytest

from studies.services.audit import audit_log
from tests import factories as f
from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e


def test_audit_page_filters(context, transactional_db):
    pi = f.make_user("pi")
    study = f.make_study(pi, name="Audit E2E")
    ann, bob = f.make_user("ann"), f.make_user("bob")
    f.add_member(study, ann)
    f.add_member(study, bob)
    for user, action, n in ((ann, "roi.create", 3), (ann, "read.submit", 1), (bob, "roi.create", 2)):
        for _ in range(n):
            audit_log(study=study, user=user, action=action, obj=study)

    page = context.new_page()
    login(page, "pi")
    page.goto(f"/studies/{study.pk}/")
    page.click("text=Audit trail")
    page.wait_for_selector("#audit-rows")
    assert page.locator("tr.audit-row[data-user='ann']").count() == 4
    assert page.locator("tr.audit-row[data-user='bob']").count() == 2

    page.select_option("#audit-user", "ann")
    page.select_option("#audit-action", "roi.create")
    page.click("#audit-filters button[type=submit]")
    page.wait_for_url("**user=ann**")
    rows = page.locator("tr.audit-row")
    assert rows.count() == 3
    assert {(rows.nth(i).get_attribute("data-user"), rows.nth(i).get_attribute("data-action")) for i in range(3)} == {
        ("ann", "roi.create")
    }

    page.select_option("#audit-user", "bob")
    page.click("#audit-filters button[type=submit]")
    page.wait_for_url("**user=bob**")
    assert page.locator("tr.audit-row").count() == 2
    assert page.locator("tr.audit-row[data-user='ann']").count() == 0
