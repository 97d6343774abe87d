"""The shape of a reading protocol (pure data, no Django)."""

from __future__ import annotations

from dataclasses import dataclass

from studies.roi_shapes import SHAPES


@dataclass(frozen=True)
class RoiSpec:
    """One ROI of the protocol.

    ``role`` says what the ROI feeds: ``"level"`` (a vertebral level: its SI enters the VBQ median and its
    mean the SNR), ``"reference"`` (the CSF denominator of the VBQ) or ``"noise"`` (the SD of the
    background, the SNR denominator). Only levels can be excluded.
    """

    label: str
    name: str
    role: str
    help: str
    #: Tool the viewer selects for it first (the reader may switch to any of :data:`SHAPES`).
    default_shape: str
    color: str
    #: How a sentence names it ("the CSF ROI (at L3)").
    phrase: str
    #: Name in the viewer's panel and on the image (default: the label).
    short: str = ""

    @property
    def excludable(self) -> bool:
        return self.role == "level"


@dataclass(frozen=True)
class ReadingProtocol:
    """A reading protocol: ROIs in reading order and the scores they feed.

    VBQ = median(SI of the non-excluded ``levels``) / SI of the ``reference`` ROI, placed at
    ``reference_levels[0]`` or, when obscured there, at the next one (the fallback is recorded).
    SNR per level = mean SI of the level / SD of the ``noise`` ROI.
    """

    key: str
    title: str
    rois: tuple[RoiSpec, ...]
    reference_levels: tuple[str, ...]

    def __post_init__(self) -> None:
        labels = [r.label for r in self.rois]
        if len(set(labels)) != len(labels):
            raise ValueError(f"protocol {self.key}: duplicate ROI labels {labels}")
        if sum(r.role == "reference" for r in self.rois) != 1 or sum(r.role == "noise" for r in self.rois) != 1:
            raise ValueError(f"protocol {self.key}: needs exactly one reference and one noise ROI")
        if any(r.role not in ("level", "reference", "noise") for r in self.rois):
            raise ValueError(f"protocol {self.key}: unknown ROI role")
        if any(r.default_shape not in SHAPES for r in self.rois):
            raise ValueError(f"protocol {self.key}: unknown default shape")
        if not set(self.reference_levels) <= set(self.levels):
            raise ValueError(f"protocol {self.key}: reference levels must be levels of the protocol")

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(r.label for r in self.rois)

    @property
    def levels(self) -> tuple[str, ...]:
        """The vertebral levels, in reading order (e.g. L1–L4)."""
        return tuple(r.label for r in self.rois if r.role == "level")

    @property
    def reference(self) -> str:
        return next(r.label for r in self.rois if r.role == "reference")

    @property
    def noise(self) -> str:
        return next(r.label for r in self.rois if r.role == "noise")

    @property
    def levels_text(self) -> str:
        """``"L1–L4"``: how a sentence names the levels."""
        return f"{self.levels[0]}–{self.levels[-1]}"

    def spec(self, label: str) -> RoiSpec:
        return next(r for r in self.rois if r.label == label)

    def feeds(self, measure: str) -> tuple[str, ...]:
        """The labels a score is computed from: ``"vbq"`` → levels + reference, ``"snr"`` → levels + noise."""
        if measure == "vbq":
            return (*self.levels, self.reference)
        if measure == "snr":
            return (*self.levels, self.noise)
        raise ValueError(f"unknown measure {measure!r}; expected 'vbq' or 'snr'")

    def required_labels(self, *, vbq: bool, snr: bool) -> list[str]:
        """Labels a read must have (drawn, or excluded for a level) before it can be submitted."""
        wanted = set(self.feeds("vbq") if vbq else ()) | set(self.feeds("snr") if snr else ())
        return [label for label in self.labels if label in wanted]

    def viewer_config(self, labels: list[str]) -> list[dict]:
        """The viewer's protocol panel for ``labels``: name, help, tool, colour, role and level options."""
        return [
            {
                "label": spec.label,
                "name": spec.short or spec.label,
                "help": spec.help,
                "role": spec.role,
                "tool": spec.default_shape,
                "color": spec.color,
                "excludable": spec.excludable,
                **({"levels": list(self.reference_levels)} if spec.role == "reference" else {}),
            }
            for spec in (self.spec(label) for label in labels)
        ]
