"""Level identification in Chromium (issue #18 point 2): the reader marks S1 and L1 on the phantom and the viewer
proposes T11–L5 at the bodies' centres (the phantom's own geometry is the truth), in the overlays (O toggles them),
kept per read in this browser: another reader, read 2 and the PI see none."""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.utils import timezone

from studies.demo.phantom.spine import RIM, layout
from studies.models import Read
from studies.services.reading import reading_plan_build
from tests import factories as f

from .conftest import ARTIFACTS
from .test_viewer import drag, open_viewer, px_to_page, track_console, wait_saved
from .test_viewer_reading_aids import login

pytestmark = pytest.mark.e2e

PROPOSED = ("T11", "T12", "L2", "L3", "L4", "L5")


def _open(page, read) -> None:
    page.goto(f"/reads/{read.pk}/")
    open_viewer(page)


def _mark(page, level: str, col: float, row: float) -> None:
    page.select_option("#vw-mark-level", level)
    page.mouse.click(*px_to_page(page, col, row))


def _labels(page) -> dict:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#vw-levels [data-level]')].map((e) => {
            const b = e.getBoundingClientRect();
            return [e.dataset.level, { kind: e.dataset.kind, col: +e.dataset.col, row: +e.dataset.row,
                x: b.left + b.width / 2, y: b.top + b.height / 2 }];
        }))"""
    )


def _in_body(body, col: float, row: float) -> tuple[float, float]:
    """(u, v) of a point in the body's frame as fractions of its inner half depth and half height (≤ 1: inside
    the marrow, within the cortical rim)."""
    dc, dr = col - body.col, row - body.row
    c, s = math.cos(body.angle), math.sin(body.angle)
    u, v = dc * c - dr * s, dc * s + dr * c
    return abs(u) / (body.half_width - RIM), abs(v) / (body.half_height - RIM)


def test_two_marks_propose_the_other_levels_per_read_in_the_overlays(reading_study, context):
    first = Read.objects.filter(reader=reading_study.reader, read_number=1).order_by("order_index").first()
    spine = reading_study.geometry[first.case.subject_code].spine
    assert spine is not None, "the phantom has no spine geometry"
    page = context.new_page()
    page.set_viewport_size({"width": 1440, "height": 900})
    console = track_console(page)
    login(page, "reader")
    _open(page, first)
    assert _labels(page) == {}
    # The aid's control adds no row to the toolbar at 1440 × 900.
    height = "document.querySelector('.vw-toolbar').getBoundingClientRect().height"
    with_aid = page.evaluate(height)
    page.evaluate("document.querySelector('.vw-levelaid').hidden = true")
    without = page.evaluate(height)
    page.evaluate("document.querySelector('.vw-levelaid').hidden = false")
    assert with_aid <= without + 1, (with_aid, without)

    s1, l1 = spine.body("S1"), spine.body("L1")
    _mark(page, "S1", s1.col, s1.row)
    page.wait_for_selector("#vw-levels [data-level=S1][data-kind=mark]", state="attached")
    assert "L1" in page.inner_text("#vw-notices")  # asks for a second mark; nothing is proposed from one
    assert set(_labels(page)) == {"S1"}
    _mark(page, "L1", l1.col, l1.row)
    page.wait_for_function("document.querySelectorAll('#vw-levels [data-kind=proposed]').length === 6")
    shown = _labels(page)
    assert {k for k, v in shown.items() if v["kind"] == "proposed"} == set(PROPOSED)
    # The marks placed no ROI (the click went to the aid, not to the drawing tool).
    assert page.evaluate("window.__viewer.annotation.state.getAllAnnotations().length") == 0
    report = []
    for level in PROPOSED:
        body, got = spine.body(level), shown[level]
        du, dv = _in_body(body, got["col"], got["row"])
        report.append(f"{level} {math.hypot(got['col'] - body.col, got['row'] - body.row) * 0.9375:.1f} mm")
        assert du <= 1 and dv <= 1, (level, got, body)  # inside the body's marrow
        # drawn where the proposal is: the label's centre on the image point (whatever the fit/zoom)
        assert math.dist((got["x"], got["y"]), px_to_page(page, got["col"], got["row"])) <= 2
    print(f"\nlordosis {spine.lordosis_deg:.0f}°, proposals from the true centres: " + ", ".join(report))
    page.screenshot(path=str(ARTIFACTS / "viewer-levels.png"))

    # Part of the overlays: O hides and shows them.
    page.keyboard.press("o")
    assert not page.is_visible("#vw-levels [data-level=L3]")
    page.keyboard.press("o")
    assert page.is_visible("#vw-levels [data-level=L3]")

    # Kept for this read (reopen), and the reader flow is untouched: the left button draws again after marking.
    page.reload()
    open_viewer(page)
    assert _labels(page).keys() == shown.keys()
    # Clear removes them.
    page.select_option("#vw-mark-level", "clear")
    assert _labels(page) == {}
    _mark(page, "S1", s1.col, s1.row)
    _mark(page, "L1", l1.col, l1.row)
    page.wait_for_function("document.querySelectorAll('#vw-levels [data-kind=proposed]').length === 6")
    # The left button draws again after marking: the next drag is the L1 ellipse.
    drag(page, (l1.col, l1.row), (l1.col + 8, l1.row + 5))
    page.wait_for_function("window.__viewer.state.uidOf.has('L1')")
    assert page.evaluate("window.__viewer.annotation.state.getAllAnnotations().length") == 1
    wait_saved(page)
    assert console == []

    # Another reader of the same case in the same browser (same localStorage) sees none of them.
    bob = f.make_user("bob")
    f.add_member(reading_study.study, bob)
    reading_plan_build(study=reading_study.study, user=reading_study.pi)
    bobs = Read.objects.get(reader=bob, read_number=1, case=first.case)
    # A new tab per user (localStorage is shared by all tabs of this browser; sessionStorage is not).
    consoles = []

    tabs = []

    def as_user(username, read):
        for earlier in tabs:  # a tab left open would go on asking the server (/checks/) as the logged-out user: 401
            earlier.close()
        tab = context.new_page()
        tabs.append(tab)
        consoles.append(track_console(tab))
        context.clear_cookies()  # log out; this browser's localStorage stays
        login(tab, username)
        _open(tab, read)
        return tab

    other = as_user("bob", bobs)
    assert other.is_visible("#vw-mark-level") and _labels(other) == {}
    # Read 2 of the same case by the same reader is another read: none either.
    second = Read.objects.get(reader=reading_study.reader, read_number=2, case=first.case)
    Read.objects.filter(pk=second.pk).update(available_from=timezone.now())  # open now (no washout wait)
    other = as_user("reader", second)
    assert other.is_visible("#vw-mark-level") and _labels(other) == {}
    # The PI's view-only page has no aid.
    other = as_user("pi", first)
    assert other.query_selector("#vw-mark-level") is None and _labels(other) == {}
    assert consoles == [[], [], []]


def test_proposals_fall_inside_every_phantom_spine_from_the_two_junctions(reading_study, context):
    """The page's own proposeLevels on 60 of the phantom's lordotic spines (25–45°): a mark on T11, T12 or L1 and one
    on L5 or S1 put every proposal T11–S1 inside its body's marrow; other pairs give no proposal."""
    page = context.new_page()
    console = track_console(page)
    login(page, "reader")
    _open(page, Read.objects.filter(reader=reading_study.reader, read_number=1).first())
    propose = "([m]) => window.__viewer.levelAid.proposeLevels(m, [-1, 0])"
    worst = 0.0
    for seed in range(60):
        spine = layout(np.random.default_rng(seed))
        for upper in ("T11", "T12", "L1"):
            for lower in ("L5", "S1"):
                marks = [{"label": lv, "p": [spine.body(lv).col, spine.body(lv).row]} for lv in (lower, upper)]
                got = page.evaluate(propose, [marks])
                for level in ("T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1"):
                    du, dv = _in_body(spine.body(level), *got[level])
                    assert max(du, dv) <= 1, (seed, upper, lower, level, got[level], spine.body(level))
                    worst = max(worst, du, dv)
    print(f"\nworst proposal: {worst:.2f} of the inner half size")
    for pair in (("L3", "S1"), ("T12", "L1"), ("L2", "L5")):
        marks = [{"label": lv, "p": [170, 100 + 40 * i]} for i, lv in enumerate(pair)]
        assert page.evaluate(propose, [marks]) is None, pair
    assert console == []
