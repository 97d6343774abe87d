"""Reading aids of the viewer in Chromium (issue #18 points 1, 3, 4, 5): overlays, OHIF-like zoom and tissue
window presets, exclusions that keep their ROI, Submit in view, label colours when read-only, corner-drawn
ellipses."""

from __future__ import annotations

import math

import pytest

from studies.models import Read, Roi
from tests import factories as f

from .conftest import ARTIFACTS
from .test_viewer import drag, ellipse_in, open_viewer, px_to_page, track_console, wait_saved, wait_scored

pytestmark = pytest.mark.e2e

VALUES = "window.__viewer.overlayValues(window.__viewer.viewport)"


def _first_read(reading_study) -> Read:
    return Read.objects.filter(reader=reading_study.reader, read_number=1).order_by("order_index").first()


def login(page, username: str) -> None:
    """Log in through the real login page (Enter in the password field: the page has other forms)."""
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f.PASSWORD)
    with page.expect_navigation():
        page.press("#id_password", "Enter")
    assert "/login/" not in page.url, page.inner_text("body")[:300]


def _open(context, reading_study, username="reader", read=None, size=None):
    page = context.new_page()
    if size:
        page.set_viewport_size(size)
    console = track_console(page)
    login(page, username)
    read = read or _first_read(reading_study)
    page.goto(f"/reads/{read.pk}/")
    open_viewer(page, console)
    return page, console, read


def _window_text(text: str) -> tuple[float, float]:
    """'W 1606 L 785' -> (1606, 785)."""
    w, width, l_, level = text.split()
    assert (w, l_) == ("W", "L"), text
    return float(width), float(level)


def _overlay(page) -> dict:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#vw-overlay [data-overlay]')]
            .map((e) => [e.dataset.overlay, e.textContent]))"""
    )


def test_overlays_show_orientation_window_zoom_slice_and_scale_and_o_toggles_them(reading_study, context):
    page, console, read = _open(context, reading_study)
    geo = reading_study.geometry[read.case.subject_code]
    page.wait_for_function("document.querySelector('[data-overlay=\"window\"]').textContent !== ''")
    shown = _overlay(page)
    # The phantom is a sagittal image: rows run anterior -> posterior, columns head -> feet.
    assert (shown["orient-left"], shown["orient-right"], shown["orient-top"], shown["orient-bottom"]) == (
        "A",
        "P",
        "H",
        "F",
    )
    n = len(geo.files) if hasattr(geo, "files") else None
    v = page.evaluate(VALUES)
    assert shown["slice"] == f"Slice {geo.mid_slice_index + 1} / {v['total']}" and (n is None or v["total"] == n)
    voi = page.evaluate("window.__viewer.viewport.getProperties().voiRange")
    width, level = _window_text(shown["window"])
    assert width == pytest.approx(voi["upper"] - voi["lower"], abs=0.51)
    assert level == pytest.approx((voi["upper"] + voi["lower"]) / 2, abs=0.51)
    assert shown["zoom"] == "Zoom 1.00×"
    # Slice position: Image Position (Patient) along the slice normal (row × column cosines).
    plane = page.evaluate(
        "window.__viewer.metaData.get('imagePlaneModule', window.__viewer.viewport.getCurrentImageId())"
    )
    r, c, p = plane["rowCosines"], plane["columnCosines"], plane["imagePositionPatient"]
    normal = [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]]
    assert shown["position"] == f"Pos {sum(a * b for a, b in zip(p, normal, strict=True)):.1f} mm"

    # Scale bar: its length in screen pixels is its millimetres / Pixel Spacing × screen pixels per image pixel.
    def bar_ratio():
        mm = float(page.get_attribute("#vw-overlay [data-overlay=scale]", "data-mm"))
        px = page.evaluate("document.querySelector('.vw-scale-bar').getBoundingClientRect().width")
        return mm, px

    col_spacing = plane["columnPixelSpacing"]
    (x0, y0), (x1, y1) = px_to_page(page, 100, 100), px_to_page(page, 200, 100)
    screen_per_image_px = math.dist((x0, y0), (x1, y1)) / 100
    mm, px = bar_ratio()
    assert shown["scale"] == f"{mm:g} mm"
    assert px == pytest.approx(mm / col_spacing * screen_per_image_px, rel=0.03)
    page.screenshot(path=str(ARTIFACTS / "viewer-overlays.png"))

    # Zoomed in, the bar stays true (shorter in mm or longer on screen).
    page.mouse.move(*px_to_page(page, 160, 160))
    page.keyboard.down("Control")
    for _ in range(5):
        page.mouse.wheel(0, -100)
    page.keyboard.up("Control")
    page.wait_for_function(f"{VALUES}.zoom > 1.5")
    (x0, y0), (x1, y1) = px_to_page(page, 100, 100), px_to_page(page, 200, 100)
    mm, px = bar_ratio()
    assert px == pytest.approx(mm / col_spacing * math.dist((x0, y0), (x1, y1)) / 100, rel=0.03)
    assert _overlay(page)["zoom"] == f"Zoom {page.evaluate(VALUES)['zoom']:.2f}×"

    # One key toggles them, and the key help says so.
    page.keyboard.press("o")
    assert not page.is_visible("#vw-overlay") and page.evaluate("document.body.dataset.overlays") == "off"
    page.keyboard.press("o")
    assert page.is_visible("#vw-overlay")
    page.keyboard.press("?")
    assert "Overlays on or off" in page.inner_text("#vw-help")
    page.keyboard.press("Escape")
    assert console == []


def test_zoom_is_ten_percent_a_notch_drag_up_zooms_in_and_presets_are_named_by_tissue(reading_study, context):
    page, console, _ = _open(context, reading_study)
    zoom = "window.__viewer.viewport.getZoom()"
    page.mouse.move(*px_to_page(page, 160, 160))
    before = page.evaluate(zoom)
    page.keyboard.down("Control")
    for _ in range(10):  # ten notches up
        page.mouse.wheel(0, -100)
        page.wait_for_timeout(20)
    page.keyboard.up("Control")
    ten = page.evaluate(zoom) / before
    print(f"\n10 Ctrl+wheel notches: zoom × {ten:.3f}")
    assert ten == pytest.approx(1.1**10, rel=0.01)  # 2.59×
    page.keyboard.down("Control")
    page.mouse.wheel(0, 100)  # one notch down zooms out by the same factor
    page.keyboard.up("Control")
    assert page.evaluate(zoom) / before == pytest.approx(1.1**9, rel=0.01)

    # Zoom tool (Z): dragging up zooms in, dragging down zooms out.
    page.keyboard.press("0")
    page.keyboard.press("z")
    x, y = px_to_page(page, 160, 160)
    start = page.evaluate(zoom)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y - 120, steps=10)
    page.mouse.up()
    up = page.evaluate(zoom)
    assert up > start * 1.3
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y + 60, steps=10)
    page.mouse.up()
    assert page.evaluate(zoom) < up

    # Presets by tissue, in the menu and on Shift+1…4; each sets its own window, shown in the overlay.
    options = page.eval_on_selector_all("#vw-preset option", "os => os.map((o) => o.textContent)")
    assert [o.rsplit(" (", 1)[0] for o in options] == ["Auto", "T1 marrow", "CSF", "Full range"]
    voi = "(() => { const r = window.__viewer.viewport.getProperties().voiRange; return [r.lower, r.upper]; })()"
    auto = page.evaluate(voi)
    seen = {tuple(auto)}
    for value in ("marrow", "csf", "full"):
        page.select_option("#vw-preset", value)
        got = page.evaluate(voi)
        assert tuple(got) not in seen, value
        seen.add(tuple(got))
        page.wait_for_function(  # the overlay follows on the next animation frame
            """([w, l]) => { const [, width, , level] = document.querySelector('[data-overlay=window]')
                .textContent.split(' '); return Math.abs(width - w) <= 0.51 && Math.abs(level - l) <= 0.51; }""",
            arg=[got[1] - got[0], sum(got) / 2],
        )
    lo, hi = auto
    page.locator("#viewport").focus()
    page.keyboard.press("Shift+Digit2")
    assert page.evaluate(voi) == pytest.approx([lo + 0.3 * (hi - lo), hi + 0.1 * (hi - lo)])
    page.keyboard.press("Shift+Digit3")
    assert page.evaluate(voi) == pytest.approx([lo - 0.05 * (hi - lo), lo + 0.55 * (hi - lo)])
    page.keyboard.press("Shift+Digit1")
    assert page.evaluate(voi) == pytest.approx(auto)
    assert console == []


# The SVG element Cornerstone drew for an annotation's outline (its node cache is keyed "<uid>::<type>::<id>").
OUTLINE = """(uid) => { const cache = Object.values(window.__viewer.toolsState.svgNodeCache)[0] || {};
    const key = Object.keys(cache).find((k) => k.startsWith(uid + '::') && /::(ellipse|rect|polyline|path)::/.test(k));
    const el = key && cache[key].domRef; return el && el.isConnected ? el : null; }"""


def _outline(page, label, attribute):
    return page.evaluate(
        f"""(label) => {{ const uid = window.__viewer.state.uidOf.get(label); const el = ({OUTLINE})(uid);
            return el ? (el.getAttribute('{attribute}') || '') : null; }}""",
        label,
    )


def _dash(page, label):
    """The stroke-dasharray Cornerstone drew for the label's ROI ('' when solid, None when not drawn)."""
    return _outline(page, label, "stroke-dasharray")


def test_excluding_keeps_a_dashed_roi_other_needs_a_note_and_undo_restores_it(reading_study, context):
    page, console, read = _open(context, reading_study)
    geo = reading_study.geometry[read.case.subject_code]
    start, end, _ = ellipse_in(geo.vertebrae["L1"])
    drag(page, start, end)
    wait_scored(page)
    roi = Roi.objects.get(read=read, label="L1")
    points = roi.points_px
    assert _dash(page, "L1") == ""

    # "Other" without a note: a visible sentence next to the field, nothing sent.
    page.click('[data-exclude="L1"]')
    page.select_option('[data-exclude-form="L1"] select[name=reason]', "other")
    note = page.locator('[data-exclude-form="L1"] input[name=note]')
    # The placeholder fits its field (not cut off).
    fits = note.evaluate(
        """(input) => { const c = document.createElement('canvas').getContext('2d');
            c.font = getComputedStyle(input).font; const cs = getComputedStyle(input);
            const room = input.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
            return [c.measureText(input.placeholder).width, room]; }"""
    )
    assert fits[0] <= fits[1], f"placeholder {fits[0]:.0f}px in {fits[1]:.0f}px"
    page.click('[data-exclude-form="L1"] [type=submit]')
    msg = page.locator('[data-exclude-msg="L1"]')
    assert msg.is_visible() and "note" in msg.inner_text() and "Other" in msg.inner_text()
    assert note.get_attribute("aria-invalid") is not None
    page.screenshot(path=str(ARTIFACTS / "viewer-exclude-other.png"))
    assert not Roi.objects.get(pk=roi.pk).excluded
    note.fill("old vertebroplasty")
    page.click('[data-exclude-form="L1"] [type=submit]')
    wait_saved(page)

    # Excluded: the ROI is kept on the server and drawn dashed; the panel says it is left out of the scores.
    roi.refresh_from_db()
    assert roi.excluded and roi.exclusion_note == "old vertebroplasty" and roi.points_px == points
    assert page.get_attribute('[data-label="L1"]', "data-state") == "excluded"
    assert "ROI kept, left out of the scores" in page.inner_text('[data-label="L1"]')
    assert _dash(page, "L1") not in ("", None)
    assert page.evaluate("window.__viewer.annotation.locking.isAnnotationLocked(window.__viewer.state.uidOf.get('L1'))")
    l1_colour = page.evaluate("JSON.parse(document.getElementById('viewer-config').textContent).protocol[0].color")
    assert _outline(page, "L1", "stroke").lower() == l1_colour.lower()  # its label's colour, even under the mouse
    page.screenshot(path=str(ARTIFACTS / "viewer-excluded-dashed.png"))

    # Reopened: still there, still dashed.
    page.reload()
    open_viewer(page, console)
    wait_saved(page)
    assert _dash(page, "L1") not in ("", None)

    # Undo: the same ROI, solid, editable, measured and counted again.
    page.click('[data-include="L1"]')
    wait_scored(page)
    roi.refresh_from_db()
    assert not roi.excluded and roi.points_px == points and roi.score.roi_version == roi.version
    assert page.get_attribute('[data-label="L1"]', "data-state") == "drawn"
    assert _dash(page, "L1") == ""
    assert not page.evaluate(
        "window.__viewer.annotation.locking.isAnnotationLocked(window.__viewer.state.uidOf.get('L1'))"
    )
    assert console == []


def _warning_rois(read, geo):
    """All six ROIs on the mid slice, the levels and the CSF tiny: each gets a quality warning (area), none blocks."""
    mid = geo.mid_slice_index
    centres = {lv: (geo.vertebrae[lv].col, geo.vertebrae[lv].row) for lv in ("L1", "L2", "L3", "L4")}
    centres["CSF"] = (geo.csf["L3"].col, geo.csf["L3"].row)
    for label, (c, r) in centres.items():
        payload = f.roi_payload(read.case, label, box=(c - 1, r - 1, c + 1, r + 1), index=mid)
        f.make_roi(read, payload.pop("label"), **payload)
    n = geo.noise
    payload = f.roi_payload(read.case, "NOISE", box=(n.col - 9, n.row - 40, n.col + 9, n.row + 40), index=mid)
    f.make_roi(read, payload.pop("label"), **payload)


def test_submit_stays_in_view_at_1440x900_with_warnings(reading_study, context):
    read = _first_read(reading_study)
    _warning_rois(read, reading_study.geometry[read.case.subject_code])
    page, console, _ = _open(context, reading_study, read=read, size={"width": 1440, "height": 900})
    page.wait_for_function("document.querySelectorAll('#vw-warnings li').length >= 5", timeout=15_000)
    page.wait_for_function("!document.getElementById('vw-submit').disabled", timeout=15_000)
    page.click('[data-exclude="L2"]')  # an open exclusion form makes the panel longer still
    overflow = page.evaluate(
        "(() => { const p = document.querySelector('.vw-panel'); return p.scrollHeight - p.clientHeight; })()"
    )
    assert overflow > 0, "the test needs a panel taller than the window"
    assert page.eval_on_selector(".vw-panel", "(p) => p.scrollWidth <= p.clientWidth")  # nothing cut off sideways
    box = page.locator("#vw-submit").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 900, box
    page.screenshot(path=str(ARTIFACTS / "viewer-submit-1440x900.png"))
    # Scrolled to the top or the bottom, Submit is still there and clickable.
    for where in (0, 100_000):
        page.evaluate(f"document.querySelector('.vw-panel').scrollTop = {where}")
        box = page.locator("#vw-submit").bounding_box()
        assert box["y"] + box["height"] <= 900
        hit = page.evaluate(
            f"document.elementFromPoint({box['x'] + box['width'] / 2}, {box['y'] + box['height'] / 2})?.id"
        )
        assert hit == "vw-submit"
    assert console == []


def test_label_colours_are_kept_when_read_only(reading_study, context):
    read = _first_read(reading_study)
    _warning_rois(read, reading_study.geometry[read.case.subject_code])
    page, console, _ = _open(context, reading_study, username="pi", read=read)
    assert page.is_visible("#vw-readonly")
    page.wait_for_function("window.__viewer.state.uidOf.size === 6")
    cfg = page.evaluate("JSON.parse(document.getElementById('viewer-config').textContent)")
    colour = {p["label"]: p["color"] for p in cfg["protocol"]}
    # Each ROI drawn on the shown slice is stroked in its label's colour (not Cornerstone's locked yellow).
    strokes = page.evaluate(
        f"""() => {{ const {{ state, viewport, annotation }} = window.__viewer; const out = {{}};
            for (const [label, uid] of state.uidOf) {{
              const a = annotation.state.getAnnotation(uid);
              if (a.metadata.referencedImageId !== viewport.getCurrentImageId()) continue;
              const el = ({OUTLINE})(uid); out[label] = el && el.getAttribute('stroke'); }}
            return out; }}"""
    )
    assert len(strokes) >= 4, strokes

    def rgb(c):
        c = c.strip().lower()
        if c.startswith("#"):
            return tuple(int(c[i : i + 2], 16) for i in (1, 3, 5))
        return tuple(int(float(x)) for x in c[c.index("(") + 1 : c.index(")")].split(",")[:3])

    for label, stroke in strokes.items():
        assert stroke and rgb(stroke) == rgb(colour[label]), (label, stroke, colour[label])
    assert page.evaluate("window.__viewer.annotation.state.getAllAnnotations().every((a) => a.isLocked)")
    page.screenshot(path=str(ARTIFACTS / "viewer-readonly-colours.png"))
    assert console == []


def test_ellipses_draw_from_the_centre_with_a_hint_or_from_a_corner_by_setting(reading_study, context):
    page, console, read = _open(context, reading_study)
    geo = reading_study.geometry[read.case.subject_code]
    hint = page.locator("#vw-draw-hint")
    assert hint.is_visible() and "centre" in hint.inner_text()
    # One line, inside the panel (no horizontal overflow).
    assert hint.evaluate("(e) => e.getBoundingClientRect().height") < 24
    assert hint.evaluate("(e) => e.scrollWidth <= e.clientWidth")
    assert not page.is_checked("#vw-ellipse-corner")

    page.check("#vw-ellipse-corner")
    assert "corner" in hint.inner_text()
    assert page.evaluate("JSON.parse(localStorage.getItem('vbq.viewer.settings')).ellipseFromCorner") is True
    l1 = geo.vertebrae["L1"]
    c, r, hw, hh = l1.col, l1.row, l1.half_width, l1.half_height
    drag(page, (c - hw, r - hh), (c + hw, r + hh))  # corner to corner of the vertebral body
    wait_saved(page)
    stored = Roi.objects.get(read=read, label="L1").points_px
    expected = [[c, r - hh], [c, r + hh], [c - hw, r], [c + hw, r]]  # the same ellipse as centre -> corner
    for got, want in zip(stored, expected, strict=True):
        assert math.dist(got, want) <= 0.5, (stored, expected)

    # Kept in this browser: the next page load has the setting on, and unticking it draws from the centre again.
    page.reload()
    open_viewer(page, console)
    assert page.is_checked("#vw-ellipse-corner")
    page.uncheck("#vw-ellipse-corner")
    start, end, expected = ellipse_in(geo.vertebrae["L2"])
    drag(page, start, end)
    wait_saved(page)
    stored = Roi.objects.get(read=read, label="L2").points_px
    for got, want in zip(stored, expected, strict=True):
        assert math.dist(got, want) <= 0.5, (stored, expected)
    assert console == []


def test_every_page_has_the_favicon_and_no_console_error_or_failed_request(reading_study, context, live_server):
    """Login, study list, study page (PI and reader), viewer, dashboard, reads page, audit page: a favicon link that
    loads, /favicon.ico answered, no console error, no failed request."""
    study = reading_study.study
    read = _first_read(reading_study)
    problems: list[str] = []

    def watch(page):
        page.on(
            "console",
            lambda m: problems.append(f"console: {m.text} @ {m.location.get('url')}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
        page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)

    def visit(page, path, who):
        page.goto(path, wait_until="networkidle")
        if "/reads/" in path and path.endswith(f"/reads/{read.pk}/"):
            open_viewer(page, problems)
            page.wait_for_load_state("networkidle")
        href = page.get_attribute("link[rel~=icon]", "href")
        assert href and not href.startswith("data:"), f"{path}: no favicon link"
        icon = page.request.get(href)
        assert icon.ok and icon.headers["content-type"].startswith("image/"), (path, href, icon.status)
        visited.append((who, path))

    visited: list[tuple[str, str]] = []
    reader_page = context.new_page()
    watch(reader_page)
    visit(reader_page, "/login/", "anonymous")
    assert reader_page.request.get("/favicon.ico").headers["content-type"] == "image/x-icon"
    login(reader_page, "reader")
    for path in ("/studies/", f"/studies/{study.pk}/", f"/reads/{read.pk}/"):
        visit(reader_page, path, "reader")

    pi_context = context.browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server.url)
    try:
        pi_page = pi_context.new_page()
        watch(pi_page)
        login(pi_page, "pi")
        for path in (
            "/studies/",
            f"/studies/{study.pk}/",
            f"/reads/{read.pk}/",
            f"/studies/{study.pk}/analytics/",
            f"/studies/{study.pk}/reads/",
            f"/studies/{study.pk}/audit/",
        ):
            visit(pi_page, path, "pi")
    finally:
        pi_context.close()
    print(f"\npages checked: {len(visited)}")
    assert problems == [], problems
