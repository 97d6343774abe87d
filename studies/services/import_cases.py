"""The database side of a DICOM import: the case each series goes to, and the recording of written series.

:class:`_Planner` decides, from one read of the study's cases and before anything is written, which files are
new and under which subject (code and date shift) each series is stored. Once the workers have written a
series' files, :func:`_record_some` records what was written in batches, one transaction every
:data:`COMMIT_EVERY_SECONDS`: the usual series together in a few bulk statements (:func:`_record_together`),
the others, or all of them if that fails, series by series (:func:`_commit_series`), so that a series whose rows
cannot be stored is rejected alone and its files removed. :mod:`studies.services.dicom_import` runs the import.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from django.conf import settings
from django.db import transaction
from django.db.models import Count

from studies import job_messages as msg
from studies.models import Case, Instance, Series, Study, SubjectCodeAssignment, SubjectKey, instance_file_name

from .bulk_rows import insert_rows
from .subject_codes import new_subject_code
from .subject_keys import subject_key_values

# The DICOM modules (pydicom, numpy) are imported inside the functions that plan and record an import: the web
# processes import this module (the subject-code pages use patient_digest) and their start-up should not load
# them (issue #20 point 4).
if TYPE_CHECKING:
    from studies.dicom import deid
    from studies.dicom.series import SeriesInfo
    from studies.dicom.validate import InspectResult

    from .dicom_import import _Progress
    from .import_workers import StoredFile, StoreRequest

log = logging.getLogger(__name__)


def study_secret(study: Study) -> bytes:
    """Per-study key for UID remapping, date shifts and subject digests (derived from DEID_SECRET)."""
    return hmac.new(settings.DEID_SECRET.encode(), f"vbq-study:{study.pk}".encode(), hashlib.sha256).digest()


def patient_digest(study: Study, patient_id: str) -> str:
    """Keyed digest of the original Patient ID: matches re-imports without storing the identity."""
    return hmac.new(study_secret(study), f"patient:{patient_id}".encode(), hashlib.sha256).hexdigest()


@dataclass
class ImportOutcome:
    total: int = 0
    accepted: int = 0
    skipped: int = 0
    rejected: int = 0
    report: list[dict] = field(default_factory=list)
    burned_in_series: list[str] = field(default_factory=list)
    cases_created: list[str] = field(default_factory=list)

    def add(self, name: str, status: str, code: str, reason: str = "") -> None:
        self.report.append({"file": name, "outcome": status, "code": code, "reason": reason})
        setattr(self, status, getattr(self, status) + 1)


@dataclass(frozen=True)
class _Subject:
    """The case a patient's series go to, decided before any file is written: code and date shift (the Patient
    Name is never kept; the Patient ID only in memory, and encrypted in the PI's mapping when the study keeps it)."""

    patient_id: str
    code: str
    date_offset_days: int | None
    known: bool  # the study had a case for this patient or code when the import was planned


class _CaseChanged(Exception):
    """The study's cases changed while the import ran (e.g. a concurrent import took the subject code)."""


class _Planner:
    """What to store and under which subject, from one read of the study's cases; nothing is written.

    A patient already in the study (matched by the keyed digest of the Patient ID) keeps its case; a new
    one gets the code ``subject_codes`` gives, else the code the PI assigned to its digest beforehand
    (:class:`~studies.models.SubjectCodeAssignment`, :mod:`studies.services.subject_code_csv`), else a new
    opaque random code (``S-7K2Q``; see :mod:`studies.services.subject_codes`), never derived from the order
    of appearance. Random codes avoid the assigned ones.
    """

    def __init__(
        self,
        study: Study,
        uid_map: deid.UidMapper,
        subject_codes: dict[str, str] | None,
        series: dict[str, list[tuple[int, str, InspectResult]]],
    ) -> None:
        self.study, self.uid_map, self.subject_codes = study, uid_map, subject_codes or {}
        self.stored = _existing(
            Instance,
            "sop_instance_uid",
            [_slice_key(uid_map.map(r.sop_instance_uid), r.facts) for items in series.values() for *_, r in items],
        )
        self.stored_series = _existing(Series, "series_instance_uid", [uid_map.map(uid) for uid in series])
        rows = list(Case.objects.filter(study=study).values_list("subject_code", "patient_digest", "date_offset_days"))
        self.by_digest = {digest: (code, offset) for code, digest, offset in rows if digest}
        self.offsets = {code: offset for code, _, offset in rows}
        self.assigned = dict(
            SubjectCodeAssignment.objects.filter(study=study).values_list("patient_digest", "subject_code")
        )
        self.taken = set(self.offsets) | set(self.assigned.values())
        self.subjects: dict[str, _Subject] = {}

    def subject(self, patient_id: str) -> _Subject:
        from studies.dicom import deid

        if patient_id in self.subjects:
            return self.subjects[patient_id]
        digest = patient_digest(self.study, patient_id)
        found = self.by_digest.get(digest)
        if found is not None:
            code, offset = found
            known = True
        else:
            code = self.subject_codes.get(patient_id) or self.assigned.get(digest) or self._next_code()
            offset = self.offsets.get(code)
            known = code in self.offsets
            self.taken.add(code)
        if self.study.date_handling != Study.DateHandling.SHIFT:
            offset = None
        elif offset is None:
            offset = deid.subject_date_offset(code, secret=study_secret(self.study))
        subject = self.subjects[patient_id] = _Subject(patient_id, code, offset, known)
        return subject

    def _next_code(self) -> str:
        return new_subject_code(self.taken)  # opaque: random, never the order of appearance (issue #15)

    def series(self, items: list[tuple[int, str, InspectResult]], outcome: ImportOutcome) -> _SeriesPlan | None:
        """Skip the series' files already in the study and decide its case; None when nothing is new."""
        from studies.dicom.series import classify_series

        first = items[0][2].facts
        info = classify_series([r.facts for _, _, r in items])  # from the original descriptions
        mapped = {index: self.uid_map.map(r.sop_instance_uid) for index, _, r in items}
        files = []
        for index, name, result in items:
            if _slice_key(mapped[index], result.facts) in self.stored:
                outcome.add(name, "skipped", "already_imported", msg.REASON_ALREADY_IMPORTED)
            else:
                files.append((index, name, mapped[index], result.facts))
        if not files:
            return None
        patient_id = str(first.get("PatientID") or "").strip() or f"unknown:{first.get('StudyInstanceUID') or ''}"
        subject = self.subject(patient_id)
        series_uid = self.uid_map.map(info.series_instance_uid)
        return _SeriesPlan(subject, info, series_uid, files, new_series=series_uid not in self.stored_series)


def _slice_key(mapped_sop_instance_uid: str, facts: dict | None) -> str:
    """The key of a file's (first) slice row: its SOP Instance UID, or for a multi-frame file the key of its
    first frame (:func:`~studies.dicom.frames.frame_uid`)."""
    from studies.dicom.frames import frame_uid

    if facts and facts.get("Frames"):
        return frame_uid(mapped_sop_instance_uid, 1)
    return mapped_sop_instance_uid


def _existing(model: type, field: str, values: list[str], chunk: int = 500) -> set[str]:
    """Which of ``values`` the model already has in ``field`` (in chunks: SQLite limits query parameters)."""
    found: set[str] = set()
    for start in range(0, len(values), chunk):
        lookup = {f"{field}__in": values[start : start + chunk]}
        found.update(model.objects.filter(**lookup).values_list(field, flat=True))
    return found


def _case_for(study: Study, subject: _Subject, outcome: ImportOutcome) -> tuple[Case, bool]:
    """Get or create the planned case (inside the series' transaction); (case, created)."""
    digest = patient_digest(study, subject.patient_id)
    shift = study.date_handling == Study.DateHandling.SHIFT
    # a new subject's case is made at once (the unique subject code stops a concurrent import taking it)
    case = Case.objects.filter(study=study, patient_digest=digest).first() if subject.known else None
    created = False
    if case is None:
        case = Case.objects.filter(study=study, subject_code=subject.code).first() if subject.known else None
        if case is None:
            case = Case.objects.create(
                study=study,
                subject_code=subject.code,
                patient_digest=digest,
                date_offset_days=subject.date_offset_days if shift else None,
            )
            created = True
            outcome.cases_created.append(subject.code)
        elif case.patient_digest:
            raise _CaseChanged(f"subject code {subject.code} belongs to another patient")
        else:
            case.patient_digest = digest
            case.save(update_fields=["patient_digest"])
    if case.subject_code != subject.code:
        raise _CaseChanged(f"this patient's images are now in case {case.subject_code}")
    if shift and case.date_offset_days != subject.date_offset_days:
        if case.date_offset_days is not None:
            raise _CaseChanged(f"the date shift of {case.subject_code} changed")
        case.date_offset_days = subject.date_offset_days
        case.save(update_fields=["date_offset_days"])
    if study.keep_subject_mapping:
        key = subject_key_values(case.pk, subject.patient_id)
        if created:
            SubjectKey.objects.create(**key)  # a new case has none
        else:
            SubjectKey.objects.update_or_create(case_id=case.pk, defaults=key)
    return case, created


@dataclass
class _SeriesPlan:
    """One consistent series to store: its new files (index, name, mapped SOP Instance UID, facts)."""

    subject: _Subject
    info: SeriesInfo
    series_uid: str
    files: list[tuple[int, str, str, dict]]
    new_series: bool = True


def _store_requests(study: Study, plan: _SeriesPlan) -> list[StoreRequest]:
    from .import_workers import StoreRequest

    return [
        StoreRequest(
            index=index,
            subject_code=plan.subject.code,
            date_offset_days=plan.subject.date_offset_days,
            name=instance_file_name(study.pk, plan.subject.code, plan.series_uid, f"{mapped}.dcm"),
        )
        for index, _, mapped, _ in plan.files
    ]


#: Series are recorded in batches of what the workers wrote in about this many seconds, one transaction each:
#: a commit costs a few milliseconds, and SQLite writers wait for the lock meanwhile.
COMMIT_EVERY_SECONDS: Final = 0.25


def _record_some(
    study: Study,
    written: Iterator[tuple[_SeriesPlan, list[StoredFile]]],
    outcome: ImportOutcome,
    cases: dict[str, Case],
    report: _Progress,
) -> bool:
    """Record the series written in the next COMMIT_EVERY_SECONDS in one transaction; False when none is left."""
    deadline = time.monotonic() + COMMIT_EVERY_SECONDS
    batch: list[tuple[_SeriesPlan, list[StoredFile]]] = []
    more = False
    for plan, stored in written:  # leaving the loop early does not end ``written``
        batch.append((plan, stored))
        if time.monotonic() > deadline:
            more = True
            break
    if batch:
        with transaction.atomic():
            _commit_batch(study, batch, outcome, cases)
        report.add(sum(len(plan.files) for plan, _ in batch))
    return more


def _commit_batch(
    study: Study, batch: list[tuple[_SeriesPlan, list[StoredFile]]], outcome: ImportOutcome, cases: dict[str, Case]
) -> None:
    """Record written series (inside the caller's transaction): the usual ones — new series of new or already
    recorded cases, every file written — together in a few bulk statements; when that fails, and for the
    others, series by series with :func:`_commit_series`, so that a series that cannot be stored rejects only
    itself."""
    together: list[tuple[_SeriesPlan, list[StoredFile]]] = []
    alone: list[tuple[_SeriesPlan, list[StoredFile]]] = []
    for plan, stored in batch:
        usual = (
            plan.new_series
            and (plan.subject.code in cases or not plan.subject.known)
            and not any(f.error for f in stored)
        )
        (together if usual else alone).append((plan, stored))
    if together:
        try:
            with transaction.atomic():
                created = _record_together(study, together, cases)
        except Exception:
            log.warning("recording %d series together failed; recording them one by one", len(together), exc_info=True)
            alone = together + alone
        else:
            for plan, stored in together:
                _report_recorded(plan, stored, outcome, created.get(plan.subject.code) or cases[plan.subject.code])
            for code, case in created.items():
                outcome.cases_created.append(code)
                cases[code] = case
    for plan, stored in alone:
        _commit_series(study, plan, stored, outcome, cases)
    reading_series_choose([c.pk for code in {plan.subject.code for plan, _ in batch} if (c := cases.get(code))])


def _record_together(
    study: Study, batch: list[tuple[_SeriesPlan, list[StoredFile]]], cases: dict[str, Case]
) -> dict[str, Case]:
    """Bulk-create the batch's new cases (with their subject keys), series and instances, and set each case's
    reading series; returns the new cases by subject code, in order of first appearance."""
    shift = study.date_handling == Study.DateHandling.SHIFT
    created: dict[str, Case] = {}
    subjects: dict[str, _Subject] = {}
    for plan, _ in batch:
        subject = plan.subject
        if subject.code not in cases and subject.code not in created:
            subjects[subject.code] = subject
            created[subject.code] = Case(
                study=study,
                subject_code=subject.code,
                patient_digest=patient_digest(study, subject.patient_id),
                date_offset_days=subject.date_offset_days if shift else None,
            )
    Case.objects.bulk_create(created.values())
    if study.keep_subject_mapping and created:
        SubjectKey.objects.bulk_create(
            SubjectKey(**subject_key_values(case.pk, subjects[code].patient_id)) for code, case in created.items()
        )
    rows = []
    for plan, stored in batch:
        case = created.get(plan.subject.code) or cases[plan.subject.code]
        rows.append(_series_row(case, plan, stored))
    Series.objects.bulk_create(rows)
    insert_rows(
        Instance,
        [inst for (plan, stored), series in zip(batch, rows, strict=True) for inst in _instances(series, plan, stored)],
    )
    return created  # the cases' reading series are chosen once the batch is recorded (reading_series_choose)


def _commit_series(
    study: Study, plan: _SeriesPlan, stored: list[StoredFile], outcome: ImportOutcome, cases: dict[str, Case]
) -> None:
    """Record one written series (all-or-nothing: its files are removed if its rows cannot be stored; inside the
    caller's transaction, a savepoint).

    ``cases`` holds the cases this import has committed, by subject code (filled here).
    """
    storage = Instance._meta.get_field("file").storage
    written = [f.name for f in stored if f.name]
    cases_created = len(outcome.cases_created)
    info = plan.info
    burned = any(f.burned_in_annotation for f in stored)
    description = str(info.description or "")[:200]
    try:
        failed = [f.error for f in stored if f.error]
        if failed:
            raise OSError(failed[0])
        with transaction.atomic():
            case = cases.get(plan.subject.code)
            if case is None:
                case, _ = _case_for(study, plan.subject, outcome)
            series = None if plan.new_series else Series.objects.filter(series_instance_uid=plan.series_uid).first()
            if series is None:
                series = _series_row(case, plan, stored)
                series.save(force_insert=True)
            elif series.case_id != case.pk:
                raise _CaseChanged("the series belongs to another case")
            else:
                series.description = description
                series.burned_in_annotation = series.burned_in_annotation or burned
                series.save(update_fields=["description", "burned_in_annotation"])
            insert_rows(Instance, _instances(series, plan, stored))
    except Exception as exc:  # a storage failure rejects the series, never the import
        log.exception("storing series failed")
        for path in written:  # nothing partial: remove the files of a series that failed to store
            storage.delete(path)
        del outcome.cases_created[cases_created:]
        if isinstance(exc, _CaseChanged):
            reason = msg.REASON_CASE_CHANGED % {"error": exc}
        else:
            reason = msg.REASON_STORE_FAILED % {"error": exc.__class__.__name__}
        for _, name, _, _ in plan.files:
            outcome.add(name, "rejected", "storage_error", reason)
        return
    cases[case.subject_code] = case
    _report_recorded(plan, stored, outcome, case)


def _instances(series: Series, plan: _SeriesPlan, stored: list[StoredFile]) -> list[dict[str, object]]:
    """The series' :class:`Instance` rows (values by field attname, for :func:`insert_rows`): one per file, and
    one per frame of a multi-frame file (its ``frame_number``, keyed by :func:`~studies.dicom.frames.frame_uid`)."""
    from studies.dicom.frames import expand_facts, frame_uid

    by_index = {f.index: f for f in stored}
    rows = []
    for index, _, mapped, facts in plan.files:
        file = by_index[index]
        for slice_facts in expand_facts(facts):
            frame = slice_facts.get("FrameNumber")
            key = frame_uid(mapped, frame) if frame else mapped
            position = slice_facts["ImagePositionPatient"]
            rows.append(
                {
                    "series_id": series.pk,
                    "sop_instance_uid": key,
                    "source_digest": hashlib.sha256(key.encode()).hexdigest(),
                    "file": file.name,
                    "sha256": file.sha256,
                    "size": file.size,
                    "instance_number": slice_facts["InstanceNumber"],
                    "frame_number": frame,
                    "slice_position": float(sum(p * n for p, n in zip(position, plan.info.normal, strict=True))),
                    "image_position": position,
                    "image_orientation": slice_facts["ImageOrientationPatient"],
                }
            )
    return rows


def _series_row(case: Case, plan: _SeriesPlan, stored: list[StoredFile]) -> Series:
    info = plan.info
    return Series(
        series_instance_uid=plan.series_uid,
        case=case,
        description=str(info.description or "")[:200],
        orientation=info.orientation,
        weighting=info.weighting,
        rows=info.rows,
        columns=info.columns,
        pixel_spacing=list(info.pixel_spacing),
        burned_in_annotation=any(f.burned_in_annotation for f in stored),
    )


#: Two candidate reading series whose slice counts are this close (the smaller at least this fraction of the
#: larger) are flagged "series to confirm" for the PI: slice count alone does not tell them apart reliably.
CLOSE_SLICE_COUNT: Final = 0.8


def reading_series_choose(case_ids: list[int]) -> None:
    """Choose the reading series of these cases (inside the caller's transaction), unless the PI chose it.

    Among a case's sagittal T1 series the one with the most images (slices through the lumbar spine) wins,
    the earlier one on a tie; when the runner-up has at least :data:`CLOSE_SLICE_COUNT` of its slices the case
    is flagged ``series_to_confirm``. A case without a sagittal T1 series keeps its reading series, or gets
    its first series.
    """
    cases = list(Case.objects.filter(pk__in=case_ids, series_chosen_by_pi=False))
    if not cases:
        return
    counts: dict[int, list[tuple[int, int, bool]]] = {}  # case -> (images, series id, sagittal T1)
    rows = (
        Series.objects.filter(case__in=cases)
        .annotate(images=Count("instances"))
        .values_list("case_id", "pk", "images", "orientation", "weighting")
    )
    for case_id, pk, images, orientation, weighting in rows:
        counts.setdefault(case_id, []).append((images, pk, orientation == "sagittal" and weighting == "T1"))
    changed = []
    for case in cases:
        candidates = sorted(((n, pk) for n, pk, t1 in counts.get(case.pk, []) if t1), key=lambda c: (-c[0], c[1]))
        if candidates:
            primary = candidates[0][1]
            close = len(candidates) > 1 and candidates[1][0] >= CLOSE_SLICE_COUNT * candidates[0][0]
        else:
            others = sorted(pk for _, pk, _ in counts.get(case.pk, []))
            primary = case.primary_series_id or (others[0] if others else None)
            close = False
        if (primary, close) != (case.primary_series_id, case.series_to_confirm):
            case.primary_series_id, case.series_to_confirm = primary, close
            changed.append(case)
    Case.objects.bulk_update(changed, ["primary_series", "series_to_confirm"])


_BURNED_IN_REASON: Final = msg.REASON_BURNED_IN


def _report_recorded(plan: _SeriesPlan, stored: list[StoredFile], outcome: ImportOutcome, case: Case) -> None:
    """Report a recorded series' files as accepted (and its burned-in annotation, if flagged)."""
    by_index = {f.index: f for f in stored}
    for index, name, _, _ in plan.files:
        outcome.add(name, "accepted", "accepted", _BURNED_IN_REASON if by_index[index].burned_in_annotation else "")
    if any(f.burned_in_annotation for f in stored):
        description = str(plan.info.description or "")[:200]
        outcome.burned_in_series.append(f"{case.subject_code}: {description or plan.series_uid}")


def _remove_unrecorded(planned: list[tuple[_SeriesPlan, list[StoreRequest]]]) -> None:
    """After a failed import: remove the files written for series whose rows were not committed."""
    storage = Instance._meta.get_field("file").storage
    names = [r.name for _, requests in planned for r in requests]
    try:
        recorded = _existing(Instance, "file", names)
    except Exception:  # the database is unreachable: leave the files (unreferenced, de-identified)
        log.exception("could not check which files of the failed import were recorded")
        return
    for name in names:
        if name not in recorded and storage.exists(name):
            storage.delete(name)
