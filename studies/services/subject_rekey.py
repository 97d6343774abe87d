"""Re-keying a study (issue #15): every case gets a fresh opaque subject code, before any read exists.

Studies imported before opaque codes have codes in import order (S001, S002…), which can follow the groups;
the PI may replace them all with random codes (:func:`studies.services.subject_codes.new_subject_code`).
Existing studies keep their codes unless re-keyed.

- Allowed only while the study has no reads at all (before the reading plan is created): once reads exist,
  readers may have seen the codes on their worklists, and the worklist order is derived from the codes
  (:func:`studies.services.reading.worklist_order`), so the documented regeneration of the order would break.
  A locked study is refused too, and so is a study with an import queued or running (it plans with the codes).
- The code is written in each stored file (Patient's Name and Patient ID) and in its path
  (:func:`studies.models.instance_file_name`), so every file is rewritten with the new code under its new
  path (SHA-256 and size updated); the old files are removed once the change is committed. If anything fails,
  the new files are removed and nothing changes. UIDs and dates are not touched: the date shift of each case is
  stored with it and kept.
- New codes avoid the old ones and those assigned to patients not imported yet; assignments of patients
  already imported are dropped (their cases now have new codes). One audit entry (counts only).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.db import transaction
from django.utils.translation import gettext as _

from studies.models import Case, ImportJob, Instance, Read, Study, SubjectCodeAssignment, instance_file_name

from .audit import audit_log
from .membership import StudyLocked
from .subject_codes import DEFAULT_PREFIX, new_subject_code

__all__ = ["RekeyRefused", "RekeyResult", "rekey_blocker", "subject_codes_rekey"]


class RekeyRefused(Exception):
    """The study cannot be re-keyed now (HTTP 409); the message says why."""


@dataclass(frozen=True)
class RekeyResult:
    cases: int
    files: int


def rekey_blocker(study: Study) -> str:
    """Why the study cannot be re-keyed now ("" when it can)."""
    if study.locked:
        return _("The study is locked: its data can no longer be changed.")
    reads = Read.objects.filter(study=study).count()
    if reads:
        return _(
            "The study has %(reads)d read(s): subject codes can only be replaced before the reading plan is "
            "created (readers may have seen the codes, and the worklist order is derived from them)."
        ) % {"reads": reads}
    if not Case.objects.filter(study=study).exists():
        return _("The study has no cases yet: there are no codes to replace.")
    if ImportJob.objects.filter(study=study, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]).exists():
        return _("An import of this study is queued or running: replace the codes once it has finished.")
    return ""


def _prefix(codes: list[str]) -> str:
    """The study's code prefix when all its codes share one like ``VBQ-``, else ``S-``."""
    prefixes = {m[0] if (m := re.match(r"[A-Za-z]{1,8}-", c)) else "" for c in codes}
    return prefixes.pop() if len(prefixes) == 1 and "" not in prefixes else DEFAULT_PREFIX


def _rewritten(data: bytes, code: str) -> bytes:
    """The stored file with Patient's Name and Patient ID set to ``code`` (everything else as it was)."""
    from pydicom import dcmread  # here, not at module level: web start-up does not load pydicom (issue #20 point 4)

    ds = dcmread(io.BytesIO(data))
    ds.PatientName = code
    ds.PatientID = code
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _remove(storage, names: list[str]) -> None:
    """Delete the files, and on a local disk their series and subject folders once empty."""
    for name in names:
        storage.delete(name)
    if isinstance(storage, FileSystemStorage):
        folders = {os.path.dirname(storage.path(n)) for n in names}
        for folder in sorted(folders | {os.path.dirname(d) for d in folders}, key=len, reverse=True):
            try:
                os.rmdir(folder)
            except OSError:
                pass  # not empty (or already gone)


def subject_codes_rekey(*, study: Study, user) -> RekeyResult:
    """Give every case of ``study`` a new random code; rewrite and rename its files. See the module docstring."""
    storage = Instance._meta.get_field("file").storage
    written: list[str] = []
    old_files: list[str] = []
    try:
        with transaction.atomic():
            study = Study.objects.select_for_update().get(pk=study.pk)
            if study.locked:
                raise StudyLocked()
            blocker = rekey_blocker(study)
            if blocker:
                raise RekeyRefused(blocker)
            cases = list(Case.objects.select_for_update().filter(study=study).order_by("pk"))
            old = [c.subject_code for c in cases]
            taken = set(old) | set(
                SubjectCodeAssignment.objects.filter(study=study).values_list("subject_code", flat=True)
            )
            prefix = _prefix(old)
            new_codes = {}
            for case in cases:
                new_codes[case.pk] = code = new_subject_code(taken, prefix=prefix)
                taken.add(code)
            instances = list(Instance.objects.filter(series__case__study=study).select_related("series").order_by("pk"))
            moved: dict[str, tuple[str, str, int]] = {}  # old name -> new name, sha256, size (frames share a file)
            for inst in instances:
                if inst.file.name not in moved:
                    code = new_codes[inst.series.case_id]
                    with inst.file.open("rb") as fh:
                        data = _rewritten(fh.read(), code)
                    name = instance_file_name(
                        study.pk, code, inst.series.series_instance_uid, inst.file.name.rsplit("/", 1)[-1]
                    )
                    old_files.append(inst.file.name)
                    new_name = storage.save(name, ContentFile(data))
                    written.append(new_name)
                    moved[inst.file.name] = (new_name, hashlib.sha256(data).hexdigest(), len(data))
                inst.file.name, inst.sha256, inst.size = moved[inst.file.name]
            Instance.objects.bulk_update(instances, ["file", "sha256", "size"], batch_size=500)
            # new codes avoid every old one: the unique (study, code) constraint holds row by row
            for case in cases:
                case.subject_code = new_codes[case.pk]
            Case.objects.bulk_update(cases, ["subject_code"], batch_size=500)
            digests = [c.patient_digest for c in cases if c.patient_digest]
            dropped, _ = SubjectCodeAssignment.objects.filter(study=study, patient_digest__in=digests).delete()
            audit_log(
                study=study,
                user=user,
                action="subject_codes.rekey",
                obj=study,
                data={"cases": len(cases), "files": len(moved), "assignments_dropped": dropped},
            )
            transaction.on_commit(lambda: _remove(storage, old_files))
    except BaseException:
        _remove(storage, written)  # nothing partial: the new files go, the old ones (still referenced) stay
        raise
    return RekeyResult(cases=len(cases), files=len(moved))
