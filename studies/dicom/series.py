"""Series of accepted DICOM images: geometry checks, slice order and classification (pure: numpy, no Django).

After :func:`~studies.dicom.validate.inspect_file` has accepted the files and the import has grouped them by
Series Instance UID, a series is rejected when :func:`check_series_geometry` finds it cannot be measured as one
stack, ordered with :func:`sort_instances` along :func:`slice_normal`, and described (plane, T1/T2, contrast)
by :func:`classify_series`. Every function takes pydicom datasets or, in their place, the plain dicts of
:func:`~studies.dicom.validate.image_facts` (anything answering ``.get(keyword)``). The facts of a multi-frame
(enhanced MR) file count as one image per frame (:func:`~studies.dicom.frames.expand_facts`): its frames are
slices of the series like the files of a single-frame series.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
from pydicom.dataset import Dataset

from .frames import expand_facts

__all__ = [
    "SeriesInfo",
    "check_series_geometry",
    "classify_series",
    "slice_normal",
    "sort_instances",
]

_ORIENTATIONS: Final = ("sagittal", "coronal", "axial")


@dataclass(frozen=True)
class SeriesInfo:
    """What :func:`classify_series` found out about one series.

    ``orientation`` is the patient axis the slice normal is closest to (``"sagittal"`` for x, ``"coronal"``
    for y, ``"axial"`` for z) and ``obliquity_deg`` the angle between the normal and that axis. ``weighting``
    is ``"T1"``, ``"T2"`` or ``"other"``; ``weighting_basis`` says whether it came from the descriptions
    (``"description"``), from TR/TE (``"timing"``) or could not be told (``"unknown"``, weighting
    ``"other"``).
    """

    series_instance_uid: str
    study_instance_uid: str
    n_instances: int
    orientation: str
    obliquity_deg: float
    normal: tuple[float, float, float]
    weighting: str
    weighting_basis: str
    description: str
    repetition_time: float | None
    echo_time: float | None
    contrast_enhanced: bool
    rows: int
    columns: int
    pixel_spacing: tuple[float, float]
    slice_thickness: float | None

    @property
    def is_sagittal_t1(self) -> bool:
        """True for the series VBQ is defined on: sagittal, T1-weighted, without contrast."""
        return self.orientation == "sagittal" and self.weighting == "T1" and not self.contrast_enhanced


def _floats(value: object) -> list[float] | None:
    if value is None or value == "":
        return None
    try:
        items = list(value) if not isinstance(value, str | bytes) else [value]
        out = [float(v) for v in items]
    except (TypeError, ValueError):
        return None
    return out if all(math.isfinite(v) for v in out) else None


def _slices(datasets: Iterable[Dataset]) -> list[Dataset]:
    """The images of a series: each dataset, and each frame of the facts of a multi-frame file."""
    return [f for d in datasets for f in (expand_facts(d) if isinstance(d, dict) else [d])]


def _int_or_none(value: object) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def check_series_geometry(datasets: Iterable[Dataset]) -> list[str]:
    """Return the reasons a series cannot be measured as one stack; an empty list means it is consistent.

    Checks matrix size (Rows × Columns), Pixel Spacing (to 0.001 mm), Image Orientation (Patient) (to 0.001),
    and that no two slices share a position along the slice normal.
    """
    items = _slices(datasets)
    if not items:
        return ["The series has no images."]
    problems = []
    sizes = sorted({(int(d.get("Columns") or 0), int(d.get("Rows") or 0)) for d in items})
    if len(sizes) > 1:
        shown = ", ".join(f"{c}×{r}" for c, r in sizes)
        problems.append(f"The images of this series have different matrix sizes ({shown}).")
    spacings = [_floats(d.get("PixelSpacing")) for d in items]
    if any(s is None or len(s) != 2 for s in spacings):
        problems.append("Some images of this series have no Pixel Spacing.")
    elif _spread(spacings) > 1e-3:
        shown = ", ".join(sorted({f"{s[0]:g}×{s[1]:g} mm" for s in spacings if s}))
        problems.append(f"The images of this series have different pixel spacings ({shown}).")
    orientations = [_floats(d.get("ImageOrientationPatient")) for d in items]
    if any(o is None or len(o) != 6 for o in orientations):
        problems.append("Some images of this series have no Image Orientation (Patient).")
    elif _spread(orientations) > 1e-3:
        problems.append("The images of this series have different orientations (it mixes imaging planes or stacks).")
    elif all(_floats(d.get("ImagePositionPatient")) is not None for d in items) and len(items) > 1:
        normal = slice_normal(items[0])
        positions = np.round([_position(d, normal) for d in items], 3)
        repeated = len(positions) - len(np.unique(positions))
        if repeated:
            problems.append(
                f"{repeated + 1 if repeated == 1 else repeated} images of this series lie at the same slice "
                "position (repeated acquisitions mixed in one series)."
            )
    return problems


def _spread(vectors: list[list[float] | None]) -> float:
    arr = np.asarray(vectors, dtype=float)
    return float(np.max(np.abs(arr - arr[0]))) if arr.size else 0.0


def slice_normal(ds: Dataset) -> np.ndarray:
    """Unit normal of the image plane: row direction × column direction (patient LPS coordinates)."""
    iop = _floats(ds.get("ImageOrientationPatient"))
    if iop is None or len(iop) != 6:
        raise ValueError("The image has no valid Image Orientation (Patient), so its plane is unknown.")
    normal = np.cross(np.asarray(iop[:3]), np.asarray(iop[3:]))
    length = float(np.linalg.norm(normal))
    if length < 1e-6:
        raise ValueError("Image Orientation (Patient) does not define a plane (parallel vectors).")
    return normal / length


def _position(ds: Dataset, normal: np.ndarray) -> float:
    ipp = _floats(ds.get("ImagePositionPatient"))
    if ipp is None or len(ipp) != 3:
        raise ValueError("An image has no valid Image Position (Patient), so it cannot be ordered.")
    return float(np.dot(ipp, normal))


def sort_instances(datasets: Iterable[Dataset]) -> list[Dataset]:
    """Order a series along the slice normal of its first image: by dot(ImagePositionPatient, normal).

    Ties (which :func:`check_series_geometry` reports) keep Instance Number order.

    Raises
    ------
    ValueError
        If an image lacks Image Position or Orientation (Patient).
    """
    items = _slices(datasets)
    if not items:
        return []
    normal = slice_normal(items[0])
    return sorted(items, key=lambda d: (_position(d, normal), _int_or_none(d.get("InstanceNumber")) or 0))


_T1 = re.compile(r"(?<![A-Z0-9])T1(?:W|WI|FS)?(?![0-9A-Z])")
_T2 = re.compile(r"(?<![A-Z0-9])T2(?:W|WI|FS)?(?![0-9A-Z])")
_OTHER = re.compile(r"(?<![A-Z0-9])(?:STIR|PD|PDW|DWI|DIFFUSION|ADC|TIRM|SWI|MRA|TOF|LOCALI[SZ]ER|SCOUT)(?![A-Z])")
_CONTRAST = re.compile(r"\+C(?![A-Z])|(?<![A-Z])(?:C\+|GD|GAD|GADO|POST|POSTCONTRAST|CE|CONTRAST)(?![A-Z])")


def classify_series(datasets: Iterable[Dataset]) -> SeriesInfo:
    """Describe a series: plane, weighting (T1/T2/other), contrast, matrix and spacing.

    Orientation comes from Image Orientation (Patient) of the first image (in slice order). Weighting comes
    from Series Description, Protocol Name and Sequence Name when they name exactly one of T1 or T2 (or an
    unrelated contrast such as STIR, PD or DWI); otherwise from timing: T1 when TR < 1000 ms and TE < 30 ms,
    T2 when TR ≥ 2000 ms and TE ≥ 60 ms. Run it before de-identification, which removes the descriptions.

    Raises
    ------
    ValueError
        If the series is empty or its first image has no valid orientation.
    """
    items = _slices(datasets)
    if not items:
        raise ValueError("The series has no images.")
    try:
        items = sort_instances(items)
    except ValueError:
        pass
    first = items[0]
    normal = slice_normal(first)
    axis = int(np.argmax(np.abs(normal)))
    obliquity = math.degrees(math.acos(min(1.0, abs(float(normal[axis])))))

    texts = [str(first.get(k, "") or "") for k in ("SeriesDescription", "ProtocolName", "SequenceName")]
    description = texts[0] or texts[1]
    upper = " ".join(texts).upper().replace("_", " ")
    tr = _float_or_none(first.get("RepetitionTime"))
    te = _float_or_none(first.get("EchoTime"))
    has_t1, has_t2 = bool(_T1.search(upper)), bool(_T2.search(upper))
    if has_t1 != has_t2:
        weighting, basis = ("T1" if has_t1 else "T2"), "description"
    elif not has_t1 and _OTHER.search(upper):
        weighting, basis = "other", "description"
    elif tr is not None and te is not None:
        basis = "timing"
        if tr < 1000 and te < 30:
            weighting = "T1"
        elif tr >= 2000 and te >= 60:
            weighting = "T2"
        else:
            weighting = "other"
    else:
        weighting, basis = "other", "unknown"

    agent = str(first.get("ContrastBolusAgent", "") or "").strip().upper()
    contrast = bool(agent and agent not in ("NONE", "NO", "N/A", "-")) or bool(_CONTRAST.search(upper))
    spacing = _floats(first.get("PixelSpacing")) or [float("nan"), float("nan")]
    return SeriesInfo(
        series_instance_uid=str(first.get("SeriesInstanceUID", "") or ""),
        study_instance_uid=str(first.get("StudyInstanceUID", "") or ""),
        n_instances=len(items),
        orientation=_ORIENTATIONS[axis],
        obliquity_deg=obliquity,
        normal=(float(normal[0]), float(normal[1]), float(normal[2])),
        weighting=weighting,
        weighting_basis=basis,
        description=description,
        repetition_time=tr,
        echo_time=te,
        contrast_enhanced=contrast,
        rows=int(first.get("Rows") or 0),
        columns=int(first.get("Columns") or 0),
        pixel_spacing=(float(spacing[0]), float(spacing[1])),
        slice_thickness=_float_or_none(first.get("SliceThickness")),
    )


def _float_or_none(value: object) -> float | None:
    try:
        out = float(value) if value not in (None, "") else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return out if out is None or math.isfinite(out) else None
