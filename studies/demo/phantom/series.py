"""A subject's phantom series: render, add noise and write each slice; the expected values (no Django)."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import MRImageStorage

from .cohort import PhantomSubject
from .dicom import file_meta, hash_int, series_header, uid
from .geometry import (
    COLUMNS,
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
from .synthesis import draw_anatomy, render, rician, rician_mean


def _slice_position(index: int) -> float:
    """Patient x (mm) of slice ``index``: from the patient's left (+x) to the right, mid slice at 0."""
    return (MID_SLICE - index) * SLICE_SPACING


def build_series(subject: PhantomSubject, rng_seed: int) -> tuple[list[Dataset], PhantomGeometry]:
    rng = np.random.default_rng([rng_seed, hash_int(subject.subject_code) % 2**32])
    anatomy = draw_anatomy(rng)
    header = series_header(subject, rng_seed)
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
        truth, vboxes, cboxes, sboxes = render(subject, anatomy, x_mm)
        if index == MID_SLICE:
            vertebrae, csf_boxes, sac_boxes = vboxes, cboxes, sboxes
            mean = rician_mean(truth, sigma)
            expected_marrow = {k: float(mean[r.slices()].mean()) for k, r in vboxes.items()}
            expected_csf = {k: float(mean[r.slices()].mean()) for k, r in cboxes.items()}
        stored = np.clip(np.rint(rician(truth, sigma, rng)), 0, MAX_STORED).astype(np.uint16)
        ds = copy.deepcopy(header)
        ds.SOPInstanceUID = uid(subject.patient_id, rng_seed, "instance", index)
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
        ds.file_meta = file_meta(MRImageStorage, ds.SOPInstanceUID)
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
        spine=anatomy.spine,
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
    datasets, geometry = build_series(subject, rng_seed)
    paths = []
    for ds in datasets:
        path = out / f"IM{int(ds.InstanceNumber):04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return _with_files(geometry, tuple(paths))


def _with_files(geometry: PhantomGeometry, files: tuple[Path, ...]) -> PhantomGeometry:
    from dataclasses import replace

    return replace(geometry, files=files)
