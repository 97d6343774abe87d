"""The phantom's anatomy: the spinal canal following the spine (:mod:`.spine`), tissue signals.

Pure geometry and numbers drawn from the subject's generator; the pixels are made by :mod:`.synthesis`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from .geometry import ROWS
from .spine import RIM, Body, Disc, Spine, posterior_wall

# Tissue signal relative to CSF on a T1 spin-echo image.
FAT, MUSCLE, DISC, CORTEX, LIGAMENT, CORD, ABDOMEN, SKIN = 3.5, 1.5, 1.2, 0.3, 0.35, 1.7, 1.9, 2.0

BODY_HALF_WIDTH: Final = 19  # px, nominal anterior-posterior half depth of a lumbar body incl. rim (~36 mm)
CSF_BOX_HALF: Final = (2, 8)  # (half width, half height) px of the CSF measurement box
CSF_BOX_OFFSET: Final = 3  # px between the anterior dura and the CSF measurement box
ANTERIOR_SKIN: Final = 36  # px: column of the anterior skin surface (air to the left)
POSTERIOR_SKIN: Final = 283  # px: column of the posterior skin surface (air to the right)


def _canal_anterior(rows: np.ndarray, bodies: list[Body]) -> np.ndarray:
    """Column of the canal's anterior wall for each row: just behind the posterior cortex of the (tilted) bodies,
    interpolated across the discs, so it follows the lordosis."""
    wall_rows, wall_cols = posterior_wall(bodies)
    return np.rint(np.interp(rows, wall_rows, wall_cols)).astype(int) + RIM + 1


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
    value per disc, T9/T10 … S2/S3) the disc bulges into the sac from the front (``bulges``) and the dorsal
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


def wall_slant(bodies: list[Body], level: str) -> int:
    """px by which the canal's anterior wall moves over the rows of a CSF box (± ``CSF_BOX_HALF[1]``) behind the
    centre of ``level``: where the spine is tilted an axis-aligned box meets the sac's front and back out of line."""
    body = next(b for b in bodies if b.level == level)
    rows = np.arange(body.row - CSF_BOX_HALF[1], body.row + CSF_BOX_HALF[1] + 1, dtype=float)
    wall = _canal_anterior(rows, bodies)
    return int(wall.max() - wall.min())


def draw_canal(rng: np.random.Generator, n_discs: int, slant: int = 0) -> Canal:
    """A lumbar canal with a dural sac 15–20 px (14–19 mm) deep.

    Roots (1–8 px) and plexus (0–5 px) are scaled down together where they would take more than
    ``sac − 10.5 − slant`` px, so that the roots begin at least 2 px behind the CSF box at L3 (3 px behind the
    plexus, 5 px wide; ``slant`` = :func:`wall_slant` at L3): a shallow sac has a thin root layer or a small plexus,
    never a contaminated reference box (at more tilted levels the box is made smaller until it is clear,
    :func:`~.synthesis.render`).
    """
    sac = int(rng.integers(15, 21))
    roots, plexus = rng.uniform(1.0, 8.0), rng.uniform(0.0, 5.0)
    room = sac - CSF_BOX_OFFSET - 2 * CSF_BOX_HALF[0] - 3.5 - slant  # px that roots + plexus may take
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

    spine: Spine
    canal: Canal
    marrow: np.ndarray  # multiplicative marrow pattern, [rows, columns]
    abdomen_texture: np.ndarray  # SD 8 %, 4 px correlation
    marrow_texture: np.ndarray  # trabecular texture, SD 4 %, 1.5 px
    csf_texture: np.ndarray  # SD 1.5 %, 1.5 px

    @property
    def bodies(self) -> list[Body]:
        return list(self.spine.bodies)

    @property
    def discs(self) -> list[Disc]:
        return list(self.spine.discs)


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
    centres = [d.row for d in anatomy.discs]
    halves = [d.height / 2 for d in anatomy.discs]
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
