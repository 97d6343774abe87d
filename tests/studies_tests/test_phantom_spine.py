"""Varied demo phantoms (issue #18 point 6): each subject's spine is drawn from its seed — lordosis, body heights and
depths, disc heights, marrow style — with a field of view from T10 to the sacrum, and the truth stays exact.

No database: the phantom package is pure (numpy + pydicom).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from studies.demo.phantom import COLUMNS, ROWS, demo_cohort, make_phantom_series
from studies.demo.phantom.dicom import hash_int
from studies.demo.phantom.spine import RIM, SPINE_LEVELS, Body, body_frame, layout, marrow_box
from studies.demo.phantom.synthesis import draw_anatomy, render, rician_mean

SEED = 2026


@pytest.fixture(scope="module")
def cohort():
    return demo_cohort()


def _rng(code: str, seed: int = SEED) -> np.random.Generator:
    # The generator build_series gives a subject (studies.demo.phantom.series).
    return np.random.default_rng([seed, hash_int(code) % 2**32])


@pytest.fixture(scope="module")
def spines(cohort):
    return {s.subject_code: layout(_rng(s.subject_code)) for s in cohort}


def _corners(body: Body) -> list[tuple[float, float]]:
    """(col, row) of the corners of the body's outline (its tilted rectangle)."""
    c, s = math.cos(body.angle), math.sin(body.angle)
    out = []
    for u in (-body.half_width, body.half_width):
        for v in (-body.half_height, body.half_height):
            out.append((body.col + u * c + v * s, body.row - u * s + v * c))
    return out


def test_the_field_of_view_runs_from_t10_to_the_sacrum(spines):
    for code, spine in spines.items():
        assert [b.level for b in spine.bodies] == list(SPINE_LEVELS)
        for level in ("T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1"):  # wholly inside: count from T12 or S1
            for col, row in _corners(spine.body(level)):
                assert 0 <= row <= ROWS - 1 and 0 <= col <= COLUMNS - 1, (code, level)
        t10 = spine.body("T10")
        assert t10.row + t10.half_height >= 4, code  # at least the lower part of T10 is shown
        s2 = spine.body("S2")
        assert s2.row - s2.half_height < ROWS - 1, code  # and the upper sacrum below S1


def test_level_centres_follow_the_lordotic_curve(spines):
    for code, spine in spines.items():
        bodies = spine.bodies
        for upper, disc, lower in zip(bodies, spine.discs, bodies[1:], strict=False):
            # Consecutive centres are one half body + disc + half body apart along the curve (chord ≈ arc)...
            gap = upper.half_height + 0.5 + disc.height + lower.half_height + 0.5
            distance = math.hypot(lower.col - upper.col, lower.row - upper.row)
            assert distance == pytest.approx(gap, abs=1.5), (code, upper.level)
            # ... in the direction of the axis between them (the mean of the two tilts).
            direction = math.atan2(lower.col - upper.col, lower.row - upper.row)
            assert direction == pytest.approx((upper.angle + lower.angle) / 2, abs=math.radians(3)), (code, upper.level)
            # The disc sits between them, and (down to L5/S1) is open at the back: its posterior height, the height
            # at the centre less the lordotic wedge, stays positive (the sacral segments are fused).
            assert upper.row < disc.row < lower.row
            if upper.level not in ("S1", "S2"):
                wedge = upper.half_width * abs(lower.angle - upper.angle)
                assert disc.height - wedge > 0.5, (code, upper.level)
        tilts = [spine.body(lv).angle for lv in ("L1", "L2", "L3", "L4", "L5", "S1")]
        assert tilts == sorted(tilts), code  # the axis turns one way from L1 to S1: a lordosis
        assert tilts[0] < 0 < tilts[-1]  # L1's caudal end anterior, S1's posterior
        assert math.degrees(tilts[-1] - tilts[0]) == pytest.approx(spine.lordosis_deg, abs=0.01)
        assert spine.body("L2").row <= spine.apex_row <= spine.body("L4").row  # the apex near L3
        cols = [spine.body(lv).col for lv in ("T12", "L3", "S1")]
        assert cols[1] < min(cols[0], cols[2]), code  # the lumbar spine bows forward (anterior is the left)


def test_spines_differ_between_subjects(spines):
    lordosis = [s.lordosis_deg for s in spines.values()]
    assert 25 <= min(lordosis) and max(lordosis) <= 45 and np.std(lordosis) > 4
    for level in ("L3", "T12"):
        assert len({s.body(level).half_height for s in spines.values()}) >= 4, level
        assert len({s.body(level).half_width for s in spines.values()}) >= 4, level
    assert len({round(s.disc("L4").height, 1) for s in spines.values()}) >= 20
    assert np.ptp([s.body("L3").row for s in spines.values()]) >= 10  # the levels are not always in one place


def test_a_spine_is_determined_by_its_seed(cohort):
    code = cohort[4].subject_code
    assert layout(_rng(code)) == layout(_rng(code))
    assert layout(_rng(code)) != layout(_rng(code, seed=SEED + 1))
    a, b = draw_anatomy(_rng(code)), draw_anatomy(_rng(code))
    assert np.array_equal(a.marrow, b.marrow) and a.canal == b.canal


def _axis_profile(truth: np.ndarray, body: Body, along_axis: bool) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free signal sampled every 0.25 px through the body's centre, along its axis or across it."""
    t = np.arange(-body.half_height - 6 if along_axis else -body.half_width - 6, 0.01, 0.25)
    if along_axis:
        t = np.concatenate([t, -t[::-1][1:]])
    c, s = math.cos(body.angle), math.sin(body.angle)
    cols = body.col + (t * s if along_axis else t * c)
    rows = body.row + (t * c if along_axis else -t * s)
    r0, c0 = np.clip(np.rint(rows).astype(int), 0, ROWS - 1), np.clip(np.rint(cols).astype(int), 0, COLUMNS - 1)
    return t, truth[r0, c0]


@pytest.mark.parametrize("code", ["VBQ-003", "VBQ-044", "SNR-007"])
def test_heights_and_depths_are_as_drawn(cohort, code):
    """On the noise-free mid-sagittal slice the cortical end plates and the anterior cortex (the darkest signal
    next to the marrow) lie where the spine says: at ± half height along the axis, at − half depth across it."""
    subject = next(s for s in cohort if s.subject_code == code)
    anatomy = draw_anatomy(_rng(code))
    truth = render(subject, anatomy, 0.0)[0]
    for level in ("L1", "L2", "L3", "L4"):
        body = anatomy.spine.body(level)
        t, profile = _axis_profile(truth, body, along_axis=True)
        top = t[t < 0][np.argmin(profile[t < 0])]
        bottom = t[t > 0][np.argmin(profile[t > 0])]
        # The end plates are the RIM outermost px of the body: their centre lies ~1 px inside its edge.
        assert -top == pytest.approx(body.half_height - RIM / 2 + 0.5, abs=1.5), (level, top)
        assert bottom == pytest.approx(body.half_height - RIM / 2 + 0.5, abs=1.5), (level, bottom)
        t, profile = _axis_profile(truth, body, along_axis=False)
        front = t[np.argmin(profile)]
        assert -front == pytest.approx(body.half_width - RIM / 2 + 0.5, abs=1.5), (level, front)


def test_marrow_box_stays_inside_the_tilted_body():
    for angle in np.radians([-25, -12, 0, 7, 20, 35]):
        body = Body("L5", 160, 200, 13, 19, float(angle))
        box = marrow_box(body)
        rows, cols = box.slices()
        rr, cc = np.mgrid[rows, cols].astype(float)
        u, v = body_frame(body.col, body.row, body.angle, rr, cc)
        margin = RIM + 2  # rim + BOX_MARGIN
        assert np.abs(u).max() <= body.half_width - margin + 1e-9
        assert np.abs(v).max() <= body.half_height - margin + 1e-9
        assert box.half_width >= 8 and box.half_height >= 4


def test_the_truth_is_exact_for_every_subject_of_the_demo(cohort):
    """The measurement boxes keep their targets on every demo subject's curved spine: the noise-free marrow box
    means are the level's marrow signal and the CSF boxes pure CSF (Rician bias included), so the ROI truth the
    simulated readers and the tests use follows the new geometry."""
    for subject in cohort:
        anatomy = draw_anatomy(_rng(subject.subject_code))
        truth, vertebrae, csf, sac = render(subject, anatomy, 0.0)
        mean = rician_mean(truth, subject.noise_sigma)
        for level, box in vertebrae.items():
            assert mean[box.slices()].mean() == pytest.approx(subject.marrow_signal(level), rel=0.005), level
            assert box.col == anatomy.spine.body(level).col and box.row == anatomy.spine.body(level).row
        for level, box in csf.items():
            assert mean[box.slices()].mean() == pytest.approx(subject.csf_signal, rel=0.005), level
            assert sac[level].col - sac[level].half_width <= box.col - box.half_width  # inside the sac
        assert vertebrae["L3"].area_mm2() > 250 and 40 <= csf["L3"].area_mm2() <= 150


def test_series_geometry_reports_the_spine(cohort, tmp_path):
    subject = next(s for s in cohort if s.subject_code == "VBQ-020")
    geometry = make_phantom_series(subject, out_dir=tmp_path, rng_seed=SEED)
    assert geometry.spine == layout(_rng("VBQ-020"))
    assert geometry.vertebrae["L2"].row == geometry.spine.body("L2").row
