"""Simulated readers for the demo: ROIs placed on the phantom anatomy with per-reader habits and per-read jitter.

A reader's *habit* (:class:`ReaderHabit`) is systematic, the same on every read: how large an ellipse they
draw in the marrow and which part of the body it covers, where across the dural sac their CSF rectangle starts,
how wide and how tall it is. Each read adds *jitter* around the habit (placement SD 0.7 px ≈ 0.66 mm, size SD
7 %). The phantom's marrow and canal are heterogeneous (:mod:`studies.demo.phantom`), so a habit meets each
subject's anatomy differently — a wide CSF rectangle takes in that subject's layer of cauda equina roots, a
rectangle snug against the anterior dura that subject's ligament, epidural veins and venous plexus. Two readers
therefore disagree case by case while each repeats themself, and the CSF denominator dominates the
disagreement: on the 61-subject demo the intra-reader ICC comes out higher than the inter-reader ICC, near the
seed study's 0.94 and 0.74 (``DESIGN.md``, "VBQ vs QCT").
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from studies.protocol import LUMBAR_VBQ

from .phantom import PhantomGeometry, Region
from .phantom.spine import BOX_MARGIN, RIM

# The simulated readers read the lumbar protocol: its levels, reference (CSF) and noise labels.
LEVELS = LUMBAR_VBQ.levels


@dataclass(frozen=True)
class ReaderHabit:
    """How one reader draws, relative to the anatomy of :class:`~studies.demo.phantom.PhantomGeometry`.

    ellipse_scale
        Ellipse semi-axes as a fraction of the marrow box's half width and half height.
    ellipse_shift
        Ellipse centre offset, fraction of the box's half width (+ posterior, towards the basivertebral vein).
    csf_gap
        Distance (px) from the anterior dura to the CSF rectangle's anterior edge (0: snug against the wall).
    csf_half_width, csf_half_height
        The reader's usual CSF rectangle (px; the same whatever the depth of the subject's sac).
    csf_drow
        Offset (px) of the CSF rectangle's centre from the body's mid-height (+ caudal, towards L3/4).
    jitter_px
        SD (px) of the per-read placement jitter; sizes vary by ``jitter_size`` (relative SD) per read.
    """

    ellipse_scale: float
    ellipse_shift: float
    csf_gap: float
    csf_half_width: float
    csf_half_height: float
    csf_drow: float = 0.0
    jitter_px: float = 0.7
    jitter_size: float = 0.07


#: The demo's readers. reader1 draws the protocol's picture (moderate ellipses, a CSF rectangle in the anterior
#: half of the sac). reader2 is generous: ellipses out to the end plates and cortex (on a tilted body their corners
#: reach it), a CSF rectangle spanning most of the sac (14 px), so it takes in the roots of the cauda equina
#: wherever the sac is shallow or the root layer thick. reader3 is tight: small central ellipses and a narrow, tall
#: CSF rectangle overlapping the anterior dura by a pixel, so it takes in the posterior longitudinal ligament,
#: anterior epidural veins and the retrovertebral venous plexus. (Both rectangles were retuned on the curved
#: phantoms of issue #18 so that the demo's inter-reader ICC stays near the seed study's 0.74.)
HABITS: dict[str, ReaderHabit] = {
    "reader1": ReaderHabit(ellipse_scale=0.75, ellipse_shift=0.0, csf_gap=3, csf_half_width=2.5, csf_half_height=8),
    "reader2": ReaderHabit(ellipse_scale=1.1, ellipse_shift=0.0, csf_gap=2.5, csf_half_width=6.5, csf_half_height=8),
    "reader3": ReaderHabit(
        ellipse_scale=0.65, ellipse_shift=-0.1, csf_gap=-1.0, csf_half_width=2.5, csf_half_height=12
    ),
}


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def reader_habit(reader: str) -> ReaderHabit:
    """The habit of a demo reader, or one drawn (reproducibly, from the name) for any other reader."""
    if reader in HABITS:
        return HABITS[reader]
    rng = _rng("habit", reader)
    return ReaderHabit(
        ellipse_scale=float(rng.uniform(0.6, 0.95)),
        ellipse_shift=float(rng.uniform(-0.15, 0.15)),
        csf_gap=float(rng.uniform(0.0, 4.0)),
        csf_half_width=float(rng.uniform(2.5, 6.5)),
        csf_half_height=float(rng.uniform(6, 11)),
    )


def ellipse_in(region: Region, *, scale: float, dcol: float, drow: float) -> list[list[float]]:
    """Cornerstone EllipticalROI handles [bottom, top, left, right] of an ellipse inside ``region``."""
    a = max(2.0, region.half_width * scale)
    b = max(2.0, region.half_height * scale)
    c, r = region.col + dcol, region.row + drow
    return [[c, r + b], [c, r - b], [c - a, r], [c + a, r]]


def rectangle_in(region: Region, *, scale: float, dcol: float, drow: float) -> list[list[float]]:
    """Cornerstone RectangleROI handles [top-left, top-right, bottom-left, bottom-right]."""
    a = max(1.0, region.half_width * scale)
    b = max(1.0, region.half_height * scale)
    c, r = region.col + dcol, region.row + drow
    return [[c - a, r - b], [c + a, r - b], [c - a, r + b], [c + a, r + b]]


def rectangle(col: float, row: float, half_width: float, half_height: float) -> list[list[float]]:
    """Cornerstone RectangleROI handles of the rectangle centred on (col, row)."""
    a, b = max(1.0, half_width), max(1.0, half_height)
    return [[col - a, row - b], [col + a, row - b], [col - a, row + b], [col + a, row + b]]


def _csf_rectangle(geometry: PhantomGeometry, habit: ReaderHabit, rng: np.random.Generator) -> list[list[float]]:
    """The reader's CSF rectangle at L3, placed across the dural sac as the habit has it, jittered."""
    box = geometry.csf["L3"]
    sac = geometry.thecal_sac.get("L3")
    if sac is None:  # a geometry without the sac: the CSF box spans its middle
        sac = Region(box.col, box.row, 2 * box.half_width, box.half_height)
    anterior = sac.col - sac.half_width - 0.5  # edge of the sac's first column
    size = np.exp(rng.normal(0.0, habit.jitter_size, size=2))
    dcol, drow = rng.normal(0.0, habit.jitter_px, size=2)
    half_width = habit.csf_half_width * size[0]
    return rectangle(
        anterior + habit.csf_gap + half_width + dcol,
        box.row + habit.csf_drow + drow,
        half_width,
        habit.csf_half_height * size[1],
    )


def _marrow_extent(geometry: PhantomGeometry, level: str) -> Region:
    """What a reader sizes an ellipse to: the body's marrow (less ``BOX_MARGIN`` px), centred on the measurement box.

    On an upright body that is the measurement box itself; on a tilted one (the lordosis) it is larger than the
    axis-aligned box inscribed in the tilted marrow, so an ellipse (always axis-aligned in the viewer) as large as a
    generous reader draws it reaches the cortex and end plates at the body's corners, as it does on a real scan.
    """
    box = geometry.vertebrae[level]
    if geometry.spine is None:
        return box
    body = geometry.spine.body(level)
    return Region(box.col, box.row, body.half_width - RIM - BOX_MARGIN, body.half_height - RIM - BOX_MARGIN)


def simulated_rois(geometry: PhantomGeometry, *, reader: str, read_number: int) -> list[dict]:
    """Six ROI payloads (L1–L4 ellipses, CSF at L3 and noise rectangles) without ``sop_instance_uid``."""
    habit = reader_habit(reader)
    rng = _rng(geometry.subject_code, reader, read_number)
    out = []
    for level in LEVELS:
        box = _marrow_extent(geometry, level)
        dcol, drow = rng.normal(0.0, habit.jitter_px, size=2)
        scale = float(np.clip(habit.ellipse_scale * np.exp(rng.normal(0.0, habit.jitter_size)), 0.4, 1.2))
        out.append(
            {
                "label": level,
                "shape": "ellipse",
                "points_px": ellipse_in(box, scale=scale, dcol=habit.ellipse_shift * box.half_width + dcol, drow=drow),
            }
        )
    out.append(
        {
            "label": LUMBAR_VBQ.reference,
            "shape": "rectangle",
            "csf_level": "L3",
            "points_px": _csf_rectangle(geometry, habit, rng),
        }
    )
    jitter = rng.normal(0.0, 1.5, size=2)
    out.append(
        {
            "label": LUMBAR_VBQ.noise,
            "shape": "rectangle",
            "points_px": rectangle_in(geometry.noise, scale=0.8, dcol=jitter[0], drow=jitter[1]),
        }
    )
    return out


#: Seconds a simulated reader spends on one case, and the pause between two cases of a sitting.
CASE_SECONDS = (60.0, 240.0)
PAUSE_SECONDS = (5.0, 40.0)


@dataclass(frozen=True)
class ReadTiming:
    """When a simulated read was opened and submitted, and the time spent on it (``Read.time_on_task_seconds``)."""

    opened_at: datetime
    submitted_at: datetime
    seconds: float


def case_seconds(subject_code: str, *, reader: str, read_number: int) -> float:
    """Time a simulated reader spends on one case (s), reproducible from (subject, reader, read number).

    The reader's pace (median 100–170 s, drawn from the name) times a log-normal case difficulty (SD 0.3 on the
    log scale); a second read is 10 % quicker (the protocol is familiar by then); kept within 60–240 s.
    """
    pace = float(_rng("pace", reader).uniform(100.0, 170.0))
    rng = _rng("time", subject_code, reader, read_number)
    seconds = pace * (0.9 if read_number > 1 else 1.0) * float(np.exp(rng.normal(0.0, 0.3)))
    return round(float(np.clip(seconds, *CASE_SECONDS)), 1)


def reading_session(subject_codes: Sequence[str], *, reader: str, read_number: int, end: datetime) -> list[ReadTiming]:
    """One sitting: the cases in worklist order, back to back with a 5–40 s pause between two, the last one
    submitted at ``end``. Durations from :func:`case_seconds`; pauses reproducible from (reader, read number)."""
    rng = _rng("pauses", reader, read_number)
    seconds = [case_seconds(code, reader=reader, read_number=read_number) for code in subject_codes]
    pauses = np.round(rng.uniform(*PAUSE_SECONDS, size=len(seconds)), 1)
    out = []
    done = end
    for spent, pause in zip(reversed(seconds), pauses, strict=True):  # backwards from the last case
        opened = done - timedelta(seconds=spent)
        out.append(ReadTiming(opened_at=opened, submitted_at=done, seconds=spent))
        done = opened - timedelta(seconds=float(pause))
    return out[::-1]
