"""The lumbar VBQ / SNR protocol: L1–L4 ellipses, CSF behind L3 (L2, L1 fallback), a background-noise box.

VBQ = median SI(L1–L4) / SI(CSF at L3) — Ehresman et al., Spine J 2020 (the VBQ / QCT seed study).
SNR = mean SI(L1–L4) / SD(background) — the SNR / M-score seed study (DEXA, postmenopausal women).
"""

from __future__ import annotations

from .base import ReadingProtocol, RoiSpec


def _level(label: str, help_text: str, color: str) -> RoiSpec:
    return RoiSpec(
        label=label,
        name=label,
        role="level",
        help=help_text,
        default_shape="ellipse",
        color=color,
        phrase=f"the {label} ROI",
    )


LUMBAR_VBQ = ReadingProtocol(
    key="lumbar-vbq",
    title="Lumbar VBQ (L1–L4 / CSF at L3) and SNR (L1–L4 / background noise)",
    rois=(
        _level("L1", "Mid-sagittal slice: ellipse in the L1 body, avoiding the cortical rim and endplates.", "#ffd23f"),
        _level("L2", "Same slice: ellipse in the L2 body.", "#4fd1ff"),
        _level("L3", "Same slice: ellipse in the L3 body.", "#7dff6b"),
        _level("L4", "Same slice: ellipse in the L4 body.", "#ff8ad8"),
        RoiSpec(
            label="CSF",
            name="CSF (at L3)",
            role="reference",
            help="CSF posterior to L3 in the spinal canal (fallback: L2, then L1 when obscured).",
            default_shape="rectangle",
            color="#b79cff",
            phrase="the CSF ROI (at L3)",
        ),
        RoiSpec(
            label="NOISE",
            name="Background noise",
            role="noise",
            help="Background noise: a region in the air outside the body, free of artefact.",
            default_shape="rectangle",
            color="#ffa94d",
            phrase="the background-noise ROI",
            short="Noise",
        ),
    ),
    reference_levels=("L3", "L2", "L1"),
)
