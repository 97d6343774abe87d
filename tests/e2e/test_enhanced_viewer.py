"""The viewer on an enhanced (multi-frame) MR case, in real Chromium: it scrolls through the frames of the one file,
each shown with its own pixels and geometry, and an ROI drawn on a frame is stored on that frame and measured there.
"""

from __future__ import annotations

import pydicom
import pytest

from scoring.pixels import measure_roi
from studies.dicom.pixels import decode_pixels
from studies.models import Read, Roi
from studies.slices import ordered_instances
from tests import factories as f

from .conftest import ARTIFACTS, login
from .test_viewer import assert_points_close, drag, ellipse_in, open_viewer, track_console, wait_scored

pytestmark = pytest.mark.e2e


@pytest.fixture
def enhanced_study(transactional_db, tmp_path):
    """A VBQ + SNR study whose one case is a phantom imported as a single enhanced MR file, one reader, a plan."""
    from studies.services.dicom_import import dicom_import_run
    from studies.services.reading import reading_plan_build

    pi = f.make_user("pi")
    study = f.make_study(pi, name="E2E enhanced MR", measure_vbq=True, measure_snr=True, randomisation_seed=7)
    reader = f.make_user("reader")
    f.add_member(study, reader)
    mf, _, geometry = f.enhanced_mr()
    folder = tmp_path / "enhanced"
    folder.mkdir()
    (folder / "enhanced.dcm").write_bytes(f.part10(mf))
    outcome = dicom_import_run(study=study, source=folder)
    assert outcome.accepted == 1, outcome.report
    reading_plan_build(study=study, user=pi)
    return study, reader, geometry


def test_the_viewer_scrolls_through_the_frames_of_an_enhanced_mr_case(enhanced_study, context):
    study, reader, geometry = enhanced_study
    read = Read.objects.filter(study=study, reader=reader, read_number=1).get()
    slices = list(ordered_instances(read.case.primary_series))
    assert len(slices) == 13 and len({s.file.name for s in slices}) == 1
    stored = pydicom.dcmread(slices[0].file.path)
    page = context.new_page()
    console = track_console(page)
    login(page, "reader")
    page.wait_for_load_state("networkidle")
    console.clear()
    page.goto(f"/reads/{read.pk}/")
    open_viewer(page, console)

    image_ids = page.evaluate("window.__viewer.state.imageIds")
    assert [int(i.rsplit("frame=", 1)[1]) for i in image_ids] == [s.frame_number for s in slices]
    assert len({i.rsplit("frame=", 1)[0] for i in image_ids}) == 1  # one file for every frame

    index = "Number(document.getElementById('vw-slice').dataset.index)"
    shown = """() => { const v = window.__viewer.viewport, id = v.getCurrentImageId();
        const plane = window.__viewer.metaData.get('imagePlaneModule', id);
        let sum = 0; for (const x of v.getCornerstoneImage().getPixelData()) sum += x;
        return { id, position: plane.imagePositionPatient, spacing: [plane.rowPixelSpacing, plane.columnPixelSpacing],
                 sum, title: document.getElementById('vw-slice').title }; }"""
    mid = geometry.mid_slice_index
    page.wait_for_function(f"{index} === {mid}")  # the viewer opens on the middle slice
    for k in range(mid - 1, -1, -1):
        page.keyboard.press("ArrowUp")
        page.wait_for_function(f"{index} === {k}")
    for k, row in enumerate(slices):
        if k:
            page.keyboard.press("ArrowDown")
        page.wait_for_function(f"{index} === {k}")
        page.wait_for_function(f"window.__viewer.viewport.getCurrentImageId() === {image_ids[k]!r}")
        got = page.evaluate(shown)
        # the frame's own geometry (from its functional groups) and its own pixels are on screen
        assert got["position"] == pytest.approx(row.image_position, abs=1e-4), k
        assert got["spacing"] == pytest.approx([0.9375, 0.9375])
        assert got["sum"] == pytest.approx(float(decode_pixels(stored, row.frame_number).sum())), k
        assert f"frame {row.frame_number} of the multi-frame file" in got["title"]
    page.screenshot(path=str(ARTIFACTS / "viewer-enhanced-mr.png"))

    # an ROI drawn on the mid frame is stored on that frame and measured on its pixels
    page.keyboard.press("Home")  # the middle slice
    page.wait_for_function(f"{index} === {mid}")
    assert page.evaluate("window.__viewer.state.selected") == "L1"  # the panel starts with L1 (ellipse)
    start, end, expected = ellipse_in(geometry.vertebrae["L1"])
    drag(page, start, end)
    wait_scored(page)
    roi = Roi.objects.select_related("score").get(read=read, label="L1")
    assert roi.sop_instance_uid == slices[mid].sop_instance_uid
    assert_points_close(roi.points_px, expected, what="L1 on the mid frame")
    on_frame = measure_roi(slices[mid].file.path, "ellipse", roi.points_px, frame=slices[mid].frame_number)
    assert (roi.score.n, roi.score.mean) == (on_frame.n, on_frame.mean) and not roi.score.error
    assert roi.score.mean == pytest.approx(geometry.expected_marrow_mean["L1"], rel=0.1)
    assert not console, console
