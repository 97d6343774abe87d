"""DICOM import: validate every file, de-identify, store, and group series into cases.

Every file is inspected (:func:`studies.dicom.validate.inspect_file`) by a worker process
(:mod:`studies.services.import_workers`, or this process for small imports); this process groups the accepted
files by series, rejects series with inconsistent geometry (:func:`studies.dicom.series.check_series_geometry`),
skips images already in the study and decides each patient's case (subject code, date shift) before anything is
written (:mod:`studies.services.import_cases`). The workers then de-identify each file (PS3.15 Basic Profile,
:func:`studies.dicom.deid.deidentify`), encode it and write it (:mod:`studies.services.import_files`); the
series whose files are all written are recorded together every ~0.25 s (one by one if that fails), and a series
whose rows cannot be stored has its files removed: nothing of a rejected file or series is stored. UIDs are
remapped deterministically per study, so re-running the same import finds every image already stored and
changes nothing.
"""

from __future__ import annotations

import gc
import logging
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from studies import job_messages as msg
from studies.models import Case, ImportJob, Instance, Study
from vbqsite import jobs

from .audit import audit_log
from .dicomweb_fetch import fetch_pending
from .import_cases import (
    ImportOutcome,
    _Planner,
    _record_some,
    _remove_unrecorded,
    _SeriesPlan,
    _store_requests,
    study_secret,
)
from .import_files import _Source, _write_file
from .import_jobs import import_job_enqueue
from .subject_rekey import rekey_running_refusal

# The DICOM modules and the worker processes (pydicom, numpy) are imported inside the functions that import: the
# web processes import this module (the import pages create jobs) and their start-up should not load them
# (issue #20 point 4). The worker processes fork after dicom_import_run has imported them, so they inherit them.
if TYPE_CHECKING:
    from studies.dicom.validate import InspectResult

    from .import_workers import FileWorkers, StoreRequest

log = logging.getLogger(__name__)


def import_processes(n_files: int) -> int:
    """Worker processes for an import of ``n_files``: ``settings.IMPORT_PROCESSES`` (None: one per CPU), none
    for small imports, where starting processes would cost more than it saves."""
    from .import_workers import default_processes

    configured = getattr(settings, "IMPORT_PROCESSES", None)
    processes = default_processes() if configured is None else int(configured)
    return processes if n_files >= getattr(settings, "IMPORT_PARALLEL_MIN_FILES", 64) else 0


def dicom_import_run(
    *,
    study: Study,
    source: Path,
    subject_codes: dict[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    only: Callable[[str], bool] | None = None,
    alive: Callable[[], None] | None = None,
) -> ImportOutcome:
    """Import every file under ``source`` (a folder or a zip) into ``study``.

    ``subject_codes`` optionally maps original Patient IDs to the study's subject codes (e.g. from an
    enrolment list); otherwise a new patient gets the code the PI assigned to it beforehand
    (:mod:`studies.services.subject_code_csv`), else a random opaque one (:mod:`studies.services.subject_codes`).
    ``only`` filters files by their relative name; ``alive()`` is called while a zip is extracted (the job's
    heartbeat, which ``progress`` gives afterwards). The files are inspected, de-identified and written by worker
    processes (:mod:`studies.services.import_workers`); this process decides what is stored and records it.
    """
    from studies.dicom import deid

    from .import_workers import FileWorkers

    if study.locked:
        raise ValidationError(gettext("This study is locked: no more images can be imported."))
    if refusal := rekey_running_refusal(study):  # the import plans with the codes the re-keying replaces
        raise ValidationError(refusal)
    outcome = ImportOutcome()
    secret = study_secret(study)
    uid_map = deid.UidMapper(secret)
    storage = Instance._meta.get_field("file").storage

    def write(name: str, data: list[bytes | memoryview]) -> str:
        return _write_file(storage, name, data)

    extracted = _Source(source, alive)
    with extracted as files, _collector_frozen():
        if only is not None:
            files = [(name, path) for name, path in files if only(name)]
        outcome.total = total = len(files)
        report = _Progress(progress, total, extracted.touch)
        cases: dict[str, Case] = {}
        planned: list[tuple[_SeriesPlan, list[StoreRequest]]] = []
        try:
            with FileWorkers(import_processes(total), secret, write) as workers:
                series, duplicates = _inspect_all(workers, files, outcome, report)
                workers.drop(duplicates)
                planner = _Planner(study, uid_map, subject_codes, series)
                # planned one series at a time while the workers write the ones before it
                written = workers.store(_plans(planner, workers, series, outcome, report, planned))
                while _record_some(study, written, outcome, cases, report):
                    pass
            if workers.abandoned:  # a worker died storing them: their series were not recorded
                _remove_unrecorded([(p, [r for r in rs if r.index in workers.abandoned]) for p, rs in planned])
        except Exception:
            # a worker died or the database failed: the other workers have finished what they were given and
            # stopped; files whose rows were not committed go (the job fails; running it again completes it)
            _remove_unrecorded(planned)
            raise
        report.done()
    outcome.report.sort(key=lambda row: row["file"])
    return outcome


@contextmanager
def _collector_frozen() -> Iterator[None]:
    """Leave the objects alive before the import (the whole application) out of the cyclic garbage collector's
    passes during it (``gc.freeze``): each full pass would otherwise scan them all again, ~0.1 s each. The
    worker processes, forked inside, share them without copying the pages a pass would write."""
    if gc.get_freeze_count():  # someone else froze them (e.g. a server that preloads the application)
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _plans(
    planner: _Planner,
    workers: FileWorkers,
    series: dict[str, list[tuple[int, str, InspectResult]]],
    outcome: ImportOutcome,
    report: _Progress,
    planned: list[tuple[_SeriesPlan, list[StoreRequest]]],
) -> Iterator[tuple[_SeriesPlan, list[StoreRequest]]]:
    """The series to store, with their files' store requests (also added to ``planned``); the workers forget
    every other file."""
    from studies.dicom.series import check_series_geometry

    for key in list(series):
        items = series.pop(key)
        problems = check_series_geometry([r.facts for _, _, r in items])
        plan = None
        if problems:
            reason = msg.REASON_SERIES_REJECTED % {"problems": " ".join(problems)}
            for _, name, _ in items:
                outcome.add(name, "rejected", "inconsistent_geometry", reason)
        else:
            plan = planner.series(items, outcome)
        new = {index for index, _, _, _ in plan.files} if plan is not None else set()
        workers.drop(index for index, _, _ in items if index not in new)
        report.add(len(items) - len(new))
        if plan is not None:
            planned.append((plan, _store_requests(planner.study, plan)))
            yield planned[-1]


class _Progress:
    """Calls ``progress(done, total)`` as work is done, at most every half second (it writes to the database).

    Inspecting counts for the first half, storing (or passing over) each file for the second.
    """

    def __init__(
        self, progress: Callable[[int, int], None] | None, total: int, touch: Callable[[], None] | None = None
    ) -> None:
        self.progress, self.total, self.touch = progress, total, touch
        self.inspected = self.settled = 0
        self.last = 0.0

    def inspect(self, count: int) -> None:
        self.inspected = count
        self._report()

    def add(self, settled: int) -> None:
        self.settled += settled
        self._report()

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= 0.5:
            self.last = now
            if self.touch is not None:
                self.touch()  # the import's temporary folder is in use: the import sweep leaves it
            if self.progress is not None:
                self.progress(self.inspected // 2 + self.settled // 2, self.total)

    def done(self) -> None:
        self.inspected = self.settled = self.total
        self._report(force=True)


def _inspect_all(
    workers: FileWorkers,
    files: list[tuple[str, str]],
    outcome: ImportOutcome,
    report: _Progress,
) -> tuple[dict[str, list[tuple[int, str, InspectResult]]], list[int]]:
    """Inspect every file; group the accepted ones by series, first file of a repeated instance first."""
    results: list[InspectResult | None] = [None] * len(files)
    for count, (index, result) in enumerate(workers.inspect(files), 1):
        results[index] = result
        report.inspect(count)
    series: dict[str, list[tuple[int, str, InspectResult]]] = defaultdict(list)
    seen: dict[str, str] = {}
    duplicates: list[int] = []
    for index, result in enumerate(results):
        name = files[index][0]
        if not result.accepted:
            outcome.add(name, result.status, result.code, result.reason)
        elif result.sop_instance_uid in seen:
            outcome.add(
                name,
                "skipped",
                "duplicate_sop_instance",
                msg.REASON_DUPLICATE % {"other": repr(seen[result.sop_instance_uid])},
            )
            duplicates.append(index)
        else:
            seen[result.sop_instance_uid] = name
            series[result.series_instance_uid].append((index, name, result))
    return series, duplicates


# --------------------------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------------------------


def uploads_dir() -> Path:
    """Where import uploads wait for their job: UPLOAD_ROOT, on storage the web and every worker share."""
    path = Path(settings.UPLOAD_ROOT)
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_job_create(*, study: Study, user, source: Path | str, report: list[dict] | None = None) -> ImportJob:
    """Record an import of ``source`` and queue it once the row is committed.

    ``report`` holds rows about files that never reached ``source`` (e.g. images the DICOM listener refused),
    in the per-file report's format; the import's own rows are added after them.

    Raises :class:`vbqsite.queue.QueueUnavailable` when the broker refuses the job (which is then failed, not
    left queued; Retry queues it again). Not to be called inside a transaction: the caller must learn whether the
    job was queued.
    """
    if study.locked:
        raise ValidationError(gettext("This study is locked: no more images can be imported."))
    if user is not None and (refusal := rekey_running_refusal(study)):
        # a PI's upload or pull waits (refused now); images a DICOM node sent (no user) are kept: their job fails
        # when it runs (dicom_import_run refuses too) and Retry imports them once the re-keying has finished
        raise ValidationError(refusal)
    with transaction.atomic(durable=True):
        job = ImportJob.objects.create(study=study, created_by=user, source=str(source), report=report or [])
        audit_log(study=study, user=user, action="import.create", obj=job, data={"source": Path(source).name})
    import_job_enqueue(job)
    return job


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued import job (idempotent: a job that is done, failed or running elsewhere is left alone).

    The job is claimed first (:func:`vbqsite.jobs.job_claim`: queued, or running with no sign of life for longer
    than JOB_HEARTBEAT_TIMEOUT_SECONDS). Whatever happens then, the job ends "done" or "failed" and its stored
    upload (the identified zip) is removed.
    """
    if not jobs.job_claim(ImportJob, job_id):
        return ImportJob.objects.filter(pk=job_id).first()
    job = ImportJob.objects.select_related("study").get(pk=job_id)
    try:
        _run_job(job)
    finally:
        if _is_upload(job.source):  # the raw (identified) upload is not kept: a zip, or a folder of received files
            source = Path(job.source)
            if source.is_dir() and not source.is_symlink():
                shutil.rmtree(source, ignore_errors=True)
            else:
                source.unlink(missing_ok=True)
    return job


def _is_upload(source: str) -> bool:
    return Path(source).parent.resolve() == uploads_dir().resolve()


def _run_job(job: ImportJob) -> None:
    from .import_workers import WorkerStopped

    beat = jobs.Heartbeat(ImportJob, job.pk)  # the job sweep requeues an import that stops beating

    def progress(done: int, total: int) -> None:
        beat(force=done >= total, done=done, total=total)

    prior = list(job.report or [])  # rows the job was created with (files refused before they were stored)
    try:
        fetch_pending(Path(job.source), progress)  # a DICOMweb pull retrieves its images first
        outcome = dicom_import_run(study=job.study, source=Path(job.source), progress=progress, alive=beat)
    except ValidationError as exc:
        job.status, job.error = ImportJob.Status.FAILED, " ".join(exc.messages)
    except WorkerStopped as exc:
        log.exception("import job %s stopped", job.pk)
        job.status = ImportJob.Status.FAILED
        job.error = msg.IMPORT_STOPPED % {"error": exc}
    except BaseException as exc:  # native code may raise BaseException subclasses: the job must still end
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportJob.Status.FAILED,
                error=msg.IMPORT_INTERRUPTED,
                finished_at=timezone.now(),
            )
            raise
        log.exception("import job %s failed", job.pk)
        job.status, job.error = ImportJob.Status.FAILED, msg.IMPORT_FAILED % {"error": exc.__class__.__name__}
    else:
        job.status = ImportJob.Status.DONE
        job.total = job.done = outcome.total + len(prior)
        for row in prior:
            setattr(outcome, row["outcome"], getattr(outcome, row["outcome"]) + 1)
        job.accepted, job.skipped, job.rejected = outcome.accepted, outcome.skipped, outcome.rejected
        job.report = prior + outcome.report
        if outcome.burned_in_series:
            job.error = msg.BURNED_IN % {"series": "; ".join(outcome.burned_in_series)}
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
    job.save(update_fields=[*_RESULT_FIELDS, "finished_at"])


_RESULT_FIELDS = ("status", "error", "total", "done", "accepted", "skipped", "rejected", "report")


def import_orphans_sweep(*, max_age_seconds: float | None = None, now: float | None = None) -> list[str]:
    """Remove import temporary folders (``/tmp/vbq-import-*``) and stored uploads older than ``max_age_seconds``
    (default ``settings.IMPORT_ORPHAN_MAX_AGE_SECONDS``) whose job is not queued or running: what a killed
    process left behind (identified data). Returns the paths removed."""
    import tempfile

    from .import_files import TEMP_PREFIX

    age = settings.IMPORT_ORPHAN_MAX_AGE_SECONDS if max_age_seconds is None else max_age_seconds
    cutoff = (time.time() if now is None else now) - age
    active = set(
        ImportJob.objects.filter(status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]).values_list(
            "source", flat=True
        )
    )
    candidates = list(Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*")) + list(uploads_dir().iterdir())
    removed = []
    for path in candidates:
        try:
            if path.lstat().st_mtime >= cutoff or str(path) in active:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            log.warning("could not remove the import leftover %s", path, exc_info=True)
            continue
        removed.append(str(path))
    if removed:
        log.info("import sweep removed %d leftovers", len(removed))
    return removed
