"""The reader side of issue #17 point 4 in real Chromium (Debian package): a submitted read opens view-only from
the worklist, Ctrl+Enter asks before submitting (Esc goes back, Enter submits), the new-study form's labels."""

from __future__ import annotations

import pytest

from studies.demo import simulate
from studies.forms import STUDY_HELP, STUDY_LABELS
from studies.models import Read, Roi
from studies.services import reading
from tests import factories as f

from .conftest import ARTIFACTS, login
from .test_viewer import READY, open_viewer, track_console

pytestmark = pytest.mark.e2e


def _first_reads(rs) -> list[Read]:
    return list(
        Read.objects.filter(reader=rs.reader, read_number=1)
        .select_related("case__primary_series")
        .order_by("order_index")
    )


def _draw_all(rs, read: Read) -> None:
    """The six ROIs of the protocol, placed on the phantom's anatomy through the reading service (as the API does)."""
    geometry = rs.geometry[read.case.subject_code]
    instances = list(read.case.primary_series.instances.order_by("slice_position", "id"))
    sop = instances[geometry.mid_slice_index].sop_instance_uid
    for payload in simulate.simulated_rois(geometry, reader="reader1", read_number=1):
        reading.roi_create(read=read, user=rs.reader, data=payload | {"sop_instance_uid": sop})


def _reader_page(context, rs):
    page = context.new_page()
    console = track_console(page)
    login(page, rs.reader.username)
    page.wait_for_load_state("networkidle")
    console.clear()  # the login page has no favicon (404)
    return page, console


def test_submitted_read_opens_view_only_from_the_worklist(reading_study, context):
    rs = reading_study
    rs.study.reader_roi_stats = "quality"  # blinding: no SI values for readers
    rs.study.save(update_fields=["reader_roi_stats"])
    read = _first_reads(rs)[0]
    _draw_all(rs, read)
    reading.read_submit(read=read, user=rs.reader)
    versions = dict(Roi.objects.filter(read=read).values_list("label", "version"))

    page, console = _reader_page(context, rs)
    writes: list[str] = []
    page.on("request", lambda r: writes.append(f"{r.method} {r.url}") if r.method != "GET" else None)
    page.goto(f"/studies/{rs.study.pk}/")
    link = page.locator(f'a[data-role="view-submitted"][href="/reads/{read.pk}/"]')
    assert link.inner_text() == "View"
    link.click()
    page.wait_for_url(f"**/reads/{read.pk}/")
    open_viewer(page, console)
    page.wait_for_function("window.__viewer.annotation.state.getAllAnnotations().length === 6")
    banner = page.inner_text("#vw-readonly")
    assert banner.startswith("You submitted this read on ") and "ask the PI to reopen it" in banner
    assert not page.is_visible("#vw-submit") and not page.is_visible(".vw-hint")
    assert page.evaluate("window.__viewer.annotation.state.getAllAnnotations().every((a) => a.isLocked)")
    assert page.locator("[data-pi-score]").count() == 0  # no scores for a reader
    page.wait_for_selector('[data-stats="L1"] [data-stat="n"]', state="attached")
    assert page.locator('[data-stat="mean"]').count() == 0  # "quality": n and area, never the SI values

    # Nothing can be changed: a drag on the image draws nothing, Ctrl+Enter opens no dialog, no write is sent.
    page.keyboard.press("e")
    box = page.locator("#viewport").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.4, steps=8)
    page.mouse.up()
    page.keyboard.press("Control+Enter")
    page.wait_for_timeout(500)
    assert not page.is_visible("#vw-confirm")
    assert page.evaluate("window.__viewer.annotation.state.getAllAnnotations().length") == 6
    assert writes == []
    assert dict(Roi.objects.filter(read=read).values_list("label", "version")) == versions
    read.refresh_from_db()
    assert read.status == Read.Status.SUBMITTED
    page.screenshot(path=str(ARTIFACTS / "reader-submitted-view-only.png"))
    assert console == []


def test_ctrl_enter_asks_before_submitting(reading_study, context):
    rs = reading_study
    read, following = _first_reads(rs)[:2]
    _draw_all(rs, read)

    page, console = _reader_page(context, rs)
    page.goto(f"/reads/{read.pk}/")
    open_viewer(page, console)
    page.wait_for_function("!document.getElementById('vw-submit').disabled", timeout=15_000)

    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#vw-confirm[open]")
    assert "Submit this read?" in page.inner_text("#vw-confirm")
    assert read.case.subject_code in page.inner_text("#vw-confirm")
    assert page.evaluate("document.activeElement.dataset.action") == "confirm-submit"
    page.screenshot(path=str(ARTIFACTS / "viewer-submit-confirm.png"))
    selected = page.evaluate("window.__viewer.state.selected")
    page.keyboard.press("2")  # the viewer's shortcuts are off while the dialog is open
    assert page.evaluate("window.__viewer.state.selected") == selected

    page.keyboard.press("Escape")  # back to the read: nothing submitted
    page.wait_for_selector("#vw-confirm", state="hidden")
    read.refresh_from_db()
    assert read.status == Read.Status.IN_PROGRESS and read.submitted_at is None

    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#vw-confirm[open]")
    page.keyboard.press("Enter")  # Ctrl+Enter, Enter: two keys from the keyboard
    page.wait_for_url(f"**/reads/{following.pk}/")
    page.wait_for_selector(READY, state="attached")
    read.refresh_from_db()
    assert read.status == Read.Status.SUBMITTED and read.submitted_at is not None
    assert console == []


def test_new_study_form_has_labels_and_help(context, live_server):
    pi = f.allow_study_creation(f.make_user("form-pi"))
    page = context.new_page()
    login(page, pi.username)
    page.goto("/studies/new/")
    for name, label in STUDY_LABELS.items():
        assert page.inner_text(f'label[for="id_{name}"]').rstrip(":") == label
        help_id = page.get_attribute(f"#id_{name}", "aria-describedby")
        assert help_id and page.inner_text(f"#{help_id}") == STUDY_HELP[name]
        assert page.is_visible(f"#{help_id}")
    body = page.inner_text("main")
    for raw in ("Measure vbq", "Roi area min mm2", "Min levels vbq", "Reader roi stats"):
        assert raw not in body
    page.screenshot(path=str(ARTIFACTS / "new-study-form.png"), full_page=True)
