"""Synthetic sagittal T1 lumbar spine MRI phantoms and the demo cohort (numpy + pydicom only, no Django).

The phantoms stand in for raw scanner output: single-frame MR DICOM files with realistic headers *including*
identifying attributes (patient name, ID, birth date, institution, physicians, accession number, dates, a
private block holding the patient's name), so that the import's validation and de-identification are
exercised end to end. The demo cohort mirrors the two source studies of the design brief: 61 lumbar surgery
patients with QCT (21 normal, 21 osteopenia, 19 osteoporosis) and 5 + 5 women with DEXA for the SNR /
M-score design.

This package re-exports its public API; the modules, one concern each:

- :mod:`.geometry` — image conventions (matrix, slices, levels), :class:`Region`, :class:`PhantomGeometry`;
- :mod:`.cohort` — :class:`PhantomSubject`, :func:`demo_cohort` (the cohort and its truth), the reference CSV;
- :mod:`.spine` — the subject's spine: bodies T9..S3 and discs along a lordotic curve (sizes, tilt, field of view);
- :mod:`.anatomy` — the spinal canal following the spine, tissue signals;
- :mod:`.synthesis` — the signal model: marrow pattern, rendering a slice, blur, Rician noise;
- :mod:`.dicom` — the raw series header, stable UIDs, file meta, bytes;
- :mod:`.series` — :func:`make_phantom_series`: the slices written and the expected values;
- :mod:`.bad_files` — :func:`make_bad_files`: files an import must turn away.
"""

from studies.reference_format import REFERENCE_COLUMNS

from .bad_files import make_bad_files
from .cohort import (
    DEXA_YOUNG_MEAN,
    DEXA_YOUNG_SD,
    QCT_YOUNG_MEAN,
    QCT_YOUNG_SD,
    SNR_NOISE_SIGMA,
    PhantomSubject,
    demo_cohort,
    write_reference_csv,
)
from .geometry import (
    COLUMNS,
    CSF_LEVELS,
    LEVELS,
    MAX_STORED,
    MID_SLICE,
    N_SLICES,
    PIXEL_SPACING,
    RAYLEIGH_SD_FACTOR,
    ROWS,
    SLICE_SPACING,
    SLICE_THICKNESS,
    VBQ_LEVELS,
    PhantomGeometry,
    Region,
)
from .series import make_phantom_series

__all__ = [
    "COLUMNS",
    "CSF_LEVELS",
    "DEXA_YOUNG_MEAN",
    "DEXA_YOUNG_SD",
    "LEVELS",
    "MAX_STORED",
    "MID_SLICE",
    "N_SLICES",
    "PIXEL_SPACING",
    "QCT_YOUNG_MEAN",
    "QCT_YOUNG_SD",
    "RAYLEIGH_SD_FACTOR",
    "REFERENCE_COLUMNS",
    "ROWS",
    "SLICE_SPACING",
    "SLICE_THICKNESS",
    "SNR_NOISE_SIGMA",
    "VBQ_LEVELS",
    "PhantomGeometry",
    "PhantomSubject",
    "Region",
    "demo_cohort",
    "make_bad_files",
    "make_phantom_series",
    "write_reference_csv",
]
