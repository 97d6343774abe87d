"""The pages under the site's Content-Security-Policy, as a browser enforces it: zero console errors.

The other browser tests bypass the CSP (Playwright's wait_for_function needs 'unsafe-eval'); this one does not,
and only waits with selectors and page.evaluate (DevTools evaluation, which the CSP does not govern).
"""

from __future__ import annotations

import time

import pytest

from studies.models import Read, Roi
from tests import factories as f

from .conftest import login, until, watch

pytestmark = pytest.mark.e2e


def _assert_strict_csp(response) -> None:
    policy = response.headers.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert directives.get("script-src", [None])[0] == "'self'", policy
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert directives.get("object-src") == ["'none'"] and directives.get("frame-ancestors") == ["'none'"]


def test_the_viewer_works_under_the_csp_with_no_console_error(reading_study, browser, live_server):
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=live_server.url)
    try:
        page = context.new_page()
        problems = watch(page)
        login(page, "reader")
        read = Read.objects.filter(reader=reading_study.reader, read_number=1).order_by("order_index").first()
        problems.clear()  # the login page has no favicon (404); the viewer page must be clean
        response = page.goto(f"/reads/{read.pk}/")
        _assert_strict_csp(response)
        page.wait_for_selector('body[data-ready="1"], body[data-error]', state="attached", timeout=30_000)
        assert not page.evaluate("document.body.dataset.error"), problems
        # The image was decoded (the codec worker and its WebAssembly ran) and drawn.
        assert until(page, "window.__viewer && window.__viewer.viewport.getCurrentImageId()")
        # Draw one ROI with the mouse: it autosaves through the API (connect-src 'self').
        page.keyboard.press("1")
        box = page.locator("#viewport").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.keyboard.press("r")
        page.mouse.move(cx - 20, cy - 15)
        page.mouse.down()
        page.mouse.move(cx + 20, cy + 15, steps=5)
        page.mouse.up()
        until(page, "document.body.dataset.saveState === 'saved'")
        deadline = time.monotonic() + 15
        while not Roi.objects.filter(read=read).exists() and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert Roi.objects.filter(read=read).exists(), problems
        page.wait_for_load_state("networkidle")
        assert problems == [], f"console errors under the CSP: {problems}"
    finally:
        context.close()


def test_site_pages_and_api_docs_work_under_the_csp(reading_study, browser, live_server):
    """The PI's pages (study, imports, cases, the analytics dashboard) and Swagger UI from our static files."""
    from studies.models import ImportJob

    study = reading_study.study
    job = ImportJob.objects.create(study=study, created_by=reading_study.pi, source="/nonexistent.zip")
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=live_server.url)
    try:
        page = context.new_page()
        problems = watch(page)
        login(page, reading_study.pi.username, f.PASSWORD)
        problems.clear()
        for path in (
            f"/studies/{study.pk}/",
            f"/studies/{study.pk}/imports/{job.pk}/",  # a queued job: its progress script runs
            f"/studies/{study.pk}/cases/",
            f"/studies/{study.pk}/analytics/",
        ):
            _assert_strict_csp(page.goto(path, wait_until="networkidle"))
        response = page.goto("/api/docs/", wait_until="networkidle")
        _assert_strict_csp(response)
        assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page.content()
        until(page, "document.querySelectorAll('#swagger-ui .opblock').length > 0")  # the UI rendered the schema
        assert problems == [], f"console errors under the CSP: {problems}"
    finally:
        context.close()
