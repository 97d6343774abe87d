"""Next-case prefetch (issue #18 point 8) in real Chromium (Debian package): once a case shows, the viewer fetches the
next case's series payload and all its slices before the reader submits; after Submit the next page asks for the
very same links and the browser answers them from its cache. With prefetch turned off (the bench's baseline) the
next case is not touched. A request log, not a timed test: the timings are bench/viewer_speed.py's."""

from __future__ import annotations

import pytest

from studies.models import Read

from .test_reader_side import _draw_all, _first_reads, _reader_page
from .test_viewer import open_viewer

pytestmark = pytest.mark.e2e

PREFETCH_SETTLED = "['done', 'off', 'failed'].includes(document.body.dataset.prefetch)"


def test_next_case_slices_are_requested_before_submit_and_served_from_the_cache(reading_study, context):
    rs = reading_study
    first, second = _first_reads(rs)[:2]
    _draw_all(rs, first)  # a complete case: Submit is one click
    next_series = second.case.primary_series
    page, console = _reader_page(context, rs)
    log: list[tuple[str, str]] = []  # (method, url) in the order Chromium sent them
    page.on("request", lambda r: log.append((r.method, r.url)))

    page.goto(f"/reads/{first.pk}/")
    open_viewer(page, console)
    cfg = page.evaluate("JSON.parse(document.getElementById('viewer-config').textContent)")
    assert cfg["nextUrl"] == f"/reads/{second.pk}/"
    assert cfg["nextSeriesUrl"] == f"/dicom/series/{next_series.pk}/"
    page.wait_for_function(PREFETCH_SETTLED, timeout=30_000)
    assert page.evaluate("document.body.dataset.prefetch") == "done"
    handover = page.evaluate("JSON.parse(sessionStorage.getItem('vbq.viewer.prefetched'))")
    assert handover["seriesId"] == next_series.pk
    prefetched = set(handover["urls"].values())
    assert len(handover["urls"]) == next_series.instances.count() == len(rs.geometry[second.case.subject_code].files)
    current = {i["url"] for i in cfg["series"]["instances"]}
    assert not prefetched & current  # the next case's own links (its own pixel grant)

    page.wait_for_function("!document.getElementById('vw-submit').disabled", timeout=15_000)
    page.click("#vw-submit")
    page.wait_for_url(f"**/reads/{second.pk}/")
    open_viewer(page, console)

    # Request log: the series payload and every slice of the next case went out before the submit did.
    origin = page.url.split("/reads/", 1)[0]
    submit_at = log.index(("POST", origin + cfg["submitApi"]))
    before = [url for _, url in log[:submit_at]]
    assert any(url.endswith(cfg["nextSeriesUrl"]) for url in before)
    assert {url.split("://", 1)[1].split("/", 1)[1] for url in before} >= {u.lstrip("/") for u in prefetched}

    # The next page took the handed-over links and the browser's cache answered them (nothing transferred).
    assert Read.objects.get(pk=first.pk).status == Read.Status.SUBMITTED
    assert page.evaluate("document.body.dataset.prefetchedUsed") == str(len(prefetched))
    shown = page.evaluate("window.__viewer.state.imageIds.map((id) => new URL(id.slice('wadouri:'.length)).pathname)")
    assert set(shown) == prefetched
    entries = page.evaluate(
        """() => performance.getEntriesByType('resource')
            .filter((e) => e.name.includes('/dicom/g/')).map((e) => [new URL(e.name).pathname, e.transferSize])"""
    )
    assert entries and all(size == 0 for path, size in entries if path in prefetched), entries
    assert page.evaluate("document.body.dataset.firstImageMs") is not None
    assert not console, console


def test_with_prefetch_off_the_next_case_is_not_requested(reading_study, context):
    rs = reading_study
    first, second = _first_reads(rs)[:2]
    page, console = _reader_page(context, rs)
    log: list[str] = []
    page.on("request", lambda r: log.append(r.url))

    page.goto(f"/reads/{first.pk}/?prefetch=0")  # stored in this browser: the bench's baseline
    open_viewer(page, console)
    page.wait_for_function(PREFETCH_SETTLED, timeout=30_000)
    assert page.evaluate("document.body.dataset.prefetch") == "off"
    assert page.evaluate("localStorage.getItem('vbq.viewer.prefetch')") == "off"
    page.wait_for_timeout(1500)  # long after the prefetch would have started (an idle callback, ≤ 1 s)
    assert not any(f"/dicom/series/{second.case.primary_series_id}/" in url for url in log)

    page.goto(f"/reads/{first.pk}/?prefetch=1")  # and on again
    open_viewer(page, console)
    page.wait_for_function(PREFETCH_SETTLED, timeout=30_000)
    assert page.evaluate("document.body.dataset.prefetch") == "done"
    assert any(f"/dicom/series/{second.case.primary_series_id}/" in url for url in log)
    assert not console, console


def test_a_hand_over_left_by_another_user_of_the_tab_is_not_used(reading_study, context):
    """A logout and another login in the same tab keep sessionStorage: the previous user's links (another
    session's pixel grants, 403 for this one) must not be taken for this user's case."""
    rs = reading_study
    first = _first_reads(rs)[0]
    page, console = _reader_page(context, rs)
    page.goto(f"/reads/{first.pk}/")
    open_viewer(page, console)
    cfg = page.evaluate("JSON.parse(document.getElementById('viewer-config').textContent)")
    series = cfg["series"]
    stale = {i["id"]: "/dicom/g/another-users-grant/" + i["url"].rsplit("/", 1)[1] for i in series["instances"]}
    for user_id, expected in ((cfg["userId"] + 1000, None), (cfg["userId"], str(len(stale)))):
        # this page's own prefetch writes the next case's hand-over when it ends: let it end before ours is set
        page.wait_for_function(PREFETCH_SETTLED, timeout=30_000)
        page.evaluate(
            "([h]) => sessionStorage.setItem('vbq.viewer.prefetched', JSON.stringify(h))",
            [{"seriesId": series["id"], "userId": user_id, "at": int(page.evaluate("Date.now()")), "urls": stale}],
        )
        page.reload()  # the viewer reads the hand-over once, when the page loads
        if expected is None:
            open_viewer(page, console)
            assert page.evaluate("document.body.dataset.prefetchedUsed") is None
            assert not console, console
        else:  # the same user's hand-over is taken (its links are made up here, so the images are not checked)
            page.wait_for_function("document.body.dataset.prefetchedUsed !== undefined", timeout=30_000)
            assert page.evaluate("document.body.dataset.prefetchedUsed") == expected
