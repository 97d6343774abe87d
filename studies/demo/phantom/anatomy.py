"""The phantom's anatomy: vertebral body and disc layout with the lordosis, the spinal canal, tissue signals.

Pure geometry and numbers drawn from the subject's generator; the pixels are made by :mod:`.synthesis`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from .geometry import ROWS, Region

# Tissue signal relative to CSF on a T1 spin-echo image.
FAT, MUSCLE, DISC, CORTEX, LIGAMENT, CORD, ABDOMEN, SKIN = 3.5, 1.5, 1.2, 0.3, 0.35, 1.7, 1.9, 2.0

BODY_HALF_WIDTH: Final = 19  # px, anterior-posterior half depth of a vertebral body incl. rim (~36 mm)
RIM: Final = 2  # px of cortical bone / endplate
BOX_MARGIN: Final = 2  # px between the inner rim and the marrow measurement box
CSF_BOX_HALF: Final = (2, 8)  # (half width, half height) px of the CSF measurement box
CSF_BOX_OFFSET: Final = 3  # px between the anterior dura and the CSF measurement box
ANTERIOR_SKIN: Final = 36  # px: column of the anterior skin surface (air to the left)
POSTERIOR_SKIN: Final = 283  # px: column of the posterior skin surface (air to the right)


@dataclass(frozen=True)
class Body:
    level: str
    col: int  # centre column
    row: int  # centre row
    half_height: int  # incl. rim


def layout(rng: np.random.Generator) -> tuple[list[Body], list[tuple[int, int, int]]]:
    """Vertebral bodies T11..S1 (centre, size) and discs (top row, bottom row, column shift) down the image."""
    heights = {"T11": 13, "T12": 13, "L1": 13, "L2": 14, "L3": 14, "L4": 14, "L5": 14}  # half heights, px
    discs = [9, 10, 11, 11, 12, 12, 12]  # T11/12 .. L5/S1, px
    lordosis = {"T11": 8, "T12": 6, "L1": 3, "L2": 0, "L3": -3, "L4": -4, "L5": -2}  # column shift, px
    jitter = rng.integers(-1, 2, size=7)
    bodies: list[Body] = []
    disc_rows: list[tuple[int, int, int]] = []
    row = -6  # T11 is cut by the top of the field of view
    centre_col = 168
    # The phantom's anatomy (T11..S1), distinct from the reading protocol's levels (L1–L4).
    for i, level in enumerate(("T11", "T12", "L1", "L2", "L3", "L4", "L5")):
        half = heights[level] + (int(jitter[i]) if level != "T11" else 0)
        bodies.append(Body(level, centre_col + lordosis[level], row + half, half))
        row += 2 * half + 1
        thickness = discs[i]
        shift = (lordosis[level] + (lordosis.get(_next_level(level), lordosis[level]))) // 2
        disc_rows.append((row, row + thickness - 1, shift))
        row += thickness
    bodies.append(Body("S1", centre_col + 6, row + 40, 40))
    return bodies, disc_rows


def _next_level(level: str) -> str:
    # The phantom's anatomy (T11..S1), distinct from the reading protocol's levels (L1–L4).
    order = ("T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1")
    return order[order.index(level) + 1]


def _canal_anterior(rows: np.ndarray, bodies: list[Body]) -> np.ndarray:
    """Column of the canal's anterior wall for each row, following the lordosis."""
    centres = np.array([b.row for b in bodies], dtype=float)
    posterior = np.array([b.col + BODY_HALF_WIDTH for b in bodies], dtype=float)
    return np.rint(np.interp(rows, centres, posterior)).astype(int) + RIM + 1


def marrow_box(body: Body) -> Region:
    """The marrow measurement box of a body: ``BOX_MARGIN`` px inside the inner cortical rim."""
    return Region(
        col=body.col,
        row=body.row,
        half_width=BODY_HALF_WIDTH - RIM - BOX_MARGIN,
        half_height=body.half_height - RIM - BOX_MARGIN,
    )


@dataclass(frozen=True)
class Canal:
    """One subject's spinal canal on the mid-sagittal slice, in px along the columns (anterior → posterior).

    Behind the posterior longitudinal ligament: the anterior epidural space (``anterior_space`` px of fat and
    veins, signal ``anterior_signal`` × CSF), the dural sac (``sac_width``; dark CSF around the cord down to
    the conus at the T12/L1 disc, below it the cauda equina, whose roots sink onto the dorsal dura in a supine
    patient: a layer ``root_layer`` px thick with the partial-volume signal ``root_signal`` × CSF), dorsal
    epidural fat (``dorsal_fat``), then the ligamentum flavum. Behind the mid-height of each body the
    retrovertebral venous plexus, where the basivertebral vein drains, indents the sac from the front
    (``plexus_depth`` px, over ± ``plexus_half_height`` rows, signal ``plexus_signal`` × CSF). At each disc (one
    value per disc, T11/12 … L5/S1) the disc bulges into the sac from the front (``bulges``) and the dorsal
    epidural fat pad of the interlaminar window indents it from behind (``fat_pads``). The CSF measurement box
    lies in the pure CSF between the plexus and the roots; a CSF ROI that is too large, too dorsal, too
    anterior or too tall takes in roots, veins or fat.
    """

    anterior_space: int
    anterior_signal: float
    sac_width: int
    dorsal_fat: int
    root_layer: float
    root_signal: float
    plexus_depth: float
    plexus_half_height: float
    plexus_signal: float
    bulges: tuple[float, ...]
    fat_pads: tuple[float, ...]

    @property
    def depth(self) -> int:
        """Anterior–posterior depth of the bony canal (px)."""
        return self.anterior_space + self.sac_width + self.dorsal_fat


def draw_canal(rng: np.random.Generator, n_discs: int) -> Canal:
    """A lumbar canal with a dural sac 15–20 px (14–19 mm) deep.

    Roots (1–8 px) and plexus (0–5 px) are scaled down together where they would take more than
    ``sac − 10.5`` px, so that the roots begin at least 2 px behind the CSF box (3 px behind the plexus, 5 px
    wide): a shallow sac has a thin root layer or a small plexus, never a contaminated reference box.
    """
    sac = int(rng.integers(15, 21))
    roots, plexus = rng.uniform(1.0, 8.0), rng.uniform(0.0, 5.0)
    room = sac - CSF_BOX_OFFSET - 2 * CSF_BOX_HALF[0] - 3.5  # px of the sac that roots + plexus may take
    if roots + plexus > room:
        roots, plexus = roots * room / (roots + plexus), plexus * room / (roots + plexus)
    return Canal(
        anterior_space=int(rng.integers(0, 2)),
        anterior_signal=float(rng.uniform(0.6, 1.6)),
        sac_width=sac,
        dorsal_fat=int(rng.integers(2, 5)),
        root_layer=float(roots),
        root_signal=float(rng.uniform(1.4, 1.9)),
        plexus_depth=float(plexus),
        plexus_half_height=float(rng.uniform(3.0, 8.0)),
        plexus_signal=float(rng.uniform(1.0, 2.4)),
        bulges=tuple(float(b) for b in rng.uniform(0.0, 5.0, n_discs)),
        fat_pads=tuple(float(p) for p in rng.uniform(0.5, 4.0, n_discs)),
    )


def _bumps(rows: np.ndarray, centres: list[float], reaches: list[float], heights: list[float]) -> np.ndarray:
    """Σ heights[i] · cos²(π/2 · |row − centres[i]| / reaches[i]) (zero beyond the reach)."""
    out = np.zeros(rows.shape, dtype=float)
    for centre, reach, height in zip(centres, reaches, heights, strict=True):
        x = np.clip(np.abs(rows - centre) / reach, 0.0, 1.0)
        out += height * np.cos(x * math.pi / 2) ** 2
    return out


@dataclass(frozen=True)
class Anatomy:
    """What is drawn once per subject and shared by all slices of the series (textures are relative SDs)."""

    bodies: list[Body]
    discs: list[tuple[int, int, int]]
    canal: Canal
    marrow: np.ndarray  # multiplicative marrow pattern, [rows, columns]
    abdomen_texture: np.ndarray  # SD 8 %, 4 px correlation
    marrow_texture: np.ndarray  # trabecular texture, SD 4 %, 1.5 px
    csf_texture: np.ndarray  # SD 1.5 %, 1.5 px


@dataclass(frozen=True)
class CanalProfile:
    """Per-row columns of the canal on a slice (inclusive) and what indents the sac from the front."""

    front: np.ndarray  # anterior wall of the bony canal (behind the PLL)
    back: np.ndarray  # posterior wall of the bony canal (in front of the ligamentum flavum)
    dura: np.ndarray  # first column of the dural sac where nothing indents it
    sac_front: np.ndarray  # first column of CSF
    sac_back: np.ndarray  # last column of CSF
    indent_signal: np.ndarray  # × CSF between dura and sac_front: the venous plexus, else a bulging disc


def canal_profile(anatomy: Anatomy) -> CanalProfile:
    rows = np.arange(ROWS, dtype=float)
    canal = anatomy.canal
    front = _canal_anterior(rows, anatomy.bodies)
    centres = [(top + bottom) / 2 for top, bottom, _ in anatomy.discs]
    halves = [(bottom - top) / 2 for top, bottom, _ in anatomy.discs]
    bulge = np.rint(_bumps(rows, centres, [h + 5 for h in halves], list(canal.bulges))).astype(int)
    pad = np.rint(_bumps(rows, centres, [h + 5 for h in halves], list(canal.fat_pads))).astype(int)
    plexus = np.rint(
        _bumps(
            rows,
            [float(b.row) for b in anatomy.bodies],
            [canal.plexus_half_height + 1] * len(anatomy.bodies),
            [canal.plexus_depth] * len(anatomy.bodies),
        )
    ).astype(int)
    dura = front + canal.anterior_space
    return CanalProfile(
        front=front,
        back=front + canal.depth - 1,
        dura=dura,
        sac_front=dura + np.maximum(bulge, plexus),
        sac_back=dura + canal.sac_width - 1 - pad,
        indent_signal=np.where(plexus > bulge, canal.plexus_signal, DISC),
    )
