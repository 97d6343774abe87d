"""Synthetic sagittal T1 lumbar spine MRI phantoms and the demo cohort (numpy + pydicom only, no Django).

The phantoms stand in for raw scanner output: single-frame MR DICOM files with realistic headers *including*
identifying attributes (patient name, ID, birth date, institution, physicians, accession number, dates, a
private block holding the patient's name), so that the import's validation and de-identification are
exercised end to end. The demo cohort mirrors the two source studies of the design brief: 61 lumbar surgery
patients with QCT (21 normal, 21 osteopenia, 19 osteoporosis) and 5 + 5 women with DEXA for the SNR /
M-score design.

Image conventions (what :class:`PhantomGeometry` refers to)
----------------------------------------------------------
- 320 × 320 pixels of 0.9375 mm (300 mm field of view); 13 sagittal slices, 4 mm thick, 4.4 mm apart.
- Image Orientation (Patient) ``[0, 1, 0, 0, 0, -1]``: columns run anterior → posterior (patient +y), rows
  run superior → inferior (patient −z). The patient's front is on the left of the image, the head at the top.
- The slice normal (row × column direction) is ``[-1, 0, 0]``; slices are written in increasing
  ``dot(ImagePositionPatient, normal)`` order, i.e. from the patient's left (+x) to the right, with the
  mid-sagittal slice (x = 0) at index :data:`MID_SLICE` and Instance Number = index + 1.
- A :class:`Region` is an axis-aligned box of pixels: columns ``col - half_width .. col + half_width`` and rows
  ``row - half_height .. row + half_height``, both inclusive, zero-based ``(col, row)`` like a viewer's (x, y).
- Stored values are 12-bit unsigned integers in 16 bits with no rescale, so stored value = signal.

Signal model (T1 spin echo, arbitrary units): CSF sets the scale; marrow of each level is
``csf × target VBQ × level factor`` where the L1–L4 factors have median exactly 1, so the VBQ of the noise-free
image (median L1–L4 marrow / CSF at L3) equals the subject's target. The anatomy is heterogeneous, as on real
T1 images, so that where a reader's ROI lands matters: the marrow has patchy red/yellow marrow, end-plate
(Modic) zones, fat islands and haemangiomas, and a darker basivertebral region posteriorly; the canal holds
the cord or the cauda equina in dark CSF, epidural fat and veins, and a retrovertebral venous plexus, with disc
bulges and fat pads at the disc levels. Each measurement box keeps its level's mean (the marrow
pattern is scaled per body, the CSF box lies in pure CSF). A slight blur (point-spread) and Rician noise
(magnitude of complex Gaussian noise of SD ``noise_sigma``) follow. :class:`PhantomGeometry` reports the
expected means of the measurement boxes including the Rician bias, and the expected SD of the air background
(Rayleigh: 0.655 σ).
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import math
import shutil
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    MPEG4HP41,
    CTImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    MediaStorageDirectoryStorage,
    MRImageStorage,
    RLELossless,
    generate_uid,
)

from studies.reference_format import REFERENCE_COLUMNS

__all__ = [
    "LEVELS",
    "MID_SLICE",
    "N_SLICES",
    "PhantomGeometry",
    "PhantomSubject",
    "Region",
    "demo_cohort",
    "make_bad_files",
    "make_phantom_series",
    "write_reference_csv",
]

ROWS: Final = 320
COLUMNS: Final = 320
PIXEL_SPACING: Final = 0.9375  # mm, rows and columns
N_SLICES: Final = 13
MID_SLICE: Final = N_SLICES // 2
SLICE_THICKNESS: Final = 4.0  # mm
SLICE_SPACING: Final = 4.4  # mm, centre to centre (10 % gap)
MAX_STORED: Final = 4095  # 12 bits
LEVELS: Final = ("T12", "L1", "L2", "L3", "L4", "L5")
VBQ_LEVELS: Final = ("L1", "L2", "L3", "L4")
CSF_LEVELS: Final = ("L1", "L2", "L3")
RAYLEIGH_SD_FACTOR: Final = math.sqrt(2 - math.pi / 2)  # SD of |complex Gaussian| in air, per unit sigma

#: QCT reference: the young-adult mean and SD (mg/cm³) chosen so that the ACR cut-offs (120 and 80 mg/cm³)
#: coincide with the WHO T-score cut-offs (−1 and −2.5): T = (BMD − mean) / SD.
QCT_YOUNG_MEAN: Final = 440 / 3
QCT_YOUNG_SD: Final = 80 / 3
#: DEXA L1–L4 reference (g/cm², Hologic-like young-adult female mean and SD).
DEXA_YOUNG_MEAN: Final = 1.047
DEXA_YOUNG_SD: Final = 0.110

#: The SNR / M-score subjects share one scanner, hence one noise level.
SNR_NOISE_SIGMA: Final = 12.0

# Tissue signal relative to CSF on a T1 spin-echo image.
_FAT, _MUSCLE, _DISC, _CORTEX, _LIGAMENT, _CORD, _ABDOMEN, _SKIN = 3.5, 1.5, 1.2, 0.3, 0.35, 1.7, 1.9, 2.0

_BODY_HALF_WIDTH: Final = 19  # px, anterior-posterior half depth of a vertebral body incl. rim (~36 mm)
_RIM: Final = 2  # px of cortical bone / endplate
_BOX_MARGIN: Final = 2  # px between the inner rim and the marrow measurement box
_CSF_BOX_HALF: Final = (2, 8)  # (half width, half height) px of the CSF measurement box
_CSF_BOX_OFFSET: Final = 3  # px between the anterior dura and the CSF measurement box
_ANTERIOR_SKIN: Final = 36  # px: column of the anterior skin surface (air to the left)
_POSTERIOR_SKIN: Final = 283  # px: column of the posterior skin surface (air to the right)


@dataclass(frozen=True)
class Region:
    """Axis-aligned box of pixels: columns col ± half_width, rows row ± half_height (inclusive, zero-based)."""

    col: int
    row: int
    half_width: int
    half_height: int

    def slices(self) -> tuple[slice, slice]:
        """(row slice, column slice) to index a ``[rows, columns]`` array."""
        return (
            slice(self.row - self.half_height, self.row + self.half_height + 1),
            slice(self.col - self.half_width, self.col + self.half_width + 1),
        )

    def pixels(self, image: np.ndarray) -> np.ndarray:
        """The region's pixel values of a 2-D ``[rows, columns]`` image, flattened."""
        return np.asarray(image)[self.slices()].ravel()

    @property
    def n_pixels(self) -> int:
        return (2 * self.half_width + 1) * (2 * self.half_height + 1)

    def area_mm2(self, spacing: float = PIXEL_SPACING) -> float:
        return self.n_pixels * spacing * spacing


@dataclass(frozen=True)
class PhantomSubject:
    """One demo subject: reference data, demographics, the raw (identifying) header values and the targets.

    ``subject_code`` is the pseudonym the import assigns; ``patient_id`` / ``patient_name`` are the fake raw
    identifiers written into the DICOM files (the demo import maps ``patient_id`` → ``subject_code``).
    ``level_factors`` multiply the median marrow signal for T12, L1, L2, L3, L4, L5; the L1–L4 factors have
    median exactly 1 and mean exactly 1.
    """

    subject_code: str
    patient_id: str
    patient_name: str
    birth_date: str
    study_date: str
    cohort: str  # "VBQ" (QCT study) or "SNR" (DEXA study)
    group: str  # "normal" | "osteopenia" | "osteoporosis"
    reference_modality: str  # "QCT" | "DEXA"
    t_score: float
    bmd: float  # mg/cm³ for QCT, g/cm² for DEXA
    z_score: float | None
    tbs: float | None
    age: int
    sex: str  # "F" | "M"
    bmi: float
    diabetes: bool
    hyperlipidemia: bool
    control: bool
    target_vbq: float
    target_snr: float | None
    csf_signal: float
    noise_sigma: float
    level_factors: tuple[float, float, float, float, float, float]

    def marrow_signal(self, level: str) -> float:
        """Noise-free marrow signal of a level (before texture)."""
        return self.csf_signal * self.target_vbq * self.level_factors[LEVELS.index(level)]


@dataclass(frozen=True)
class PhantomGeometry:
    """Where things are on the mid-sagittal slice and what a measurement there should give.

    ``vertebrae[level]`` is a box wholly inside the marrow of that vertebral body (at least 2 px inside the
    cortical rim) for T12 and L1–L5; ``csf[level]`` a box of pure CSF in the dural sac behind L1, L2 and L3
    (3 px behind the anterior dura or the venous plexus, clear of the roots); ``thecal_sac[level]`` the dural
    sac there from the anterior to the dorsal dura, over the rows of the marrow box, where no disc indents it
    (what a reader sees as "the CSF behind L3": CSF, the roots along the dorsal dura, the plexus in front);
    ``noise`` a box of air in front of the abdomen. ``expected_*`` are the expected means of the stored values
    in those boxes (Rician bias included) and ``expected_noise_sd`` the expected sample SD in ``noise``.
    ``expected_vbq`` = median(expected marrow L1–L4) / expected CSF at L3; ``expected_snr`` = mean(expected
    marrow L1–L4) / expected noise SD.
    """

    subject_code: str
    files: tuple[Path, ...]
    mid_slice_index: int
    rows: int
    columns: int
    pixel_spacing: tuple[float, float]
    slice_thickness: float
    spacing_between_slices: float
    vertebrae: dict[str, Region]
    csf: dict[str, Region]
    noise: Region
    expected_marrow_mean: dict[str, float]
    expected_csf_mean: dict[str, float]
    noise_sigma: float
    expected_noise_sd: float
    expected_vbq: float
    expected_snr: float
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uids: tuple[str, ...] = field(default=())
    thecal_sac: dict[str, Region] = field(default_factory=dict)

    @property
    def mid_slice_path(self) -> Path:
        return self.files[self.mid_slice_index]


# --------------------------------------------------------------------------------------------- anatomy


@dataclass(frozen=True)
class _Body:
    level: str
    col: int  # centre column
    row: int  # centre row
    half_height: int  # incl. rim


def _layout(rng: np.random.Generator) -> tuple[list[_Body], list[tuple[int, int, int]]]:
    """Vertebral bodies T11..S1 (centre, size) and discs (top row, bottom row, column shift) down the image."""
    heights = {"T11": 13, "T12": 13, "L1": 13, "L2": 14, "L3": 14, "L4": 14, "L5": 14}  # half heights, px
    discs = [9, 10, 11, 11, 12, 12, 12]  # T11/12 .. L5/S1, px
    lordosis = {"T11": 8, "T12": 6, "L1": 3, "L2": 0, "L3": -3, "L4": -4, "L5": -2}  # column shift, px
    jitter = rng.integers(-1, 2, size=7)
    bodies: list[_Body] = []
    disc_rows: list[tuple[int, int, int]] = []
    row = -6  # T11 is cut by the top of the field of view
    centre_col = 168
    for i, level in enumerate(("T11", "T12", "L1", "L2", "L3", "L4", "L5")):
        half = heights[level] + (int(jitter[i]) if level != "T11" else 0)
        bodies.append(_Body(level, centre_col + lordosis[level], row + half, half))
        row += 2 * half + 1
        thickness = discs[i]
        shift = (lordosis[level] + (lordosis.get(_next_level(level), lordosis[level]))) // 2
        disc_rows.append((row, row + thickness - 1, shift))
        row += thickness
    bodies.append(_Body("S1", centre_col + 6, row + 40, 40))
    return bodies, disc_rows


def _next_level(level: str) -> str:
    order = ("T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1")
    return order[order.index(level) + 1]


def _rounded_box(rr: np.ndarray, cc: np.ndarray, col: float, row: float, hw: float, hh: float, r: float):
    """Mask of a box with rounded corners (corner radius r); only its bounding box is evaluated."""
    mask = np.zeros(rr.shape, dtype=bool)
    r0, r1 = max(0, math.floor(row - hh)), min(rr.shape[0], math.ceil(row + hh) + 1)
    c0, c1 = max(0, math.floor(col - hw)), min(cc.shape[1], math.ceil(col + hw) + 1)
    if r0 >= r1 or c0 >= c1:
        return mask
    sub_r, sub_c = rr[r0:r1, c0:c1], cc[r0:r1, c0:c1]
    dx = np.maximum(np.abs(sub_c - col) - (hw - r), 0)
    dy = np.maximum(np.abs(sub_r - row) - (hh - r), 0)
    inside = (np.abs(sub_c - col) <= hw) & (np.abs(sub_r - row) <= hh)
    mask[r0:r1, c0:c1] = inside & (dx * dx + dy * dy <= r * r)
    return mask


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, math.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=float)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with edge padding (numpy only)."""
    k = _gaussian_kernel(sigma)
    radius = len(k) // 2
    out = image
    for axis in (0, 1):
        padded = np.pad(out, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        acc = np.zeros_like(out, dtype=float)
        n = out.shape[axis]
        for i, w in enumerate(k):
            acc += w * (padded[i : i + n, :] if axis == 0 else padded[:, i : i + n])
        out = acc
    return out


def _texture(rng: np.random.Generator, sigma_px: float, sd: float) -> np.ndarray:
    field_ = _blur(rng.standard_normal((ROWS, COLUMNS)), sigma_px)
    return field_ / field_.std() * sd


def _canal_anterior(rows: np.ndarray, bodies: list[_Body]) -> np.ndarray:
    """Column of the canal's anterior wall for each row, following the lordosis."""
    centres = np.array([b.row for b in bodies], dtype=float)
    posterior = np.array([b.col + _BODY_HALF_WIDTH for b in bodies], dtype=float)
    return np.rint(np.interp(rows, centres, posterior)).astype(int) + _RIM + 1


def _clipped_mean(image: np.ndarray, region: Region) -> float:
    """Mean of ``image`` over the part of ``region`` inside the image (T11 is cut by the field of view)."""
    rows, cols = region.slices()
    return float(image[max(0, rows.start) : rows.stop, max(0, cols.start) : cols.stop].mean())


def _marrow_box(body: _Body) -> Region:
    """The marrow measurement box of a body: ``_BOX_MARGIN`` px inside the inner cortical rim."""
    return Region(
        col=body.col,
        row=body.row,
        half_width=_BODY_HALF_WIDTH - _RIM - _BOX_MARGIN,
        half_height=body.half_height - _RIM - _BOX_MARGIN,
    )


@dataclass(frozen=True)
class _Canal:
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


def _draw_canal(rng: np.random.Generator, n_discs: int) -> _Canal:
    """A lumbar canal with a dural sac 15–20 px (14–19 mm) deep.

    Roots (1–8 px) and plexus (0–5 px) are scaled down together where they would take more than
    ``sac − 10.5`` px, so that the roots begin at least 2 px behind the CSF box (3 px behind the plexus, 5 px
    wide): a shallow sac has a thin root layer or a small plexus, never a contaminated reference box.
    """
    sac = int(rng.integers(15, 21))
    roots, plexus = rng.uniform(1.0, 8.0), rng.uniform(0.0, 5.0)
    room = sac - _CSF_BOX_OFFSET - 2 * _CSF_BOX_HALF[0] - 3.5  # px of the sac that roots + plexus may take
    if roots + plexus > room:
        roots, plexus = roots * room / (roots + plexus), plexus * room / (roots + plexus)
    return _Canal(
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


def _endplate_change(rng: np.random.Generator) -> float:
    """Relative T1 signal change of a subchondral band: Modic type 2 (fatty, 35 %), type 1 (oedema, 8 %)."""
    kind = rng.uniform()
    if kind < 0.35:
        return float(rng.uniform(0.2, 0.5))
    if kind < 0.43:
        return float(-rng.uniform(0.15, 0.3))
    return float(rng.normal(0.0, 0.04))


def _body_pattern(rng: np.random.Generator, body: _Body, rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
    """Multiplicative marrow pattern of one vertebral body on the grid (rr, cc); 1 = the body's average marrow.

    - Basivertebral venous channel: a dark horizontal cleft entering the posterior cortex at mid-height
      (reaching 5–11 px forward, 20–55 % darker), and marrow up to 20 % darker in the posterior 14 px.
    - End-plate zones: subchondral bands 2–5 px thick under each end plate with a Modic-type change
      (:func:`_endplate_change`).
    - Focal fat: on average 0.7 fat islands of 1.5–3.5 px radius (30–80 % brighter) per body, and in 12 % of
      bodies a haemangioma (round, sharply marginated, 60–100 % brighter, 3–6 px radius).

    References: Modic MT et al. Radiology 1988;166:193-199; Shah LM, Hanrahan CJ. AJR 2011;197:1298-1308.
    """
    u = (cc - body.col) / _BODY_HALF_WIDTH  # −1 anterior wall … +1 posterior wall
    from_back = (1 - u) * _BODY_HALF_WIDTH  # px in front of the posterior wall
    pattern = np.ones(rr.shape)

    reach, darkness, thickness = rng.uniform(5, 11), rng.uniform(0.2, 0.55), rng.uniform(1.2, 2.5)
    cleft_row = body.row + rng.normal(0.0, 1.0)
    cleft = np.clip((reach - from_back) / 3, 0, 1) * np.exp(-0.5 * ((rr - cleft_row) / thickness) ** 2)
    pattern *= 1 - darkness * cleft
    pattern *= 1 - rng.uniform(0.0, 0.2) * np.clip(1 - from_back / 14, 0, 1)

    inner_half = body.half_height - _RIM
    for edge_distance in (rr - (body.row - inner_half), (body.row + inner_half) - rr):
        band, change = rng.uniform(2, 5), _endplate_change(rng)
        pattern *= 1 + change * np.clip((band - edge_distance) / 1.5 + 0.5, 0, 1)

    for _ in range(int(rng.poisson(0.7))):
        col = body.col + rng.uniform(-0.8, 0.8) * _BODY_HALF_WIDTH
        row = body.row + rng.uniform(-0.8, 0.8) * inner_half
        radius, amplitude = rng.uniform(1.5, 3.5), rng.uniform(0.3, 0.8)
        pattern *= 1 + amplitude * np.exp(-0.5 * ((cc - col) ** 2 + (rr - row) ** 2) / radius**2)
    if rng.uniform() < 0.12:
        col = body.col + rng.uniform(-0.6, 0.6) * _BODY_HALF_WIDTH
        row = body.row + rng.uniform(-0.6, 0.6) * inner_half
        radius, amplitude = rng.uniform(3, 6), rng.uniform(0.6, 1.0)
        distance = np.hypot(cc - col, rr - row)
        pattern *= 1 + amplitude / (1 + np.exp((distance - radius) / 0.6))
    return pattern


def _marrow_pattern(rng: np.random.Generator, bodies: list[_Body]) -> np.ndarray:
    """Heterogeneity of the vertebral marrow on a sagittal T1 image (multiplicative, 1 outside the bodies).

    Patchy red and yellow marrow (a smooth random field of 6 px correlation length whose SD, 5–14 %, is the
    subject's) times each body's focal pattern (:func:`_body_pattern`). One pattern serves every slice of the
    series; the renderer scales each body so that its measurement box keeps the level's mean signal.
    """
    rr, cc = np.mgrid[0:ROWS, 0:COLUMNS].astype(float)
    pattern = np.exp(rng.uniform(0.05, 0.14) * _texture(rng, 6.0, 1.0))
    for body in bodies:
        r0, r1 = max(0, body.row - body.half_height), min(ROWS, body.row + body.half_height + 1)
        c0, c1 = max(0, body.col - _BODY_HALF_WIDTH), min(COLUMNS, body.col + _BODY_HALF_WIDTH + 1)
        if r0 < r1 and c0 < c1:
            pattern[r0:r1, c0:c1] *= _body_pattern(rng, body, rr[r0:r1, c0:c1], cc[r0:r1, c0:c1])
    return pattern


@dataclass(frozen=True)
class _Anatomy:
    """What is drawn once per subject and shared by all slices of the series (textures are relative SDs)."""

    bodies: list[_Body]
    discs: list[tuple[int, int, int]]
    canal: _Canal
    marrow: np.ndarray  # multiplicative marrow pattern, [rows, columns]
    abdomen_texture: np.ndarray  # SD 8 %, 4 px correlation
    marrow_texture: np.ndarray  # trabecular texture, SD 4 %, 1.5 px
    csf_texture: np.ndarray  # SD 1.5 %, 1.5 px


def _anatomy(rng: np.random.Generator) -> _Anatomy:
    bodies, discs = _layout(rng)
    canal = _draw_canal(rng, len(discs))
    marrow = _marrow_pattern(rng, bodies)
    return _Anatomy(
        bodies, discs, canal, marrow, _texture(rng, 4.0, 0.08), _texture(rng, 1.5, 0.04), _texture(rng, 1.5, 0.015)
    )


@dataclass(frozen=True)
class _CanalProfile:
    """Per-row columns of the canal on a slice (inclusive) and what indents the sac from the front."""

    front: np.ndarray  # anterior wall of the bony canal (behind the PLL)
    back: np.ndarray  # posterior wall of the bony canal (in front of the ligamentum flavum)
    dura: np.ndarray  # first column of the dural sac where nothing indents it
    sac_front: np.ndarray  # first column of CSF
    sac_back: np.ndarray  # last column of CSF
    indent_signal: np.ndarray  # × CSF between dura and sac_front: the venous plexus, else a bulging disc


def _canal_profile(anatomy: _Anatomy) -> _CanalProfile:
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
    return _CanalProfile(
        front=front,
        back=front + canal.depth - 1,
        dura=dura,
        sac_front=dura + np.maximum(bulge, plexus),
        sac_back=dura + canal.sac_width - 1 - pad,
        indent_signal=np.where(plexus > bulge, canal.plexus_signal, _DISC),
    )


def _render(
    subject: PhantomSubject, anatomy: _Anatomy, x_mm: float
) -> tuple[np.ndarray, dict[str, Region], dict[str, Region], dict[str, Region]]:
    """Noise-free signal of one sagittal slice at x_mm, and the marrow, CSF and dural sac boxes (mid slice)."""
    csf = subject.csf_signal
    bodies, discs, canal = anatomy.bodies, anatomy.discs, anatomy.canal
    rr, cc = np.mgrid[0:ROWS, 0:COLUMNS].astype(float)
    img = np.zeros((ROWS, COLUMNS))
    ax = abs(x_mm)
    mid = x_mm == 0

    # Body outline: skin, subcutaneous fat, muscle and abdominal contents; air outside.
    wobble = 3 * np.sin(rr / ROWS * math.pi * 1.3)
    front = _ANTERIOR_SKIN + wobble + 0.02 * ax * ax / 4
    back = _POSTERIOR_SKIN - wobble * 0.5 - 0.02 * ax * ax / 4
    inside = (cc >= front) & (cc <= back)
    img[inside] = _ABDOMEN * csf
    img[inside] *= 1 + anatomy.abdomen_texture[inside]
    img[inside & (cc < front + 3)] = _SKIN * csf
    img[inside & (cc >= front + 3) & (cc < front + 18)] = _FAT * csf
    img[inside & (cc >= front + 18) & (cc < front + 30)] = _MUSCLE * csf  # rectus abdominis
    img[inside & (cc > back - 3)] = _SKIN * csf
    img[inside & (cc <= back - 3) & (cc > back - 22)] = _FAT * csf

    profile = _canal_profile(anatomy)
    canal_front = profile.front[:, None]
    canal_back = profile.back[:, None]
    # Paraspinal muscles from just behind the canal to the subcutaneous fat.
    img[(cc > canal_back + 2) & (cc <= back - 22)] = _MUSCLE * csf
    # Prevertebral soft tissue (psoas, vessels) in front of the column.
    img[(cc >= canal_front - 2 * _BODY_HALF_WIDTH - 16) & (cc < canal_front - 2 * _BODY_HALF_WIDTH - 2)] = (
        _MUSCLE * 1.1 * csf
    )

    body_half_width = _BODY_HALF_WIDTH * math.sqrt(max(0.0, 1 - (ax / 22.0) ** 2))
    csf_tex = anatomy.csf_texture.copy()
    vertebra_boxes: dict[str, Region] = {}
    csf_boxes: dict[str, Region] = {}
    sac_boxes: dict[str, Region] = {}

    for top, bottom, shift in discs:
        if body_half_width < 3:
            break
        band = (rr >= top) & (rr <= bottom) & (np.abs(cc - (168 + shift)) <= body_half_width)
        img[band] = _DISC * csf * (1 + 0.15 * np.exp(-(((rr[band] - (top + bottom) / 2) / 3.0) ** 2)))

    marrow_field = anatomy.marrow * (1 + anatomy.marrow_texture)
    for body in bodies:
        level = body.level
        marrow = csf * subject.target_vbq * (subject.level_factors[LEVELS.index(level)] if level in LEVELS else 1.0)
        # Posterior elements: lamina and spinous process behind the canal (mid-line slices only).
        if ax <= 6:
            lam = (np.abs(rr - (body.row + 4)) <= body.half_height * 0.6) & (
                (cc > canal_back + 3) & (cc <= canal_back + 3 + 42)
            )
            img[lam] = 0.95 * marrow
            rim = lam & ~(
                (np.abs(rr - (body.row + 4)) <= body.half_height * 0.6 - _RIM)
                & (cc > canal_back + 3 + _RIM)
                & (cc <= canal_back + 3 + 42 - _RIM)
            )
            img[rim] = _CORTEX * csf
        if body_half_width < 3:
            continue
        hw = body_half_width
        outer = _rounded_box(rr, cc, body.col, body.row, hw, body.half_height, 4)
        inner = _rounded_box(rr, cc, body.col, body.row, hw - _RIM, body.half_height - _RIM, 2)
        img[outer] = _CORTEX * csf
        box = _marrow_box(body)
        # The pattern is scaled so that the measurement box has the level's mean marrow signal.
        img[inner] = marrow * marrow_field[inner] / _clipped_mean(marrow_field, box)
        if level in LEVELS and mid:
            vertebra_boxes[level] = box

    # Canal: posterior longitudinal ligament, epidural fat, dural sac (CSF, cord or cauda equina, disc bulges
    # and dorsal fat pads at the disc levels), ligamentum flavum (pedicles off mid-line).
    conus_tip = (discs[1][0] + discs[1][1]) // 2  # the conus ends at the T12/L1 disc
    sacral_end = bodies[-1].row + 15
    canal_rows = rr <= sacral_end
    if ax <= 11:
        sac_front, sac_back = profile.sac_front[:, None], profile.sac_back[:, None]
        pll = canal_rows & (cc >= canal_front - _RIM - 1) & (cc < canal_front)
        img[pll] = _LIGAMENT * csf
        dura = profile.dura[:, None]
        img[canal_rows & (cc >= canal_front) & (cc <= canal_back)] = _FAT * csf  # dorsal epidural fat
        img[canal_rows & (cc >= canal_front) & (cc < dura)] = canal.anterior_signal * csf
        indent = canal_rows & (cc >= dura) & (cc < sac_front)  # venous plexus or disc bulge
        img[indent] = (profile.indent_signal[:, None] * csf * np.ones((1, COLUMNS)))[indent]
        flavum = canal_rows & (cc > canal_back) & (cc <= canal_back + 3)
        img[flavum] = _LIGAMENT * csf
        sac = canal_rows & (cc >= sac_front) & (cc <= sac_back)
        # Roots of the cauda equina on the dorsal dura below the conus (partial volume: a 2 px ramp).
        roots = np.clip((canal.root_layer + 1 - (sac_back - cc)) / 2, 0, 1) * (rr > conus_tip)
        cord = np.zeros_like(sac)
        if ax <= 4:
            centre = (sac_front + sac_back) / 2
            taper = np.clip((conus_tip - rr) / 12.0, 0, 1)
            cord = sac & (rr <= conus_tip) & (np.abs(cc - centre) <= 1 + 3 * taper)
        if mid:
            for body in bodies:
                if body.level in CSF_LEVELS:
                    first, last = int(profile.sac_front[body.row]), int(profile.sac_back[body.row])
                    dura_col = int(profile.dura[body.row])
                    box = Region(
                        col=first + _CSF_BOX_OFFSET + _CSF_BOX_HALF[0],
                        row=body.row,
                        half_width=_CSF_BOX_HALF[0],
                        half_height=_CSF_BOX_HALF[1],
                    )
                    csf_boxes[body.level] = box
                    sac_boxes[body.level] = Region(
                        col=dura_col + (last - dura_col) // 2,
                        row=body.row,
                        half_width=(last - dura_col) // 2,
                        half_height=body.half_height - _RIM - _BOX_MARGIN,
                    )
                    band = sac & (np.abs(rr - box.row) <= box.half_height)  # zero-mean texture in the box
                    csf_tex[band] -= csf_tex[box.slices()].mean()
        img[sac] = (csf * (1 + csf_tex) * (1 + (canal.root_signal - 1) * roots))[sac]
        img[cord] = _CORD * csf
    elif ax <= 20:  # pedicles and facets in the canal's place
        ped = canal_rows & (cc >= canal_front - 2) & (cc <= canal_back + 4)
        img[ped] = 0.9 * csf * subject.target_vbq
    img[~inside] = 0.0
    return _blur(img, 0.7), vertebra_boxes, csf_boxes, sac_boxes


def _rician(truth: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    re_ = truth + rng.normal(0.0, sigma, truth.shape)
    im_ = rng.normal(0.0, sigma, truth.shape)
    return np.hypot(re_, im_)


def _rician_mean(truth: np.ndarray, sigma: float) -> np.ndarray:
    """Mean of |A + n| for complex Gaussian n of SD sigma per channel, to second order in sigma / A."""
    return np.sqrt(truth * truth + sigma * sigma)


# --------------------------------------------------------------------------------------------- DICOM


def _uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=["vbq-phantom", *[str(p) for p in parts]])


def _header(subject: PhantomSubject, rng_seed: int) -> Dataset:
    """Series-level header: realistic, and full of identifying attributes for the import to remove."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"]
    ds.InstanceCreationDate = subject.study_date
    ds.SOPClassUID = MRImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = subject.study_date
    ds.StudyTime = "081512.000000"
    ds.SeriesTime = "082301.250000"
    ds.AcquisitionTime = "082303.500000"
    ds.AccessionNumber = f"A{abs(_hash_int(subject.patient_id, 'acc')) % 10**8:08d}"
    ds.Modality = "MR"
    ds.Manufacturer = "VBQ Phantom Works"
    ds.InstitutionName = "St. Example General Hospital"
    ds.InstitutionAddress = "1 Example Road, Exampletown"
    ds.ReferringPhysicianName = "Referrer^Rita^^Dr."
    ds.StationName = "MRC40123"
    ds.StudyDescription = "MRI LUMBAR SPINE W/O CONTRAST"
    ds.SeriesDescription = "T1 TSE SAG"
    ds.InstitutionalDepartmentName = "Radiology"
    ds.PhysiciansOfRecord = "Record^Rob"
    ds.PerformingPhysicianName = "Perform^Paula"
    ds.NameOfPhysiciansReadingStudy = "Reader^Ralph"
    ds.OperatorsName = "Tech^Tina"
    ds.ManufacturerModelName = "Phantom 1.5T"
    ds.ReferencedPerformedProcedureStepSequence = Sequence([_ref_item(subject, "pps", "1.2.840.10008.3.1.2.3.3")])
    ds.ReferencedImageSequence = Sequence([_ref_item(subject, f"localizer{i}", MRImageStorage) for i in range(1, 3)])
    ds.PatientName = subject.patient_name
    ds.PatientID = subject.patient_id
    ds.IssuerOfPatientID = "EXAMPLE-HOSPITAL"
    ds.PatientBirthDate = subject.birth_date
    ds.PatientSex = subject.sex
    ds.OtherPatientIDs = f"OLD{subject.patient_id[-5:]}"
    ds.PatientAge = f"{subject.age:03d}Y"
    ds.PatientSize = round(1.55 + 0.15 * (subject.sex == "M") + 0.02 * ((rng_seed % 5) - 2), 2)
    ds.PatientWeight = round(subject.bmi * float(ds.PatientSize) ** 2, 1)
    ds.PatientAddress = "22 Sample Street, Exampletown"
    ds.PatientTelephoneNumbers = "555-0100"
    ds.AdditionalPatientHistory = "Low back pain; planned lumbar fusion."
    ds.PatientComments = f"Phantom for {subject.patient_name}"
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = ["SK", "SP", "OSP"]
    ds.ScanOptions = "PFP"
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = "*tse2d1_3"
    ds.SliceThickness = SLICE_THICKNESS
    ds.RepetitionTime = 500.0
    ds.EchoTime = 10.0
    ds.NumberOfAverages = 2
    ds.ImagingFrequency = 63.676
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = 1
    ds.MagneticFieldStrength = 1.5
    ds.SpacingBetweenSlices = SLICE_SPACING
    ds.EchoTrainLength = 3
    ds.PercentSampling = 100
    ds.PercentPhaseFieldOfView = 100
    ds.PixelBandwidth = 190
    ds.DeviceSerialNumber = "40123"
    ds.SoftwareVersions = "phantom 1.0"
    ds.ProtocolName = "t1_tse_sag"
    ds.ReceiveCoilName = "Spine"
    ds.TransmitCoilName = "Body"
    ds.InPlanePhaseEncodingDirection = "ROW"
    ds.FlipAngle = 150
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = _uid(subject.patient_id, rng_seed, "study")
    ds.SeriesInstanceUID = _uid(subject.patient_id, rng_seed, "series")
    ds.StudyID = f"{_hash_int(subject.patient_id, 'study-id') % 100000}"
    ds.SeriesNumber = 3
    ds.AcquisitionNumber = 1
    ds.FrameOfReferenceUID = _uid(subject.patient_id, rng_seed, "frame-of-reference")
    ds.PositionReferenceIndicator = ""
    ds.ImageOrientationPatient = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ROWS
    ds.Columns = COLUMNS
    ds.PixelSpacing = [PIXEL_SPACING, PIXEL_SPACING]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    ds.BodyPartExamined = "LSPINE"
    ds.RequestingPhysician = "Request^Rachel"
    ds.RequestedProcedureDescription = "MRI lumbar spine"
    ds.PerformedProcedureStepStartDate = subject.study_date
    ds.PerformedProcedureStepID = f"PPS{_hash_int(subject.patient_id, 'pps') % 10**6:06d}"
    ds.RequestAttributesSequence = Sequence([_request_item(subject)])
    # A vendor private block that (as real ones do) repeats the patient's name.
    block = ds.private_block(0x0019, "VBQ PHANTOM PRIVATE", create=True)
    block.add_new(0x01, "LO", subject.patient_name.replace("^", " "))
    block.add_new(0x02, "DS", "1.0")
    return ds


def _ref_item(subject: PhantomSubject, what: str, sop_class: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = _uid(subject.patient_id, what)
    return item


def _request_item(subject: PhantomSubject) -> Dataset:
    item = Dataset()
    item.RequestedProcedureID = f"RP{_hash_int(subject.patient_id, 'rp') % 10**6:06d}"
    item.ScheduledProcedureStepID = f"SPS{_hash_int(subject.patient_id, 'sps') % 10**6:06d}"
    item.AccessionNumber = "ACC-IN-SEQUENCE"
    return item


def _hash_int(*parts: object) -> int:
    """Stable (process-independent) integer hash of the parts."""
    data = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(zlib.crc32(data).to_bytes(4, "big") + zlib.adler32(data).to_bytes(4, "big"), "big")


def _file_meta(sop_class: str, sop_instance: str, transfer_syntax: str = ExplicitVRLittleEndian):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = transfer_syntax
    meta.SourceApplicationEntityTitle = "MRC40123"
    return meta


def _slice_position(index: int) -> float:
    """Patient x (mm) of slice ``index``: from the patient's left (+x) to the right, mid slice at 0."""
    return (MID_SLICE - index) * SLICE_SPACING


def _series(subject: PhantomSubject, rng_seed: int) -> tuple[list[Dataset], PhantomGeometry]:
    rng = np.random.default_rng([rng_seed, _hash_int(subject.subject_code) % 2**32])
    anatomy = _anatomy(rng)
    header = _header(subject, rng_seed)
    top_left_y = -(COLUMNS - 1) / 2 * PIXEL_SPACING
    top_left_z = (ROWS - 1) / 2 * PIXEL_SPACING
    datasets: list[Dataset] = []
    vertebrae: dict[str, Region] = {}
    csf_boxes: dict[str, Region] = {}
    sac_boxes: dict[str, Region] = {}
    expected_marrow: dict[str, float] = {}
    expected_csf: dict[str, float] = {}
    sigma = subject.noise_sigma
    for index in range(N_SLICES):
        x_mm = _slice_position(index)
        truth, vboxes, cboxes, sboxes = _render(subject, anatomy, x_mm)
        if index == MID_SLICE:
            vertebrae, csf_boxes, sac_boxes = vboxes, cboxes, sboxes
            mean = _rician_mean(truth, sigma)
            expected_marrow = {k: float(mean[r.slices()].mean()) for k, r in vboxes.items()}
            expected_csf = {k: float(mean[r.slices()].mean()) for k, r in cboxes.items()}
        stored = np.clip(np.rint(_rician(truth, sigma, rng)), 0, MAX_STORED).astype(np.uint16)
        ds = copy.deepcopy(header)
        ds.SOPInstanceUID = _uid(subject.patient_id, rng_seed, "instance", index)
        ds.InstanceCreationTime = f"0823{10 + index:02d}.000000"
        ds.ContentTime = f"0823{10 + index:02d}.000000"
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [round(x_mm, 4), round(top_left_y, 4), round(top_left_z, 4)]
        ds.SliceLocation = round(x_mm, 4)
        ds.WindowCenter = int(subject.csf_signal * 2.2)
        ds.WindowWidth = int(subject.csf_signal * 4.5)
        ds.LargestImagePixelValue = int(stored.max())
        ds["LargestImagePixelValue"].VR = "US"
        ds.PixelData = stored.tobytes()
        ds["PixelData"].VR = "OW"
        ds.file_meta = _file_meta(MRImageStorage, ds.SOPInstanceUID)
        datasets.append(ds)

    # Air in front of the abdomen (the skin wobbles by up to 3 px; blur and a margin keep the box clean).
    noise = Region(col=15, row=ROWS // 2, half_width=13, half_height=120)
    noise_sd = math.sqrt((RAYLEIGH_SD_FACTOR * sigma) ** 2 + 1 / 12)  # + rounding to integers
    marrow = [expected_marrow[level] for level in VBQ_LEVELS]
    geometry = PhantomGeometry(
        subject_code=subject.subject_code,
        files=(),
        mid_slice_index=MID_SLICE,
        rows=ROWS,
        columns=COLUMNS,
        pixel_spacing=(PIXEL_SPACING, PIXEL_SPACING),
        slice_thickness=SLICE_THICKNESS,
        spacing_between_slices=SLICE_SPACING,
        vertebrae=vertebrae,
        csf=csf_boxes,
        noise=noise,
        expected_marrow_mean=expected_marrow,
        expected_csf_mean=expected_csf,
        noise_sigma=sigma,
        expected_noise_sd=noise_sd,
        expected_vbq=float(np.median(marrow)) / expected_csf["L3"],
        expected_snr=float(np.mean(marrow)) / noise_sd,
        study_instance_uid=str(header.StudyInstanceUID),
        series_instance_uid=str(header.SeriesInstanceUID),
        sop_instance_uids=tuple(str(d.SOPInstanceUID) for d in datasets),
        thecal_sac=sac_boxes,
    )
    return datasets, geometry


def make_phantom_series(subject: PhantomSubject, *, out_dir: Path, rng_seed: int) -> PhantomGeometry:
    """Write the subject's sagittal T1 series as single-frame MR DICOM files ``IM0001.dcm`` … into out_dir.

    The output is reproducible: the same subject and seed give byte-identical files (UIDs included). Use one
    directory per subject (existing files of the same names are overwritten).

    Returns
    -------
    PhantomGeometry
        Where the measurement boxes are on the mid-sagittal slice and the expected values there.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    datasets, geometry = _series(subject, rng_seed)
    paths = []
    for ds in datasets:
        path = out / f"IM{int(ds.InstanceNumber):04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return _with_files(geometry, tuple(paths))


def _with_files(geometry: PhantomGeometry, files: tuple[Path, ...]) -> PhantomGeometry:
    from dataclasses import replace

    return replace(geometry, files=files)


# --------------------------------------------------------------------------------------------- cohort

_SURNAMES: Final = (
    "Abbott", "Bergstrom", "Castillo", "Dimitrov", "Eriksen", "Fontaine", "Garibaldi", "Horvath", "Ibarra",
    "Jansen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov", "Quintero", "Rasmussen",
    "Santoro", "Takahashi", "Ulrich", "Varga", "Whitfield", "Xiong", "Yilmaz", "Zielinski",
)  # fmt: skip
_GIVEN_F: Final = ("Anna", "Berit", "Clara", "Dora", "Edith", "Freya", "Greta", "Helga", "Ines", "Judith")
_GIVEN_M: Final = ("Anton", "Bruno", "Carl", "David", "Emil", "Felix", "Gustav", "Hugo", "Ivan", "Jonas")

# Per QCT group: count, VBQ mean/SD, age mean/SD, women, BMI mean/SD, diabetes, hyperlipidemia, T-score range.
_QCT_GROUPS: Final = (
    ("normal", 21, 2.2, 0.5, 57, 14, 9, 25.8, 3.6, 4, 6, (-0.9, 2.0)),
    ("osteopenia", 21, 2.45, 0.55, 65, 7, 12, 25.1, 3.4, 5, 7, (-2.4, -1.1)),
    ("osteoporosis", 19, 2.7, 0.6, 71, 9, 14, 24.0, 3.8, 6, 8, (-4.2, -2.6)),
)
_TARGET_VBQ_BMD_R: Final = -0.27  # the VBQ seed study's Pearson r with QCT BMD


def _standardised(values: np.ndarray, mean: float, sd: float) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    return mean + sd * (v - v.mean()) / v.std(ddof=1)


def _truncnorm(rng: np.random.Generator, n: int, mean: float, sd: float, low: float, high: float):
    out: list[float] = []
    while len(out) < n:
        draw = rng.normal(mean, sd, size=4 * n)
        out.extend(float(d) for d in draw if low <= d <= high)
    return np.array(out[:n])


def _level_factors(rng: np.random.Generator) -> tuple[float, float, float, float, float, float]:
    """T12..L5 factors; L1–L4 are {1+a, 1−b, 1+b, 1−a} in random order (median and mean exactly 1)."""
    a = float(rng.uniform(0.03, 0.07))
    b = float(rng.uniform(0.0, 0.025))
    middle = np.array([1 + a, 1 - b, 1 + b, 1 - a])
    rng.shuffle(middle)
    t12, l5 = (float(v) for v in rng.uniform(0.95, 1.05, size=2))
    return (t12, *(float(v) for v in middle), l5)  # type: ignore[return-value]


def _person(rng: np.random.Generator, sex: str, index: int) -> tuple[str, str]:
    surname = _SURNAMES[(index * 7 + int(rng.integers(0, len(_SURNAMES)))) % len(_SURNAMES)]
    given = (_GIVEN_F if sex == "F" else _GIVEN_M)[int(rng.integers(0, 10))]
    patient_id = f"PID{int(rng.integers(1_000_000, 9_999_999))}"
    return f"{surname.upper()}^{given}", patient_id


def _dates(rng: np.random.Generator, age: int, index: int) -> tuple[str, str]:
    study = dt.date(2024, 1, 8) + dt.timedelta(days=3 * index + int(rng.integers(0, 3)))
    birth = study - dt.timedelta(days=int(age * 365.25 + rng.integers(1, 364)))
    return study.strftime("%Y%m%d"), birth.strftime("%Y%m%d")


_TARGET_VBQ_AUC: Final = 0.754  # the VBQ seed study's AUC, osteoporosis (19) vs normal (21)


def _auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Mann-Whitney AUC: P(positive > negative) + ½ P(tie)."""
    diff = positive[:, None] - negative[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def _fit_vbq(groups: list[tuple], rng: np.random.Generator, candidates: int = 48) -> list[np.ndarray]:
    """VBQ per QCT group with exactly the target mean and SD, reproducing the seed study's association.

    VBQ = standardised exp(0.6 (−ρ z_BMD + √(1−ρ²) e)) within each group (right-skewed, as published VBQ
    distributions are), where z_BMD is the within-group standardised BMD and e standard normal noise. Among
    ``candidates`` noise draws and ρ on a grid, the pair whose cohort comes closest to the seed study's
    Pearson r with BMD (−0.27) and ROC AUC osteoporosis vs normal (0.754) is kept: deterministic for a seed.
    """
    bmd_all = np.concatenate([g[5] for g in groups])
    z_bmd = [(g[5] - g[5].mean()) / (g[5].std(ddof=1) or 1.0) for g in groups]
    best: tuple[float, list[np.ndarray]] | None = None
    for _ in range(candidates):
        noise = [rng.standard_normal(g[1]) for g in groups]
        for rho in np.linspace(-0.6, 0.9, 31):
            vbq = [
                _standardised(np.exp(0.6 * (-rho * z + math.sqrt(1 - rho * rho) * e)), g[2], g[3])
                for g, z, e in zip(groups, z_bmd, noise, strict=True)
            ]
            r = float(np.corrcoef(np.concatenate(vbq), bmd_all)[0, 1])
            auc = _auc(vbq[2], vbq[0])
            score = ((r - _TARGET_VBQ_BMD_R) / 0.02) ** 2 + ((auc - _TARGET_VBQ_AUC) / 0.01) ** 2
            if best is None or score < best[0]:
                best = (score, vbq)
    assert best is not None
    return best[1]


def demo_cohort(seed: int = 20261123) -> list[PhantomSubject]:
    """The 71 demo subjects: VBQ-001…VBQ-061 (QCT study) then SNR-001…SNR-010 (DEXA study).

    VBQ study: 21 normal, 21 osteopenia, 19 osteoporosis by QCT T-score (WHO cut-offs −1 and −2.5), with
    BMD = 146.7 + 26.7 × T mg/cm³ so the ACR cut-offs 120 and 80 mg/cm³ agree; VBQ per group has exactly the
    target mean and SD (2.2 ± 0.5, 2.45 ± 0.55, 2.7 ± 0.6), ages exactly 57 ± 14, 65 ± 7, 71 ± 9 (before
    rounding to whole years), and a within-group association with BMD tuned so that Pearson r(VBQ, BMD) over
    the 61 subjects is as close as possible to −0.27.

    SNR study: SNR-001…005 postmenopausal osteoporotic women (DEXA T ≤ −2.5, low TBS, high marrow signal),
    SNR-006…010 young female controls (``control=True``); all scanned on one scanner (noise σ = 12).
    """
    rng = np.random.default_rng(seed)
    subjects: list[PhantomSubject] = []
    groups = []
    for group, n, vbq_m, vbq_sd, age_m, age_sd, women, bmi_m, bmi_sd, n_dm, n_hl, (lo, hi) in _QCT_GROUPS:
        centre = {"normal": -0.1, "osteopenia": -1.75, "osteoporosis": -3.1}[group]
        t = np.round(_truncnorm(rng, n, centre, 0.7, lo, hi), 1)
        bmd = np.round(QCT_YOUNG_MEAN + QCT_YOUNG_SD * t, 1)
        ages = np.rint(_standardised(rng.standard_normal(n), age_m, age_sd)).astype(int)
        bmis = np.round(_standardised(rng.standard_normal(n), bmi_m, bmi_sd), 1)
        sexes = np.array(["F"] * women + ["M"] * (n - women))
        rng.shuffle(sexes)
        dm = np.zeros(n, dtype=bool)
        dm[rng.choice(n, n_dm, replace=False)] = True
        hl = np.zeros(n, dtype=bool)
        hl[rng.choice(n, n_hl, replace=False)] = True
        groups.append((group, n, vbq_m, vbq_sd, t, bmd, ages, bmis, sexes, dm, hl))

    vbqs = _fit_vbq(groups, rng)

    index = 0
    for (group, n, _, _, t, bmd, ages, bmis, sexes, dm, hl), vbq in zip(groups, vbqs, strict=True):
        for i in range(n):
            index += 1
            sex = str(sexes[i])
            name, pid = _person(rng, sex, index)
            study_date, birth = _dates(rng, int(ages[i]), index)
            subjects.append(
                PhantomSubject(
                    subject_code=f"VBQ-{index:03d}",
                    patient_id=pid,
                    patient_name=name,
                    birth_date=birth,
                    study_date=study_date,
                    cohort="VBQ",
                    group=group,
                    reference_modality="QCT",
                    t_score=float(t[i]),
                    bmd=float(bmd[i]),
                    z_score=None,
                    tbs=None,
                    age=int(ages[i]),
                    sex=sex,
                    bmi=float(bmis[i]),
                    diabetes=bool(dm[i]),
                    hyperlipidemia=bool(hl[i]),
                    control=False,
                    target_vbq=float(vbq[i]),
                    target_snr=None,
                    csf_signal=float(rng.uniform(300, 480)),
                    noise_sigma=float(rng.uniform(7, 14)),
                    level_factors=_level_factors(rng),
                )
            )

    # SNR / M-score design: 5 osteoporotic postmenopausal women, 5 young controls, one scanner.
    snr_design = (
        ("osteoporosis", False, (58, 78), (-3.6, -2.6), (1.15, 1.25), 88.0, 9.0, 3.0, 0.35),
        ("normal", True, (22, 34), (-0.8, 1.2), (1.38, 1.48), 62.0, 5.0, 2.0, 0.2),
    )
    number = 0
    for group, control, (age_lo, age_hi), (t_lo, t_hi), (tbs_lo, tbs_hi), snr_m, snr_sd, v_m, v_sd in snr_design:
        snrs = _standardised(rng.standard_normal(5), snr_m, snr_sd)
        vbq = _standardised(rng.standard_normal(5), v_m, v_sd)
        for i in range(5):
            number += 1
            age = int(rng.integers(age_lo, age_hi + 1))
            t_score = float(np.round(rng.uniform(t_lo, t_hi), 1))
            z_score = float(np.round(t_score + 0.03 * max(0, age - 35), 1))
            name, pid = _person(rng, "F", 100 + number)
            study_date, birth = _dates(rng, age, 100 + number)
            noise_sd = RAYLEIGH_SD_FACTOR * SNR_NOISE_SIGMA
            marrow = float(snrs[i]) * noise_sd
            subjects.append(
                PhantomSubject(
                    subject_code=f"SNR-{number:03d}",
                    patient_id=pid,
                    patient_name=name,
                    birth_date=birth,
                    study_date=study_date,
                    cohort="SNR",
                    group=group,
                    reference_modality="DEXA",
                    t_score=t_score,
                    bmd=float(np.round(DEXA_YOUNG_MEAN + DEXA_YOUNG_SD * t_score, 3)),
                    z_score=z_score,
                    tbs=float(np.round(rng.uniform(tbs_lo, tbs_hi), 3)),
                    age=age,
                    sex="F",
                    bmi=float(np.round(rng.uniform(20.5, 26.5), 1)),
                    diabetes=False,
                    hyperlipidemia=bool(not control and rng.uniform() < 0.4),
                    control=control,
                    target_vbq=float(vbq[i]),
                    target_snr=float(snrs[i]),
                    csf_signal=marrow / float(vbq[i]),
                    noise_sigma=SNR_NOISE_SIGMA,
                    level_factors=_level_factors(rng),
                )
            )
    return subjects


def write_reference_csv(subjects: list[PhantomSubject], path: Path) -> None:
    """Write the reference-data CSV the import expects (one row per subject, keyed by subject code).

    Columns: :data:`REFERENCE_COLUMNS`. BMD is in mg/cm³ for QCT and g/cm² for DEXA; z_score and tbs are empty
    where not measured; yes/no flags are lower case.
    """

    def yn(flag: bool) -> str:
        return "yes" if flag else "no"

    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(REFERENCE_COLUMNS)
        for s in subjects:
            writer.writerow(
                [
                    s.subject_code,
                    s.reference_modality,
                    f"{s.t_score:.1f}",
                    f"{s.bmd:.1f}" if s.reference_modality == "QCT" else f"{s.bmd:.3f}",
                    "" if s.z_score is None else f"{s.z_score:.1f}",
                    "" if s.tbs is None else f"{s.tbs:.3f}",
                    s.age,
                    s.sex,
                    f"{s.bmi:.1f}",
                    yn(s.diabetes),
                    yn(s.hyperlipidemia),
                    yn(s.control),
                ]
            )


# --------------------------------------------------------------------------------------------- bad files


def _example_subject() -> PhantomSubject:
    return PhantomSubject(
        subject_code="BAD-001",
        patient_id="PID0000001",
        patient_name="EXAMPLE^Erika",
        birth_date="19600101",
        study_date="20240108",
        cohort="VBQ",
        group="normal",
        reference_modality="QCT",
        t_score=0.0,
        bmd=146.7,
        z_score=None,
        tbs=None,
        age=64,
        sex="F",
        bmi=24.0,
        diabetes=False,
        hyperlipidemia=False,
        control=False,
        target_vbq=2.4,
        target_snr=None,
        csf_signal=400.0,
        noise_sigma=10.0,
        level_factors=(1.0, 1.04, 0.99, 1.01, 0.96, 1.0),
    )


def _png_bytes() -> bytes:
    """A small valid grey-scale PNG (what a screenshot upload looks like)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    width = height = 16
    raw = b"".join(b"\x00" + bytes((x * 16 + y) % 256 for x in range(width)) for y in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _to_bytes(ds: Dataset, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue()


def _derived(base: Dataset, tag: str) -> Dataset:
    """A copy of the good slice with a new SOP Instance UID (so only the intended defect differs)."""
    ds = copy.deepcopy(base)
    ds.SOPInstanceUID = _uid("bad-file", tag)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _encapsulated(ds: Dataset, transfer_syntax: str, fragment: bytes) -> Dataset:
    from pydicom.encaps import encapsulate

    ds.PixelData = encapsulate([fragment])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    return ds


def make_bad_files(out_dir: Path) -> dict[str, str]:
    """Write files an import must turn away (plus one good file and its duplicate); return name → code.

    The codes are those of :mod:`studies.services.dicom_validate`; ``"accepted"`` marks the one good file.
    ``good_mr_copy.dcm`` repeats ``good_mr.dcm``'s SOP Instance UID: it is a ``duplicate_sop_instance`` when
    files are processed in name order (the first copy wins).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    datasets, _ = _series(_example_subject(), rng_seed=7)
    base = datasets[MID_SLICE]
    good = _to_bytes(base)
    expected: dict[str, str] = {}

    def write(name: str, data: bytes, code: str) -> None:
        (out / name).write_bytes(data)
        expected[name] = code

    write("good_mr.dcm", good, "accepted")
    shutil.copyfile(out / "good_mr.dcm", out / "good_mr_copy.dcm")
    expected["good_mr_copy.dcm"] = "duplicate_sop_instance"
    write("empty.dcm", b"", "empty_file")
    write("notes.txt", b"Patient list for the MRI export\nVBQ-001 ok\nVBQ-002 ok\n" * 8, "not_dicom")
    write("screenshot.png", _png_bytes(), "not_dicom")
    write("truncated.dcm", good[: int(len(good) * 0.6)], "truncated")
    write("truncated_header.dcm", good[:700], "truncated")

    ds = _derived(base, "no-pixels")
    del ds.PixelData
    write("no_pixels.dcm", _to_bytes(ds), "no_pixel_data")

    ds = _derived(base, "rgb")
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    grey = (np.frombuffer(base.PixelData, dtype=np.uint16) >> 4).astype(np.uint8)
    ds.PixelData = np.repeat(grey, 3).tobytes()
    ds["PixelData"].VR = "OB"
    write("rgb_screen_capture.dcm", _to_bytes(ds), "unsupported_photometric")

    ds = _derived(base, "multiframe")
    ds.SOPClassUID = EnhancedMRImageStorage
    ds.file_meta.MediaStorageSOPClassUID = EnhancedMRImageStorage
    ds.NumberOfFrames = 3
    ds.PixelData = base.PixelData * 3
    write("enhanced_multiframe.dcm", _to_bytes(ds), "multi_frame")

    ds = _derived(base, "ct")
    ds.SOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.Modality = "CT"
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    write("ct_slice.dcm", _to_bytes(ds), "non_mr_modality")

    ds = _derived(base, "no-geometry")
    del ds.ImagePositionPatient
    del ds.PixelSpacing
    write("no_geometry.dcm", _to_bytes(ds), "missing_geometry")

    ds = _derived(base, "no-uids")
    del ds.SeriesInstanceUID
    write("missing_series_uid.dcm", _to_bytes(ds), "missing_uids")

    ds = _derived(base, "32-bit")
    ds.BitsAllocated = ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelData = np.frombuffer(base.PixelData, dtype=np.uint16).astype(np.uint32).tobytes()
    write("pixels_32bit.dcm", _to_bytes(ds), "unsupported_pixel_format")

    # JPEG 2000 data labelled with a vendor-private transfer syntax (Philips private compression UID).
    ds = _derived(base, "private-ts")
    fragment = _j2k_fragment(base)
    _encapsulated(ds, "1.3.46.670589.33.1.4.1", fragment)
    data = _to_bytes(ds, implicit_vr=False, little_endian=True)
    write("jpeg_private_transfer_syntax.dcm", data, "unknown_transfer_syntax")

    # A standard transfer syntax for which no decoder exists on the server (MPEG-4 video).
    ds = _derived(base, "mpeg4")
    _encapsulated(ds, MPEG4HP41, b"\x00\x00\x00\x01\x67\x64\x00\x29" + bytes(248))
    write("mpeg4_encoded.dcm", _to_bytes(ds), "codec_missing")

    # JPEG 2000 whose code stream is garbage: a decoder exists but fails.
    ds = _derived(base, "corrupt-j2k")
    _encapsulated(ds, JPEG2000Lossless, b"\xff\x4f\xff\x51" + bytes(range(256)) * 4)
    write("corrupt_jpeg2000.dcm", _to_bytes(ds), "corrupt_pixel_data")

    write("DICOMDIR", _dicomdir_bytes(), "dicomdir")
    return expected


def _j2k_fragment(base: Dataset) -> bytes:
    """JPEG 2000 code stream of the slice (or RLE data when no JPEG 2000 encoder is installed)."""
    from pydicom.encaps import generate_fragments

    ds = copy.deepcopy(base)

    try:
        ds.compress(JPEG2000Lossless)
    except Exception:
        ds.compress(RLELossless, encoding_plugin="pydicom")
    return b"".join(generate_fragments(ds.PixelData))


def _dicomdir_bytes() -> bytes:
    ds = Dataset()
    ds.FileSetID = "VBQEXPORT"
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.FileSetConsistencyFlag = 0
    ds.DirectoryRecordSequence = Sequence()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    meta.MediaStorageSOPInstanceUID = _uid("dicomdir")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return _to_bytes(ds)
