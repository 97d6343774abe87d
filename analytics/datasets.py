"""Querysets → tidy rows for the dashboard, the exports and the statistics (selectors; read-only).

Everything the analyses need is loaded by :func:`study_data` in a handful of queries (reads with their scores,
ROIs with their pixel statistics, cases with their reference data) and turned into plain rows:

* :class:`ReadRow` — one reader's read of one case: status, timing, VBQ / SNR / M-score (or the reasons there
  are none) and the level SI of L1–L4 and the CSF (the ROI statistic the study chose: mean or median), the
  noise SD, and the labels whose ROI could not be measured.
* :class:`SubjectRow` — one case: reference data (QCT/DEXA T-score, BMD, TBS, demographics), the WHO group
  from the T-score, and the consensus VBQ / SNR / M-score under the study's consensus rule.

:class:`StudyData` holds them and hands the sections (:mod:`analytics.sections`) the arrays the statistics
take: :meth:`~StudyData.wide` (reader × read columns), :meth:`~StudyData.case_matrix` (cases × columns, for
the ICC), :meth:`~StudyData.paired` (Bland–Altman), :meth:`~StudyData.complete_cases` (subjects with every
value: groups, correlation) and :meth:`~StudyData.outcome_cases` (scores and the 0/1 outcome: ROC).
:func:`roi_rows` is the long ROI table of the export.

A read is *analysed* (enters agreement, group, ROC and correlation statistics) when it is submitted and its
read score exists. The consensus score of a case is, per ``Study.consensus_rule``:

* ``first_reads`` (default): the mean over readers of their first reads;
* ``all_reads``: the mean over every analysed read;
* ``reader``: the chosen reader's first read (``Study.consensus_reader``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

from studies.models import Case, Read, Roi, Study
from studies.protocol import DEFAULT as PROTOCOL
from studies.slices import study_slice_refs

__all__ = [
    "GROUPS",
    "GROUP_LABELS",
    "LEVELS",
    "OUTCOMES",
    "ReadRow",
    "StudyData",
    "SubjectRow",
    "agreement_reader_ids",
    "consensus_description",
    "outcome_of",
    "roi_rows",
    "study_data",
    "who_group",
]

#: Vertebral levels measured for VBQ and SNR.
#: The reading protocol's vertebral levels (:mod:`studies.protocol`), and its reference (CSF) and noise labels.
LEVELS: tuple[str, ...] = PROTOCOL.levels
REFERENCE: str = PROTOCOL.reference
NOISE: str = PROTOCOL.noise
#: WHO groups in R's factor order (alphabetical, which is also the clinical order).
GROUPS: tuple[str, ...] = ("normal", "osteopenia", "osteoporosis")
GROUP_LABELS: dict[str, str] = {"normal": "Normal", "osteopenia": "Osteopenia", "osteoporosis": "Osteoporosis"}

#: ROC outcomes: key -> (label, positive groups, negative groups). The first is the default (the VBQ seed
#: study compares osteoporosis with normal and leaves osteopenia out).
OUTCOMES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "op_vs_normal": ("Osteoporosis vs normal", ("osteoporosis",), ("normal",)),
    "op_vs_rest": ("Osteoporosis vs osteopenia + normal", ("osteoporosis",), ("normal", "osteopenia")),
    "low_vs_normal": ("Osteopenia + osteoporosis vs normal", ("osteopenia", "osteoporosis"), ("normal",)),
}

MEASURES: tuple[str, ...] = ("vbq", "snr", "m_score")
#: What :func:`study_data` reads of each ROI and its statistics (the input digests hash the same columns).
ROI_COLUMNS: tuple[str, ...] = (
    "read_id",
    "label",
    "version",
    "excluded",
    "exclusion_reason",
    "score__roi_version",
    "score__mean",
    "score__median",
    "score__sd",
    "score__error",
)


def who_group(t_score: float | None) -> str | None:
    """WHO category of a T-score: T ≥ −1 normal; −2.5 < T < −1 osteopenia; T ≤ −2.5 osteoporosis."""
    if t_score is None or not math.isfinite(t_score):
        return None
    if t_score >= -1.0:
        return "normal"
    if t_score > -2.5:
        return "osteopenia"
    return "osteoporosis"


def outcome_of(group: str | None, outcome: str) -> int | None:
    """1 (positive), 0 (negative) or None (left out of this outcome, or no group)."""
    _, positive, negative = OUTCOMES[outcome]
    if group in positive:
        return 1
    if group in negative:
        return 0
    return None


@dataclass(slots=True)
class ReadRow:
    """One read with its scores and level SIs (``None`` where there is no value)."""

    read_id: int
    case_id: int
    subject_code: str
    reader_id: int
    reader: str
    read_number: int
    status: str
    started_at: Any
    submitted_at: Any
    time_on_task: float
    scored: bool
    vbq: float | None = None
    vbq_reason: str = ""
    snr: float | None = None
    snr_reason: str = ""
    snr_levels: dict[str, float] = field(default_factory=dict)
    m_score: float | None = None
    m_score_reason: str = ""
    #: Level SI (study's ROI statistic) of L1..L4 and "CSF"; missing/excluded/unmeasurable → absent.
    si: dict[str, float] = field(default_factory=dict)
    noise_sd: float | None = None
    excluded: dict[str, str] = field(default_factory=dict)
    roi_errors: dict[str, str] = field(default_factory=dict)
    rois_drawn: int = 0
    rois_pending: int = 0
    #: Position in the reader's randomised worklist (``Read.order_index``), for reader drift.
    order_index: int = 0
    #: Pixel SD inside each vertebral ROI (L1..L4 measured, not excluded).
    level_sd: dict[str, float] = field(default_factory=dict)

    @property
    def submitted(self) -> bool:
        return self.status == Read.Status.SUBMITTED

    @property
    def analysed(self) -> bool:
        """Submitted and scored: the read enters the statistics."""
        return self.submitted and self.scored

    def value(self, measure: str) -> float | None:
        """VBQ, SNR, M-score (``vbq``, ``snr``, ``m_score``) or a level SI (``si_L1`` … ``si_CSF``)."""
        if measure.startswith("si_"):
            return self.si.get(measure[3:])
        if measure.startswith("snr_L"):
            return self.snr_levels.get(measure[4:])
        if measure == "roi_sd":
            return self.roi_sd
        return getattr(self, measure)

    @property
    def roi_sd(self) -> float | None:
        """Mean pixel SD of the read's vertebral ROIs (L1..L4 measured): how homogeneous the placed ROIs are."""
        values = list(self.level_sd.values())
        return math.fsum(values) / len(values) if values else None


@dataclass(slots=True)
class SubjectRow:
    """One case with its reference data, WHO group and consensus scores."""

    case_id: int
    subject_code: str
    is_control: bool
    modality: str | None = None
    t_score: float | None = None
    bmd: float | None = None
    z_score: float | None = None
    tbs: float | None = None
    age: float | None = None
    sex: str | None = None
    bmi: float | None = None
    diabetes: bool | None = None
    hyperlipidemia: bool | None = None
    group: str | None = None
    #: Consensus scores and how many reads each is the mean of.
    vbq: float | None = None
    snr: float | None = None
    m_score: float | None = None
    n_reads: dict[str, int] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        return getattr(self, name)


@dataclass
class StudyData:
    """Everything the analyses of one study use, loaded once."""

    study: Study
    readers: list[tuple[int, str]]
    reads: list[ReadRow]
    subjects: list[SubjectRow]
    read_numbers: list[int]
    consensus_note: str
    #: The readers (user ids) the PI chose for the inter-rater ICC (:class:`analytics.models.AgreementReaders`);
    #: empty: every reader.
    agreement_reader_ids: list[int] = field(default_factory=list)

    @property
    def analysed_reads(self) -> list[ReadRow]:
        return [r for r in self.reads if r.analysed]

    def reads_of(self, *, reader_id: int | None = None, read_number: int | None = None) -> Iterator[ReadRow]:
        for r in self.reads:
            if not r.analysed:
                continue
            if reader_id is not None and r.reader_id != reader_id:
                continue
            if read_number is not None and r.read_number != read_number:
                continue
            yield r

    def wide(self, measure: str) -> dict[tuple[int, int], dict[int, float]]:
        """{(reader_id, read_number): {case_id: value}} of the analysed reads."""
        out: dict[tuple[int, int], dict[int, float]] = defaultdict(dict)
        for r in self.analysed_reads:
            v = r.value(measure)
            if v is not None:
                out[(r.reader_id, r.read_number)][r.case_id] = v
        return out

    def reader_name(self, reader_id: int) -> str:
        return dict(self.readers).get(reader_id, str(reader_id))

    def subject_codes(self) -> dict[int, str]:
        """{case_id: subject code}."""
        return {s.case_id: s.subject_code for s in self.subjects}

    def case_matrix(self, columns: list[dict[int, float]]) -> tuple[np.ndarray | None, list[str]]:
        """Cases (rows, by subject code) × columns (``{case_id: value}`` each, as in :meth:`wide`) and the
        subject codes of the rows; NaN where a column has no value, cases without any value left out."""
        import numpy as np  # here, not at module level: web start-up does not load numpy (issue #20 point 4)

        codes = self.subject_codes()
        cases = sorted({cid for col in columns for cid in col}, key=lambda c: codes.get(c, str(c)))
        if not cases:
            return None, []
        matrix = np.array([[col.get(cid, np.nan) for col in columns] for cid in cases], dtype=float)
        return matrix, [codes.get(c, str(c)) for c in cases]

    def paired(self, a: dict[int, float], b: dict[int, float]) -> tuple[list[float], list[float]]:
        """The values of the cases in both ``{case_id: value}`` columns, in subject-code order."""
        codes = self.subject_codes()
        cases = sorted(set(a) & set(b), key=lambda c: codes.get(c, str(c)))
        return [a[c] for c in cases], [b[c] for c in cases]

    def complete_cases(self, *names: str) -> list[list[Any]]:
        """One list per subject attribute in ``names`` (``"vbq"``, ``"bmd"``, ``"group"`` …) over the subjects
        that have all of them, in subject order."""
        rows = [s for s in self.subjects if all(getattr(s, name) is not None for name in names)]
        return [[getattr(s, name) for s in rows] for name in names]

    def outcome_cases(self, outcome: str, *names: str) -> tuple[list[list[Any]], list[int]]:
        """:meth:`complete_cases` of the subjects in a ROC outcome, and their outcome (1 positive, 0 negative)."""
        rows = [
            s
            for s in self.subjects
            if outcome_of(s.group, outcome) is not None and all(getattr(s, name) is not None for name in names)
        ]
        return [[getattr(s, name) for s in rows] for name in names], [outcome_of(s.group, outcome) for s in rows]


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _read_rows(study: Study) -> list[ReadRow]:
    rows = (
        Read.objects.filter(study=study)
        .exclude(status=Read.Status.VOIDED)
        .values_list(
            "id",
            "case_id",
            "case__subject_code",
            "reader_id",
            "reader__username",
            "read_number",
            "status",
            "started_at",
            "submitted_at",
            "time_on_task_seconds",
            "order_index",
            "score__id",
            "score__vbq",
            "score__vbq_reason",
            "score__snr",
            "score__snr_reason",
            "score__snr_levels",
            "score__m_score",
            "score__m_score_reason",
        )
    )
    reads: dict[int, ReadRow] = {}
    for (
        rid,
        case_id,
        code,
        reader_id,
        reader,
        number,
        status,
        started,
        submitted,
        seconds,
        order_index,
        score_id,
        vbq,
        vbq_reason,
        snr,
        snr_reason,
        snr_levels,
        m_score,
        m_reason,
    ) in rows:
        reads[rid] = ReadRow(
            read_id=rid,
            case_id=case_id,
            subject_code=code,
            reader_id=reader_id,
            reader=reader,
            read_number=number,
            status=status,
            started_at=started,
            submitted_at=submitted,
            time_on_task=float(seconds or 0.0),
            order_index=int(order_index or 0),
            scored=score_id is not None,
            vbq=_as_float(vbq),
            vbq_reason=vbq_reason or "",
            snr=_as_float(snr),
            snr_reason=snr_reason or "",
            snr_levels={k: float(v) for k, v in (snr_levels or {}).items() if _as_float(v) is not None},
            m_score=_as_float(m_score),
            m_score_reason=m_reason or "",
        )
    statistic = study.roi_statistic
    rois = Roi.objects.filter(read__study=study).exclude(read__status=Read.Status.VOIDED).values_list(*ROI_COLUMNS)
    for read_id, label, version, excluded, reason, scored_version, mean, median, sd, error in rois:
        row = reads.get(read_id)
        if row is None:
            continue
        if excluded:
            row.excluded[label] = reason or "excluded"
            continue
        row.rois_drawn += 1
        if scored_version != version:
            row.rois_pending += 1
            continue
        if error:
            row.roi_errors[label] = error
            continue
        value = _as_float(median if statistic == Study.RoiStatistic.MEDIAN else mean)
        if label in LEVELS and _as_float(sd) is not None:
            row.level_sd[label] = _as_float(sd)
        if label == NOISE:
            row.noise_sd = _as_float(sd)
        elif value is not None:
            row.si[label] = value
    return sorted(reads.values(), key=lambda r: (r.subject_code, r.reader, r.read_number))


def _subject_rows(study: Study) -> list[SubjectRow]:
    rows = Case.objects.filter(study=study).values_list(
        "id",
        "subject_code",
        "is_control",
        "reference__modality",
        "reference__t_score",
        "reference__bmd",
        "reference__z_score",
        "reference__tbs",
        "reference__age",
        "reference__sex",
        "reference__bmi",
        "reference__diabetes",
        "reference__hyperlipidemia",
    )
    out = []
    for cid, code, control, modality, t, bmd, z, tbs, age, sex, bmi, dm, hl in rows:
        t = _as_float(t)
        out.append(
            SubjectRow(
                case_id=cid,
                subject_code=code,
                is_control=bool(control),
                modality=modality or None,
                t_score=t,
                bmd=_as_float(bmd),
                z_score=_as_float(z),
                tbs=_as_float(tbs),
                age=_as_float(age),
                sex=(sex or "").strip().upper() or None,
                bmi=_as_float(bmi),
                diabetes=dm,
                hyperlipidemia=hl,
                group=who_group(t),
            )
        )
    return sorted(out, key=lambda s: s.subject_code)


def consensus_description(study: Study) -> str:
    """The consensus rule in words (shown on the dashboard and in the methods paragraph)."""
    rule = study.consensus_rule
    if rule == Study.ConsensusRule.ALL_READS:
        return "mean over all submitted reads of all readers"
    if rule == Study.ConsensusRule.READER:
        if study.consensus_reader_id is None:
            return "mean over readers of their first reads (no consensus reader chosen)"
        name = study.consensus_reader.get_username() if study.consensus_reader else str(study.consensus_reader_id)
        return f"first read of reader {name}"
    return "mean over readers of their first reads"


def _consensus(study: Study, reads: Iterable[ReadRow], subjects: list[SubjectRow]) -> None:
    rule = study.consensus_rule
    reader_id = study.consensus_reader_id if rule == Study.ConsensusRule.READER else None
    values: dict[tuple[int, str], list[float]] = defaultdict(list)
    for r in reads:
        if not r.analysed:
            continue
        if rule != Study.ConsensusRule.ALL_READS and r.read_number != 1:
            continue
        if reader_id is not None and r.reader_id != reader_id:
            continue
        for measure in MEASURES:
            v = r.value(measure)
            if v is not None:
                values[(r.case_id, measure)].append(v)
    for s in subjects:
        for measure in MEASURES:
            vs = values.get((s.case_id, measure), [])
            # math.fsum: the mean does not depend on the order of the reads.
            setattr(s, measure, math.fsum(vs) / len(vs) if vs else None)
            s.n_reads[measure] = len(vs)


def agreement_reader_ids(study: Study) -> list[int]:
    """The readers the PI chose for the inter-rater ICC (empty: every reader; :mod:`analytics.reader_sets`)."""
    from analytics.reader_sets import agreement_readers_get

    return agreement_readers_get(study)


def study_data(study: Study) -> StudyData:
    """Load every read, ROI statistic and reference record of the study as tidy rows."""
    study = Study.objects.select_related("consensus_reader").get(pk=study.pk)
    reads = _read_rows(study)
    subjects = _subject_rows(study)
    _consensus(study, reads, subjects)
    readers = sorted({(r.reader_id, r.reader) for r in reads}, key=lambda x: (x[1], x[0]))
    numbers = sorted({r.read_number for r in reads})
    return StudyData(
        study=study,
        readers=readers,
        reads=reads,
        subjects=subjects,
        read_numbers=numbers,
        consensus_note=consensus_description(study),
        agreement_reader_ids=agreement_reader_ids(study),
    )


def roi_rows(study: Study) -> Iterator[dict[str, Any]]:
    """The long ROI table (one row per ROI of every read), ordered by case, reader, read and label."""
    slices = study_slice_refs(study.pk)  # slice number (as the viewer shows it) and DICOM Instance Number
    qs = (
        Roi.objects.filter(read__study=study)
        .exclude(read__status=Read.Status.VOIDED)
        .order_by("read__case__subject_code", "read__reader__username", "read__read_number", "label")
        .values(
            "read__case__subject_code",
            "read__reader__username",
            "read__read_number",
            "read__status",
            "label",
            "csf_level",
            "sop_instance_uid",
            "shape",
            "points_px",
            "version",
            "excluded",
            "exclusion_reason",
            "exclusion_note",
            "created_at",
            "updated_at",
            "score__roi_version",
            "score__n",
            "score__area_mm2",
            "score__mean",
            "score__median",
            "score__sd",
            "score__min",
            "score__max",
            "score__error",
            "score__computed_at",
        )
    )
    for row in qs.iterator(chunk_size=2000):
        current = row["score__roi_version"] is not None and row["score__roi_version"] == row["version"]
        row["score_current"] = current
        ref = slices.get(row["sop_instance_uid"])
        row["slice_number"] = ref.number if ref else None
        row["instance_number"] = ref.instance_number if ref else None
        yield row
