"""DICOM import: validate every file, de-identify, store, and group series into cases.

A file is checked (``dicom_validate.inspect_file``), grouped with the rest of its series, and the series is
checked for consistent geometry before anything of it is written. Each accepted file is de-identified
(PS3.15 Basic Profile, ``deid.deidentify``) *before* it is written; nothing of a rejected file is stored.
UIDs are remapped deterministically per study, so re-running the same import finds every image already
stored and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import shutil
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage
from django.db import transaction
from django.utils import timezone

from studies.models import Case, ImportJob, Instance, Series, Study, SubjectKey, instance_upload_to

from . import deid
from .audit import audit_log
from .dicom_encode import part10_bytes
from .dicom_validate import InspectResult, check_series_geometry, classify_series, inspect_file, slice_normal

log = logging.getLogger(__name__)

MAX_ZIP_MEMBERS = 200_000
PROGRESS_EVERY = 25


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


# ----------------------------------------------------------------------------------------------------------------
# Sources: a folder or a zip
# ----------------------------------------------------------------------------------------------------------------


def _safe_extract(zip_path: Path, target: Path) -> None:
    """Extract a zip, refusing absolute paths and '..' (zip-slip) and absurd member counts."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise ValidationError("The upload is not a valid zip file.") from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            raise ValidationError(f"The zip holds {len(members)} files; the limit is {MAX_ZIP_MEMBERS}.")
        root = target.resolve()
        for member in members:
            dest = (target / member.filename).resolve()
            if root not in dest.parents:
                raise ValidationError(f"The zip contains an unsafe path: {member.filename!r}.")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)


def _files_under(folder: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("__MACOSX"))
        files.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return sorted(files)


class _Source:
    """Context manager yielding (display name, path) for every file of a folder or zip."""

    def __init__(self, source: Path) -> None:
        self.source = Path(source)
        self.tmp: str | None = None

    def __enter__(self) -> list[tuple[str, Path]]:
        if not self.source.exists():
            raise ValidationError(f"Nothing to import at {self.source}.")
        if self.source.is_dir():
            root = self.source
        else:
            self.tmp = tempfile.mkdtemp(prefix="vbq-import-")
            _safe_extract(self.source, Path(self.tmp))
            root = Path(self.tmp)
        return [(str(p.relative_to(root)), p) for p in _files_under(root)]

    def __exit__(self, *exc) -> None:
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ----------------------------------------------------------------------------------------------------------------
# The import
# ----------------------------------------------------------------------------------------------------------------


def _next_subject_code(study: Study, used: set[str]) -> str:
    n = Case.objects.filter(study=study).count() + 1
    while True:
        code = f"S{n:03d}"
        if code not in used and not Case.objects.filter(study=study, subject_code=code).exists():
            return code
        n += 1


def _case_for(
    study: Study,
    patient_id: str,
    patient_name: str,
    subject_codes: dict[str, str] | None,
    used: set[str],
    outcome: ImportOutcome,
) -> Case:
    digest = patient_digest(study, patient_id)
    case = Case.objects.filter(study=study, patient_digest=digest).first()
    if case is not None:
        return case
    code = (subject_codes or {}).get(patient_id) or _next_subject_code(study, used)
    used.add(code)
    case, created = Case.objects.get_or_create(study=study, subject_code=code, defaults={"patient_digest": digest})
    if not created and not case.patient_digest:
        case.patient_digest = digest
        case.save(update_fields=["patient_digest"])
    if study.date_handling == Study.DateHandling.SHIFT and case.date_offset_days is None:
        case.date_offset_days = deid.subject_date_offset(code, secret=study_secret(study))
        case.save(update_fields=["date_offset_days"])
    if study.keep_subject_mapping:
        SubjectKey.objects.update_or_create(
            case=case, defaults={"original_patient_id": patient_id[:128], "original_patient_name": patient_name[:256]}
        )
    if created:
        outcome.cases_created.append(code)
    return case


def _store_series(
    study: Study,
    uid_map: deid.UidMapper,
    items: list[tuple[str, InspectResult]],
    subject_codes: dict[str, str] | None,
    used_codes: set[str],
    outcome: ImportOutcome,
) -> None:
    """De-identify and store one consistent series (all-or-nothing for its new files)."""
    datasets = [r.dataset for _, r in items]
    info = classify_series(datasets)  # before de-identification: the profile removes the descriptions
    first = datasets[0]
    patient_id = str(first.get("PatientID") or "").strip() or f"unknown:{first.get('StudyInstanceUID', '')}"
    patient_name = str(first.get("PatientName") or "")
    normal = slice_normal(first)

    new_items = []
    for name, result in items:
        mapped = uid_map.map(result.sop_instance_uid)
        if Instance.objects.filter(sop_instance_uid=mapped).exists():
            outcome.add(name, "skipped", "already_imported", "This image is already in the study; nothing changed.")
        else:
            new_items.append((name, result, mapped))
    if not new_items:
        return

    written: list[str] = []
    storage = Instance._meta.get_field("file").storage
    try:
        with transaction.atomic():
            case = _case_for(study, patient_id, patient_name, subject_codes, used_codes, outcome)
            offset = case.date_offset_days if study.date_handling == Study.DateHandling.SHIFT else None
            series_uid = uid_map.map(info.series_instance_uid)
            series, _ = Series.objects.get_or_create(
                series_instance_uid=series_uid,
                defaults={
                    "case": case,
                    "orientation": info.orientation,
                    "weighting": info.weighting,
                    "rows": info.rows,
                    "columns": info.columns,
                    "pixel_spacing": list(info.pixel_spacing),
                },
            )
            burned = False
            rows = []
            for name, result, mapped in new_items:
                ds = result.dataset
                unchanged: set[int] = set()
                report = deid.deidentify(
                    ds,
                    subject_code=case.subject_code,
                    uid_map=uid_map,
                    date_offset_days=offset,
                    keep_dates=offset is not None,
                    clean_descriptors=True,
                    unchanged=unchanged,
                )
                burned |= report.burned_in_annotation
                data = part10_bytes(ds, result.source, originals=result.originals, unchanged=unchanged)
                position = [float(v) for v in ds.ImagePositionPatient]
                inst = Instance(
                    series=series,
                    sop_instance_uid=mapped,
                    source_digest=hashlib.sha256(mapped.encode()).hexdigest(),
                    sha256=hashlib.sha256(data).hexdigest(),
                    size=len(data),
                    instance_number=int(ds.InstanceNumber) if ds.get("InstanceNumber") not in (None, "") else None,
                    slice_position=float(sum(p * n for p, n in zip(position, normal, strict=True))),
                    image_position=position,
                    image_orientation=[float(v) for v in ds.ImageOrientationPatient],
                )
                inst.file.name = _write_file(storage, instance_upload_to(inst, f"{mapped}.dcm"), data)
                written.append(inst.file.name)
                rows.append(inst)
                outcome.add(
                    name,
                    "accepted",
                    "accepted",
                    "Burned-in annotation flagged: check the image for visible identifiers."
                    if report.burned_in_annotation
                    else "",
                )
            Instance.objects.bulk_create(rows)
            description = str(datasets[0].get("SeriesDescription") or info.description or "")[:200]
            series.description = description
            series.burned_in_annotation = series.burned_in_annotation or burned
            series.save(update_fields=["description", "burned_in_annotation"])
            if burned:
                outcome.burned_in_series.append(f"{case.subject_code}: {description or series_uid}")
            _pick_primary(case, series, info.is_sagittal_t1)
    except Exception:
        for path in written:  # nothing partial: remove the files of a series that failed to store
            storage.delete(path)
        raise


def _write_file(storage: Storage, name: str, data: bytes) -> str:
    """Store one de-identified file as ``name`` and return the name it got.

    On the local file system the bytes are written straight to a new file (never over an existing one);
    a name that is taken, or any other storage, goes through the storage API, which picks a free name.
    """
    if not isinstance(storage, FileSystemStorage):
        return storage.save(name, ContentFile(data))
    path = storage.path(name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        try:
            fd = os.open(path, flags, 0o666)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, flags, 0o666)
    except FileExistsError:
        return storage.save(name, ContentFile(data))
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    if storage.file_permissions_mode is not None:
        os.chmod(path, storage.file_permissions_mode)
    return name


def _pick_primary(case: Case, series: Series, is_sagittal_t1: bool) -> None:
    """The first sagittal T1 series becomes the case's reading series (the PI can pick another)."""
    current = case.primary_series
    if current is None or (is_sagittal_t1 and not (current.orientation == "sagittal" and current.weighting == "T1")):
        case.primary_series = series
        case.save(update_fields=["primary_series"])


def dicom_import_run(
    *,
    study: Study,
    source: Path,
    subject_codes: dict[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    only: Callable[[str], bool] | None = None,
) -> ImportOutcome:
    """Import every file under ``source`` (a folder or a zip) into ``study``.

    ``subject_codes`` optionally maps original Patient IDs to the study's subject codes (e.g. from an
    enrolment list); otherwise codes S001, S002… are assigned in order of first appearance. ``only`` filters
    files by their relative name.
    """
    if study.locked:
        raise ValidationError("This study is locked: no more images can be imported.")
    outcome = ImportOutcome()
    uid_map = deid.UidMapper(study_secret(study))
    with _Source(source) as files:
        if only is not None:
            files = [(name, path) for name, path in files if only(name)]
        outcome.total = len(files)
        series: dict[str, list[tuple[str, InspectResult]]] = defaultdict(list)
        seen: dict[str, str] = {}
        for i, (name, path) in enumerate(files, 1):
            result = inspect_file(path, name=name)
            if not result.accepted:
                outcome.add(name, result.status, result.code, result.reason)
            elif result.sop_instance_uid in seen:
                outcome.add(
                    name,
                    "skipped",
                    "duplicate_sop_instance",
                    f"The same image (SOP Instance UID) is also in {seen[result.sop_instance_uid]!r}; "
                    "this copy was ignored.",
                )
            else:
                seen[result.sop_instance_uid] = name
                series[result.series_instance_uid].append((name, result))
            if progress and i % PROGRESS_EVERY == 0:
                progress(i // 2, outcome.total)
        used_codes: set[str] = set()
        done = 0
        for key in list(series):
            items = series.pop(key)  # each series' datasets and bytes are freed once it is stored
            problems = check_series_geometry([r.dataset for _, r in items])
            if problems:
                reason = "Series rejected: " + " ".join(problems)
                for name, _ in items:
                    outcome.add(name, "rejected", "inconsistent_geometry", reason)
            else:
                try:
                    _store_series(study, uid_map, items, subject_codes, used_codes, outcome)
                except Exception as exc:  # a storage failure rejects the series, never the import
                    log.exception("storing series failed")
                    for name, _ in items:
                        outcome.add(
                            name,
                            "rejected",
                            "storage_error",
                            f"The series could not be stored ({exc.__class__.__name__}); try again.",
                        )
            done += len(items)
            if progress:
                progress(len(files) // 2 + done // 2, outcome.total)
    outcome.report.sort(key=lambda row: row["file"])
    return outcome


# ----------------------------------------------------------------------------------------------------------------
# Jobs
# ----------------------------------------------------------------------------------------------------------------


def uploads_dir() -> Path:
    path = Path(settings.VAR_DIR) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_job_create(*, study: Study, user, source: Path | str) -> ImportJob:
    """Record an import of ``source`` and queue it (after commit)."""
    if study.locked:
        raise ValidationError("This study is locked: no more images can be imported.")
    job = ImportJob.objects.create(study=study, created_by=user, source=str(source))
    audit_log(study=study, user=user, action="import.create", obj=job, data={"source": Path(source).name})
    from studies import tasks

    transaction.on_commit(lambda: _queue(tasks.dicom_import, job.pk))
    return job


def _queue(task, *args) -> None:
    try:
        task.delay(*args)
    except Exception as exc:  # broker down: the job stays queued and can be re-run
        log.warning("could not queue %s%s: %s", task.name, args, exc)


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued import job (idempotent: a finished job is not run again)."""
    job = ImportJob.objects.select_related("study").filter(pk=job_id).first()
    if job is None or job.status == ImportJob.Status.DONE:
        return job
    job.status = ImportJob.Status.RUNNING
    job.save(update_fields=["status"])

    def progress(done: int, total: int) -> None:
        ImportJob.objects.filter(pk=job.pk).update(done=done, total=total)

    try:
        outcome = dicom_import_run(study=job.study, source=Path(job.source), progress=progress)
    except ValidationError as exc:
        job.status, job.error = ImportJob.Status.FAILED, " ".join(exc.messages)
    except Exception as exc:
        log.exception("import job %s failed", job.pk)
        job.status, job.error = ImportJob.Status.FAILED, f"The import failed ({exc.__class__.__name__})."
    else:
        job.status = ImportJob.Status.DONE
        job.total, job.done = outcome.total, outcome.total
        job.accepted, job.skipped, job.rejected = outcome.accepted, outcome.skipped, outcome.rejected
        job.report = outcome.report
        if outcome.burned_in_series:
            job.error = "Burned-in annotation flagged in: " + "; ".join(outcome.burned_in_series)
        audit_log(
            study=job.study,
            user=job.created_by,
            action="import.done",
            obj=job,
            data={
                "accepted": outcome.accepted,
                "skipped": outcome.skipped,
                "rejected": outcome.rejected,
                "cases_created": len(outcome.cases_created),
            },
        )
    job.finished_at = timezone.now()
    job.save()
    if str(job.source).startswith(str(uploads_dir())):
        Path(job.source).unlink(missing_ok=True)  # the raw (identified) upload is not kept
    return job
