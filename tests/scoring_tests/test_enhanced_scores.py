"""Scores on enhanced MR are exact: the same phantom imported as single-frame files and as one enhanced (multi-frame)
file, read with the same ROIs on the same slice, gives identical ROI statistics, VBQ and SNR."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring import services
from scoring.models import ReadScore, RoiScore
from studies.demo import simulate
from studies.models import Case, Roi
from studies.services.dicom_import import dicom_import_run
from studies.services.reading import roi_create
from studies.slices import ordered_instances
from tests import factories as f

pytestmark = pytest.mark.django_db

STATS = ("n", "area_mm2", "mean", "median", "sd", "min", "max")


def _scored_read(tmp_path: Path, name: str, datasets, geometry, reader) -> tuple[list[RoiScore], ReadScore, object]:
    """Import ``datasets`` into a new VBQ + SNR study, draw the simulated reader's six ROIs on the mid slice
    (slice number MID_SLICE + 1 along the normal) and score them."""
    folder = tmp_path / name
    folder.mkdir()
    for k, ds in enumerate(datasets):
        (folder / f"IM{k:04d}.dcm").write_bytes(f.part10(ds))
    study = f.make_study(measure_vbq=True, measure_snr=True)
    f.add_member(study, reader)
    outcome = dicom_import_run(study=study, source=folder)
    assert outcome.rejected == 0, outcome.report
    case = Case.objects.get(study=study)
    mid = list(ordered_instances(case.primary_series))[geometry.mid_slice_index]
    read = f.make_read(case, reader)
    for payload in simulate.simulated_rois(geometry, reader="reader1", read_number=1):
        roi_create(read=read, user=reader, data=payload | {"sop_instance_uid": mid.sop_instance_uid})
    for roi in Roi.objects.filter(read=read):
        services.roi_score_compute(roi_id=roi.pk)
    score = services.read_score_compute(read_id=read.pk)
    rois = list(RoiScore.objects.filter(roi__read=read).select_related("roi").order_by("roi__label"))
    return rois, score, mid


def test_the_same_phantom_scores_identically_as_single_frame_files_and_as_enhanced_mr(tmp_path):
    mf, singles, geometry = f.enhanced_mr()
    reader = f.make_user()
    single_rois, single_score, single_mid = _scored_read(tmp_path, "single", singles, geometry, reader)
    multi_rois, multi_score, multi_mid = _scored_read(tmp_path, "multi", [mf], geometry, reader)
    assert single_mid.frame_number is None and multi_mid.frame_number is not None
    assert single_mid.slice_position == pytest.approx(multi_mid.slice_position)
    assert len(single_rois) == len(multi_rois) == 6
    for a, b in zip(single_rois, multi_rois, strict=True):
        assert a.roi.label == b.roi.label and not a.error and not b.error
        assert {k: getattr(a, k) for k in STATS} == {k: getattr(b, k) for k in STATS}, a.roi.label  # exact
    assert single_score.vbq is not None and single_score.snr is not None
    assert (single_score.vbq, single_score.snr, single_score.snr_levels) == (
        multi_score.vbq,
        multi_score.snr,
        multi_score.snr_levels,
    )
    # and it is the phantom's known answer (the marrow and CSF boxes hold the expected values)
    assert single_score.vbq == pytest.approx(geometry.expected_vbq, rel=0.1)


def test_an_roi_on_another_frame_measures_that_frame(tmp_path):
    """Two frames of one file are two slices: the same ROI drawn on each measures different pixels."""
    mf, _, geometry = f.enhanced_mr()
    folder = tmp_path / "multi"
    folder.mkdir()
    (folder / "enhanced.dcm").write_bytes(f.part10(mf))
    reader = f.make_user()
    study = f.make_study(measure_vbq=True, measure_snr=True)
    f.add_member(study, reader)
    dicom_import_run(study=study, source=folder)
    case = Case.objects.get(study=study)
    slices = list(ordered_instances(case.primary_series))
    read = f.make_read(case, reader)
    box = geometry.vertebrae["L1"]
    points = [
        [box.col - 5, box.row - 5],
        [box.col + 5, box.row - 5],
        [box.col - 5, box.row + 5],
        [box.col + 5, box.row + 5],
    ]
    means = []
    for label, index in (("L1", geometry.mid_slice_index), ("L2", 0)):
        roi = roi_create(
            read=read,
            user=reader,
            data={
                "label": label,
                "shape": "rectangle",
                "points_px": points,
                "sop_instance_uid": slices[index].sop_instance_uid,
            },
        )
        means.append(services.roi_score_compute(roi_id=roi.pk).mean)
    assert means[0] != means[1]  # the mid-sagittal vertebra, and the lateral edge of the volume
