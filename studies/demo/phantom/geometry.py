"""Image conventions of the phantom series, :class:`Region` and :class:`PhantomGeometry` (no Django).

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

:class:`PhantomGeometry` is what a series generator returns: where the measurement boxes are on the mid-sagittal
slice and the expected values there (Rician bias included), computed by :mod:`.series`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    from .spine import Spine

ROWS: Final = 320
COLUMNS: Final = 320
PIXEL_SPACING: Final = 0.9375  # mm, rows and columns
N_SLICES: Final = 13
MID_SLICE: Final = N_SLICES // 2
SLICE_THICKNESS: Final = 4.0  # mm
SLICE_SPACING: Final = 4.4  # mm, centre to centre (10 % gap)
MAX_STORED: Final = 4095  # 12 bits
# The phantom's anatomy, not the reading protocol: LEVELS are the vertebrae given a marrow box (of the T9..S3
# drawn by :mod:`.spine`); the protocol's levels (L1–L4) are ``studies.services.reading.LEVELS``.
LEVELS: Final = ("T12", "L1", "L2", "L3", "L4", "L5")
VBQ_LEVELS: Final = ("L1", "L2", "L3", "L4")
CSF_LEVELS: Final = ("L1", "L2", "L3")
RAYLEIGH_SD_FACTOR: Final = math.sqrt(2 - math.pi / 2)  # SD of |complex Gaussian| in air, per unit sigma


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
    marrow L1–L4) / expected noise SD. ``spine`` is the subject's spine as drawn (:class:`~.spine.Spine`: each
    body's centre, half height, half depth and tilt, each disc's height, the lordosis), T9 to S3 along the curve.
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
    spine: Spine | None = None

    @property
    def mid_slice_path(self) -> Path:
        return self.files[self.mid_slice_index]
