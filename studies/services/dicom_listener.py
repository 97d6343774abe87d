"""The DICOM listener (#19): a C-STORE and C-ECHO SCP (pynetdicom) that imports what a PACS or scanner sends.

A study is chosen by the Called AE title (:class:`~studies.models.DicomReceiver`, set by the PI); an association
to any other title is refused (A-ASSOCIATE-RJ, "called AE title not recognised"). The listener's own AE title
(``VBQ_DICOM_AE_TITLE``) answers C-ECHO only.

Each association is one :class:`Reception`: every instance received is written as it arrives, without being
decoded again, to a private folder (mode 0700) in UPLOAD_ROOT, the storage the Celery workers share. When the
association ends (released, aborted, or the connection lost) that folder becomes one import job
(:func:`~studies.services.dicom_import.import_job_create`): the same validation, de-identification, import and
per-file report as an upload, and the folder is removed when the job ends. Instances refused on arrival (not
readable, not the instance the command announced) get a failure status and a line in the job's report; after an
abort the report says so. Nothing identified stays behind: an association that received nothing leaves nothing.
No handler ever raises into pynetdicom: a failure is a status, a log line and a report line.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection

from studies import job_messages as msg
from studies.models import DicomReceiver, Study

log = logging.getLogger("studies.dicom_listener")

#: C-STORE statuses (PS3.4 Annex B.2.3, PS3.7 Annex C).
SUCCESS = 0x0000
CANNOT_UNDERSTAND = 0xC000
DATASET_MISMATCH = 0xA900
NOT_AUTHORISED = 0x0124
OUT_OF_RESOURCES = 0xA700
#: Prefix of the folders receptions write to (in UPLOAD_ROOT; the import sweep removes old leftovers).
FOLDER_PREFIX = "dicom-received-"


def listener_settings() -> dict:
    """Host, port and own AE title: settings DICOM_LISTENER_* or the environment (VBQ_DICOM_HOST, VBQ_DICOM_PORT,
    VBQ_DICOM_AE_TITLE); defaults 0.0.0.0, 11112 (the registered DICOM port), VBQ."""
    env = os.environ
    return {
        "host": getattr(settings, "DICOM_LISTENER_HOST", env.get("VBQ_DICOM_HOST", "0.0.0.0")),
        "port": int(getattr(settings, "DICOM_LISTENER_PORT", env.get("VBQ_DICOM_PORT", "11112"))),
        "ae_title": getattr(settings, "DICOM_LISTENER_AE_TITLE", env.get("VBQ_DICOM_AE_TITLE", "VBQ")),
    }


@dataclass
class Reception:
    """What one association sent: the study it goes to, the folder its files are written to, the refusals."""

    study_id: int | None
    ae_title: str
    calling: str
    folder: Path | None = None
    received: int = 0
    bytes: int = 0
    notes: list[dict] = field(default_factory=list)
    ended: str = ""  # "released", "aborted", "closed"
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def store(self, encoded: bytes, sop_instance_uid: str) -> int:
        """Write one received instance (its encoded bytes with file meta); return the C-STORE status."""
        from pydicom import dcmread  # here, not at module level: the web pages import this module (issue #20 point 4)

        number = self.received + len(self.notes) + 1
        if self.study_id is None:
            self.note(number, "not_a_study", f"Sent to {self.ae_title}, which only answers C-ECHO: no study.")
            return NOT_AUTHORISED
        try:
            ds = dcmread(io.BytesIO(encoded), stop_before_pixels=True)
            uid = str(ds.get("SOPInstanceUID", ""))
            series, image = _int(ds.get("SeriesNumber")), _int(ds.get("InstanceNumber"))
        except Exception as exc:  # any decoding error: the file is refused, the association goes on
            self.note(
                number,
                "unreadable",
                f"The image sent could not be read as DICOM ({exc.__class__.__name__}): not received.",
            )
            return CANNOT_UNDERSTAND
        if uid != sop_instance_uid.strip():
            self.note(
                number,
                "instance_mismatch",
                "The image's SOP Instance UID differs from the one the sender announced: not received.",
            )
            return DATASET_MISMATCH
        name = f"{number:06d}" + (f"-series{series}" if series is not None else "")
        name += (f"-image{image}" if image is not None else "") + ".dcm"
        try:
            if self.folder is None:
                self.folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=_uploads_dir()))  # mode 0700
            with open(self.folder / name, "xb") as out:
                out.write(encoded)
        except OSError as exc:
            log.error("cannot write a received image to %s: %s", self.folder, exc)
            self.note(number, "not_written", msg.REASON_NOT_WRITTEN % {"error": exc.strerror or exc})
            return OUT_OF_RESOURCES
        self.received += 1
        self.bytes += len(encoded)
        return SUCCESS

    def note(self, number: int, code: str, reason: str) -> None:
        row = {"file": f"{number:06d} (refused on arrival)", "outcome": "rejected", "code": code, "reason": reason}
        self.notes.append(row)

    def finish(self) -> int | None:
        """Turn what was received into one import job (once); return its id, or None when there is nothing."""
        with self.lock:
            if self.finished:
                return None
            self.finished = True
        try:
            return self._finish()
        except Exception:
            log.exception("the images received from %s could not be queued for import", self.calling)
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)  # nothing identified left behind
            return None
        finally:
            connection.close()  # this association's thread ends: its database connection with it

    def _finish(self) -> int | None:
        from vbqsite.queue import QueueUnavailable

        from .dicom_import import import_job_create

        if self.ended != "released" and (self.received or self.notes):
            self.notes.append(
                {
                    "file": "(association)",
                    "outcome": "rejected",
                    "code": "association_aborted",
                    "reason": (msg.REASON_ABORTED if self.ended == "aborted" else msg.REASON_LOST)
                    % {"node": self.calling, "n": self.received},
                }
            )
        if self.study_id is None or (self.folder is None and not self.notes):
            return None
        close_old_connections()
        study = Study.objects.get(pk=self.study_id)
        folder = self.folder
        if folder is None:  # every image was refused: an empty folder, so the job still reports them
            folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=_uploads_dir()))
        log.info(
            "%s → %s: %d image(s), %d refused, %s",
            self.calling,
            self.ae_title,
            self.received,
            len(self.notes),
            self.ended,
        )
        try:
            job = import_job_create(study=study, user=None, source=folder, report=self.notes)
        except QueueUnavailable as exc:  # the job is failed (Retry queues it again); its folder is kept for that
            return exc.job.pk if exc.job is not None else None
        except Exception:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return job.pk


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _uploads_dir() -> Path:
    from .dicom_import import uploads_dir

    return uploads_dir()


def study_for_ae_title(ae_title: str, own_title: str) -> tuple[bool, int | None]:
    """(known, study id) for a Called AE title: the listener's own title is known without a study."""
    title = ae_title.strip()
    if title == own_title.strip():
        return True, None
    close_old_connections()
    receiver = DicomReceiver.objects.filter(ae_title=title, study__locked=False).only("study_id").first()
    return (True, receiver.study_id) if receiver else (False, None)
