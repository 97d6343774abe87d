"""Stored files no image row references, left by an import whose process was killed (#22): removed by the sweep.

An import's workers de-identify and write each file (:func:`studies.services.import_files._write_file`), then the
importing process records the series' rows (:mod:`studies.services.import_cases`). A failure inside the process
removes what it wrote and did not record; a process killed between the write and the commit cannot, and its
de-identified files stay under ``dicom/study-<id>/…`` with no :class:`~studies.models.Instance` row — a few hundred
per kill in ``tests/integration/test_import_kill.py``. Running the job again writes its own files (a taken name
gets a new one), so the dead run's files are never used.

:func:`stored_orphans_sweep` removes them. A file goes only if all of these hold:

- its study has no import job and no re-keying (:class:`~studies.models.RekeyJob`) queued or running (a live job
  owns its study's folder: it may have written files it has not recorded yet, however old — a re-keying writes
  every new file before it records any — and the re-run of a killed job is queued or running until it ends);
- it was last written more than ``JOB_HEARTBEAT_TIMEOUT_SECONDS`` ago (a job is only requeued or failed after that
  much silence, so a dead run's files are older than that when its job ends; anything newer may be a write whose
  row is about to be committed);
- no Instance row names it (one query per study folder for the names it holds: frames share a file);
- on PostgreSQL, the study row is not locked by a re-keying committing its rows
  (:mod:`studies.services.subject_rekey`; the folder is skipped, not waited for). The sweep holds the row FOR NO
  KEY UPDATE while it removes the study's files, which ROI saves (KEY SHARE) do not wait for.

Only studies where a process may have died are looked at, so a minute's sweep costs nothing on a quiet system: those
with an import job or a re-keying that ended (done or failed) within ``IMPORT_ORPHAN_MAX_AGE_SECONDS`` after the job
sweep had to queue it again or give up on it (``requeues > 0`` or failed) — a killed job always goes through the job
sweep — and every re-keying that ended within it (one killed just after its commit leaves the old files, which are
removed once the commit is done).
Series and subject folders left empty are removed as well. Not covered: an import run from the command line (no job
row; it records each series seconds after writing it) and storages other than the local file system.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from studies.models import ImportJob, Instance, RekeyJob, Study

log = logging.getLogger(__name__)

__all__ = ["orphan_candidate_studies", "stored_orphans_sweep"]

_LIVE = (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)  # the same values for RekeyJob
_FAILED = ImportJob.Status.FAILED


def orphan_candidate_studies(now=None) -> list[int]:
    """Studies a killed import or re-keying may have left files in (see the module docstring), none with a live
    job."""
    now = now or timezone.now()
    window = now - timedelta(seconds=settings.IMPORT_ORPHAN_MAX_AGE_SECONDS)
    killed = Q(finished_at__gte=window) & (Q(requeues__gt=0) | Q(status=_FAILED))
    # every recent re-keying: one killed after its commit leaves the old files, removed only once it is committed
    ended = Study.objects.filter(_any_job(killed, Q(finished_at__gte=window)))
    return list(ended.exclude(_any_job(Q(status__in=_LIVE))).order_by("pk").values_list("pk", flat=True))


def _any_job(imports: Q, rekeys: Q | None = None) -> Q:
    """The study has an import matching ``imports`` or a re-keying matching ``rekeys`` (default: the same)."""
    return Q(Exists(ImportJob.objects.filter(imports, study_id=OuterRef("pk")))) | Q(
        Exists(RekeyJob.objects.filter(imports if rekeys is None else rekeys, study_id=OuterRef("pk")))
    )


def stored_orphans_sweep(
    *, max_age_seconds: float | None = None, now: float | None = None, studies: list[int] | None = None
) -> list[str]:
    """Remove the unreferenced stored files of :func:`orphan_candidate_studies` (or of ``studies``) last written
    more than ``max_age_seconds`` ago (default ``settings.JOB_HEARTBEAT_TIMEOUT_SECONDS``). Returns the storage
    names removed."""
    storage = Instance._meta.get_field("file").storage
    if not isinstance(storage, FileSystemStorage):
        return []
    age = settings.JOB_HEARTBEAT_TIMEOUT_SECONDS if max_age_seconds is None else max_age_seconds
    cutoff = (time.time() if now is None else now) - age
    root = Path(storage.location)
    removed: list[str] = []
    for study_id in orphan_candidate_studies() if studies is None else studies:
        folder = root / "dicom" / f"study-{study_id}"
        if folder.is_dir():
            removed += _sweep_study(study_id, folder, root, cutoff)
    if removed:
        log.info("import sweep removed %d stored files no image references (killed imports)", len(removed))
    return removed


def _sweep_study(study_id: int, folder: Path, root: Path, cutoff: float) -> list[str]:
    old = [p for p in _files(folder) if _mtime(p) < cutoff]
    if not old:
        return []
    removed = []
    with transaction.atomic():
        study = Study.objects.filter(pk=study_id)
        if connection.features.has_select_for_update_skip_locked:
            # NO KEY UPDATE: conflicts with a re-keying's FOR UPDATE, not with the KEY SHARE a save's audit row takes
            no_key = connection.features.has_select_for_no_key_update
            study = study.select_for_update(skip_locked=True, no_key=no_key)
        if not study.exists():  # being re-keyed (or deleted): its new files are not recorded yet
            return []
        if Study.objects.filter(_any_job(Q(status__in=_LIVE)), pk=study_id).exists():  # started meanwhile
            return []
        prefix = f"dicom/study-{study_id}/"
        known = set(
            Instance.objects.filter(series__case__study_id=study_id, file__startswith=prefix)
            .values_list("file", flat=True)
            .distinct()
        )
        for path in old:
            name = path.relative_to(root).as_posix()
            if name in known:
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError:
                log.warning("could not remove the unreferenced stored file %s", name, exc_info=True)
                continue
            removed.append(name)
    for parent in sorted({p.parent for p in old}, key=lambda p: len(p.parts), reverse=True):
        for empty in (parent, parent.parent):  # the series folder, then the subject's
            if empty != folder:
                try:
                    empty.rmdir()
                except OSError:  # not empty (or gone)
                    pass
    return removed


def _files(folder: Path) -> list[Path]:
    out = []
    for dirpath, _dirs, names in os.walk(folder):
        out.extend(Path(dirpath) / n for n in names)
    return out


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return float("inf")  # gone meanwhile: nothing to do
