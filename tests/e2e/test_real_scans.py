"""Issue #23 in the browser, on a series without window tags whose Instance Numbers run against the slice
normal: the pre-submit warning names the slices the viewer shows ("Slice k / n" and the protocol panel), not the
Instance Numbers; the viewer opens with the series' percentile window from the server, not min–max."""

from __future__ import annotations

import re

import pytest

from studies.models import Instance
from tests import factories as f

from .conftest import login
from .test_viewer import open_viewer, track_console

pytestmark = pytest.mark.e2e

N_SLICES = 6


@pytest.fixture
def reversed_read(transactional_db):
    pi = f.make_user("pi")
    study = f.make_study(pi, name="Reversed numbers", same_slice_required=False)
    reader = f.make_user("reader")
    f.add_member(study, reader)
    case = f.make_case(study, "REV-01", n_slices=N_SLICES, rows=96, cols=96)
    for k, inst in enumerate(case.primary_series.instances.order_by("slice_position")):
        Instance.objects.filter(pk=inst.pk).update(instance_number=N_SLICES - k)  # 6 … 1 along the normal
    read = f.make_read(case, reader)
    f.make_roi(read, **f.roi_payload(case, "L1", shape="ellipse", box=(20, 20, 40, 40), index=3))
    f.make_roi(read, **f.roi_payload(case, "L2", shape="ellipse", box=(20, 50, 40, 70), index=1))
    return read


def test_the_warning_names_the_slice_the_viewer_shows(reversed_read, context):
    page = context.new_page()
    console = track_console(page)
    login(page, "reader")
    page.goto(f"/reads/{reversed_read.pk}/")
    open_viewer(page, console)
    page.wait_for_function(
        "[...document.querySelectorAll('#vw-warnings li')].some((li) => li.textContent.includes('different slices'))",
        timeout=15_000,
    )
    warning = next(t for t in page.locator("#vw-warnings li").all_text_contents() if "different slices" in t)
    in_warning = {label: int(n) for label, n in re.findall(r"(L\d): slice (\d+)", warning)}
    assert in_warning == {"L1": 4, "L2": 2}, warning  # Instance Numbers would be 3 and 5

    for label, number in in_warning.items():
        assert page.text_content(f'[data-label="{label}"] .vw-roi-status').startswith(f"slice {number}")
        index = page.evaluate(
            """(label) => { const { state, viewport } = window.__viewer;
                const k = state.imageIds.indexOf(state.imageIdOf.get(state.rois.get(label).sop_instance_uid));
                viewport.setImageIdIndex(k); return k; }""",
            label,
        )
        page.wait_for_function(f"document.getElementById('vw-slice').dataset.index === '{index}'", timeout=15_000)
        assert page.text_content("#vw-slice").startswith(f"Slice {number} / {N_SLICES}")
        dicom = N_SLICES + 1 - number  # the scanner's numbering, stated beside ours
        assert page.get_attribute("#vw-slice", "title").endswith(f"(DICOM Instance Number {dicom})")
    assert [e for e in console if "favicon" not in e] == [], console


def test_the_viewer_uses_the_servers_window_when_the_file_has_none(reversed_read, context):
    from studies.dicom_views import series_payload

    page = context.new_page()
    console = track_console(page)
    login(page, "reader")
    page.goto(f"/reads/{reversed_read.pk}/")
    open_viewer(page, console)
    window = series_payload(reversed_read.case.primary_series)["default_window"]
    assert window and window["upper"] > window["lower"]
    voi = "(() => { const r = window.__viewer.viewport.getProperties().voiRange; return [r.lower, r.upper]; })()"
    tags = "window.__viewer.metaData.get('voiLutModule', window.__viewer.viewport.getCurrentImageId())"
    assert page.evaluate(f"{tags}.windowCenter") is None  # the factory's files carry no window
    assert page.evaluate(voi) == pytest.approx([window["lower"], window["upper"]])

    # Another slice keeps it; a preset changes it; "Default" (Shift+1) brings it back.
    page.evaluate("window.__viewer.viewport.setImageIdIndex(0)")
    page.wait_for_function("document.getElementById('vw-slice').dataset.index === '0'", timeout=15_000)
    assert page.evaluate(voi) == pytest.approx([window["lower"], window["upper"]])
    page.select_option("#vw-preset", "marrow")  # a tissue preset (issue #18): narrower than the window
    assert page.evaluate(voi) != pytest.approx([window["lower"], window["upper"]])
    page.select_option("#vw-preset", "auto")  # back to the image's own window
    assert page.evaluate(voi) == pytest.approx([window["lower"], window["upper"]])
    assert [e for e in console if "favicon" not in e] == [], console


def test_a_file_with_a_window_keeps_it(transactional_db, context):
    import hashlib
    import io

    import pydicom

    pi = f.make_user("pi")
    study = f.make_study(pi, name="Tagged window")
    reader = f.make_user("reader")
    f.add_member(study, reader)
    case = f.make_case(study, "WIN-01", n_slices=3, rows=48, cols=48)
    for inst in case.primary_series.instances.all():
        ds = pydicom.dcmread(inst.file.path)
        ds.WindowCenter, ds.WindowWidth = 150, 40
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        data = buf.getvalue()
        with open(inst.file.path, "wb") as out:
            out.write(data)
        Instance.objects.filter(pk=inst.pk).update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    read = f.make_read(case, reader)

    page = context.new_page()
    console = track_console(page)
    login(page, "reader")
    page.goto(f"/reads/{read.pk}/")
    open_viewer(page, console)
    voi = page.evaluate(
        "(() => { const r = window.__viewer.viewport.getProperties().voiRange; return [r.lower, r.upper]; })()"
    )
    assert voi == pytest.approx([130, 170], abs=1)  # the file's window (centre 150, width 40), not the server's
