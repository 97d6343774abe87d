"""The PI's analytics dashboard in real Chromium (Debian package) against the live server.

Every dashboard page of a scored demo-like study is opened as the PI: the page renders, every figure image
loads (SVG drawn by the server), every table has its CSV link, the tabs navigate, and the browser console
stays free of errors. Full-page screenshots go to ``test-artifacts/dashboard-*.png``.
"""

from __future__ import annotations

import pytest

from analytics.synthetic import synthetic_study
from tests import factories as f

from .conftest import ARTIFACTS, login

pytestmark = pytest.mark.e2e

PAGES = (
    ("overview", "", "Reading progress"),
    ("agreement", "agreement/", "Reliability (recommended ICC form)"),
    ("table1", "table1/", "Table 1. Characteristics of the subjects by WHO group"),
    ("groups", "groups/", "Scores by WHO group"),
    ("roc", "roc/", "ROC: Osteoporosis vs normal"),
    ("roc-op_vs_rest", "roc/?outcome=op_vs_rest", "ROC: Osteoporosis vs osteopenia + normal"),
    ("correlation", "correlation/", "Correlation with the reference standard"),
    ("exports", "exports/", "Analysis snapshot"),
)


@pytest.fixture(scope="module")
def dashboard_browser(chromium_session):
    """The session's Chromium without the viewer bundle requirement of the shared ``browser`` fixture."""
    return chromium_session


def test_every_dashboard_page_as_the_pi(dashboard_browser, live_server, transactional_db):
    pi = f.make_user("dash-pi")
    study = synthetic_study(n_cases=61, seed=20261123, pi=pi, name="VBQ vs QCT (dashboard e2e)").study
    context = dashboard_browser.new_context(  # bypass_csp: see tests/e2e/conftest.py (test_viewer_csp.py keeps the CSP)
        viewport={"width": 1440, "height": 1000}, base_url=live_server.url, bypass_csp=True
    )
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console: {m.text} @ {m.location.get('url')}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None,
    )
    try:
        login(page, pi.username)
        page.goto(f"/studies/{study.pk}/")
        page.click("text=Analytics")
        page.wait_for_url(f"**/studies/{study.pk}/analytics/")
        problems.clear()  # from here on only the dashboard counts (the login page has no favicon link)
        base = f"/studies/{study.pk}/analytics/"
        for name, path, heading in PAGES:
            page.goto(base + path, wait_until="networkidle")
            assert page.locator("h2", has_text=heading).first.is_visible(), name
            assert page.locator(".status.computing").count() == 0, name
            # Every table has its CSV download link.
            tables = page.locator("section.dash-table")
            for i in range(tables.count()):
                assert tables.nth(i).locator("a", has_text="CSV").count() == 1, name
            # Every figure loaded (the browser decoded the server's SVG).
            images = page.locator("figure.figure img")
            for i in range(images.count()):
                image = images.nth(i)
                image.scroll_into_view_if_needed()
                page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
            page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)
        # The tabs navigate, and the active tab is marked for assistive technology.
        page.click("nav.tabs >> text=Agreement")
        page.wait_for_url("**/analytics/agreement/")
        assert page.locator('nav.tabs a[aria-current="page"]').inner_text() == "Agreement"
        # The ROC outcome selector.
        page.goto(base + "roc/", wait_until="networkidle")
        page.select_option("#outcome", "low_vs_normal")
        page.click("form.outcome button")
        page.wait_for_url("**/roc/?outcome=low_vs_normal")
        assert page.locator("h2", has_text="Osteopenia + osteoporosis vs normal").first.is_visible()
        # The collapsed table of all six ICC forms opens.
        page.goto(base + "agreement/", wait_until="networkidle")
        page.click("summary:has-text('All six ICC forms')")
        assert page.locator("#table-icc_forms tr.recommended").first.is_visible()
        page.screenshot(path=str(ARTIFACTS / "dashboard-agreement-forms.png"), full_page=True)
    finally:
        context.close()
    assert problems == []
