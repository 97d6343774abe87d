"""DICOM SR downloads of submitted reads (issue #19 point 4): gather each read's stored data for the pure builder
:mod:`scoring.dicom_sr`, one file per read, or many streamed as a zip.

What a document holds depends on who asks (blinding): the PI gets every ROI statistic and the read's scores
(VBQ, SNR, M-score); a reader asking for their own read gets the ROIs with only the statistics the study shows
readers (``Study.reader_roi_stats``) and no scores, as on their screen.

A read is written only when it is submitted and its stored measurements are current (every ROI measured at its
current version and the read's score computed from those): a download never mixes old and new values.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from pydicom.errors import InvalidDicomError

from scoring import dicom_sr
from scoring.services import _input_rows, _read_inputs  # the read score's own inputs and digest
from studies.models import Instance, Read, Roi, Study

log = logging.getLogger(__name__)

# Why a read has no SR, in English (marked for translation; gettext'd where raised, in the asker's language).
NOT_SUBMITTED = gettext_noop(
    "This read has not been submitted yet: its DICOM SR is written once the reader submits it (status: %(status)s)."
)
VOIDED = gettext_noop("This read was voided by the PI: it has no DICOM SR.")
SCORING = gettext_noop("This read's measurements are still being computed: try again in a minute.")
NOTHING = gettext_noop("No read here has been submitted yet: there is no DICOM SR to download.")

#: Statistics a reader may see per ``Study.reader_roi_stats`` value (the PI: all of them).
SHOWN = {
    Study.ReaderRoiStats.NONE: (),
    Study.ReaderRoiStats.QUALITY: ("n", "area_mm2"),
    Study.ReaderRoiStats.FULL: ("n", "area_mm2", "mean", "median", "sd"),
}


class SrUnavailable(Exception):
    """This read has no SR now; the message says why, for the person who asked."""


def not_submitted(read: Read) -> str:
    """Why ``read`` (not submitted) has no SR, in the active language."""
    return _(NOT_SUBMITTED) % {"status": read.get_status_display().lower()}


@dataclass(frozen=True)
class SrFile:
    name: str
    data: bytes
    sop_instance_uid: str


def _software_version() -> str:
    return str(settings.SPECTACULAR_SETTINGS.get("VERSION", "unknown"))


def safe_name(text: str) -> str:
    """A file-name part: letters, digits, dot, dash and underscore only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def sr_file_name(read: Read) -> str:
    return f"{safe_name(read.case.subject_code)}_{safe_name(read.reader.get_username())}_read{read.read_number}_sr.dcm"


class SrBuilder:
    """Writes the SRs of reads of one study: a constant number of queries for any number of reads, plus one
    header read per stored image file (cached).

    ``stats_shown``: which ROI statistics go in (a ``Study.ReaderRoiStats`` value: "full" for the PI);
    ``scores``: whether the read's VBQ / SNR / M-score go in (never for a reader).
    """

    def __init__(self, reads: list[Read], *, stats_shown: str = Study.ReaderRoiStats.FULL, scores: bool = True):
        ids = [r.pk for r in reads]
        self.stats = SHOWN[stats_shown]
        self.stats_shown = str(stats_shown)
        self.scores = scores
        self.rois: dict[int, list[Roi]] = {}
        for roi in Roi.objects.filter(read_id__in=ids).select_related("score").order_by("read_id", "label"):
            self.rois.setdefault(roi.read_id, []).append(roi)
        self.inputs: dict[int, list[tuple]] = {}
        for row in _input_rows(read_id__in=ids):
            self.inputs.setdefault(row[0], []).append(row)
        keys = {roi.sop_instance_uid for rois in self.rois.values() for roi in rois if roi.sop_instance_uid}
        self.instances = {i.sop_instance_uid: i for i in Instance.objects.filter(sop_instance_uid__in=keys)}
        self._headers: dict[str, object] = {}

    def _image(self, roi: Roi) -> dicom_sr.SrImage:
        instance = self.instances.get(roi.sop_instance_uid)
        if instance is None:
            raise SrUnavailable(_("The slice %(label)s was drawn on is no longer stored.") % {"label": roi.label})
        name = instance.file.name
        if name not in self._headers:
            try:
                with instance.file.open("rb") as fh:
                    self._headers[name] = dicom_sr.read_header(fh)
            except (OSError, InvalidDicomError, dicom_sr.SrError) as exc:
                message = _("The stored image %(label)s was drawn on cannot be read (%(error)s).") % {
                    "label": roi.label,
                    "error": exc,
                }
                self._headers[name] = SrUnavailable(message)
        header = self._headers[name]
        if isinstance(header, SrUnavailable):
            raise header
        return dicom_sr.SrImage(header=header, frame_number=instance.frame_number)

    def _check(self, read: Read) -> None:
        if read.status == Read.Status.VOIDED:
            raise SrUnavailable(_(VOIDED))
        if read.status != Read.Status.SUBMITTED:
            raise SrUnavailable(not_submitted(read))
        _inputs, digest, complete = _read_inputs(read, self.inputs.get(read.pk, []))
        score = getattr(read, "score", None)
        if not complete or score is None or score.inputs_digest != digest:
            raise SrUnavailable(_(SCORING))

    def sr_read(self, read: Read) -> dicom_sr.SrRead:
        """The plain data of one read for :func:`scoring.dicom_sr.read_sr` (raises :class:`SrUnavailable`)."""
        self._check(read)
        score = read.score
        reasons = dict(Roi.ExclusionReason.choices)
        rois, images = [], {}
        for roi in self.rois.get(read.pk, []):
            if roi.excluded:
                reason = reasons.get(roi.exclusion_reason, roi.exclusion_reason)
                reason = f"{reason} ({roi.exclusion_note})" if roi.exclusion_note else reason
                rois.append(dicom_sr.SrRoi(label=roi.label, excluded=True, exclusion_reason=reason))
                continue
            images[roi.sop_instance_uid] = self._image(roi)
            stats = getattr(roi, "score", None)
            values = {}
            if stats is not None and not stats.error:
                values = {k: getattr(stats, k) for k in self.stats}
            snr = (score.snr_levels or {}).get(roi.label) if self.scores else None
            rois.append(
                dicom_sr.SrRoi(
                    label=roi.label,
                    shape=roi.shape,
                    points_px=roi.points_px,
                    sop_instance_uid=roi.sop_instance_uid,
                    snr=snr,
                    **values,
                )
            )
        scores = dicom_sr.SrScores(vbq=score.vbq, snr=score.snr, m_score=score.m_score) if self.scores else None
        # The UIDs follow the content: the same read and values give the same document, any change a new one.
        content = repr((rois, scores, self.stats_shown, read.submitted_at.isoformat()))
        digest = hashlib.sha256(content.encode()).hexdigest()[:32]
        return dicom_sr.SrRead(
            subject_code=read.case.subject_code,
            observer=read.reader.get_username(),
            read_number=read.read_number,
            submitted_at=read.submitted_at,
            uid_seed=f"{read.study_id}:{read.case_id}|{read.pk}|{digest}",
            rois=rois,
            images=images,
            scores=scores,
            software_version=_software_version(),
        )

    def build(self, read: Read) -> SrFile:
        data = self.sr_read(read)
        try:
            sr = dicom_sr.read_sr(data)
        except dicom_sr.SrError as exc:
            raise SrUnavailable(str(exc)) from exc
        except (ValueError, TypeError) as exc:  # highdicom refused a value: one read, never a broken zip stream
            log.exception("DICOM SR of read %s could not be built", read.pk)
            raise SrUnavailable(_("This read could not be written as DICOM SR (%(error)s).") % {"error": exc}) from exc
        buffer = io.BytesIO()
        sr.save_as(buffer, enforce_file_format=True)
        return SrFile(name=sr_file_name(read), data=buffer.getvalue(), sop_instance_uid=str(sr.SOPInstanceUID))


def reads_for_sr(**filters) -> list[Read]:
    """Reads (with case, reader, study and score: no query per read) in a stable order."""
    return list(
        Read.objects.filter(**filters)
        .select_related("case", "reader", "study", "score")
        .order_by("case__subject_code", "reader__username", "read_number", "pk")
    )


# ----------------------------------------------------------------------------------------------------------------
# Zips, streamed
# ----------------------------------------------------------------------------------------------------------------

MANIFEST_COLUMNS = ("file", "subject_code", "reader", "read_number", "submitted_at", "sr_sop_instance_uid", "note")


class _Sink(io.RawIOBase):
    """A write-only stream whose bytes are taken out as they come (zipfile writes data descriptors to it)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


def _chunked(reads: Sequence[Read], size: int) -> Iterator[tuple[Read, SrBuilder]]:
    for start in range(0, len(reads), size):
        part = reads[start : start + size]
        builder = SrBuilder(part)
        for read in part:
            yield read, builder


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # same reads → same zip bytes
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


#: Reads whose ROIs and headers are loaded at once while streaming a zip: memory stays bounded whatever the size of
#: the study (a few queries per chunk).
CHUNK = 200


def sr_zip_stream(reads: Sequence[Read], *, folders: bool = False, chunk: int = CHUNK) -> Iterator[bytes]:
    """A zip of the PI's SRs of ``reads``, produced file by file (one SR in memory at a time; ROIs and image
    headers loaded ``chunk`` reads at a time), with ``manifest.csv`` listing every read: its file, or why it has
    none (not submitted, still being scored, image missing).

    ``folders``: one folder per subject code (the whole-study zip).
    """
    sink = _Sink()
    manifest = io.StringIO()
    rows = csv.writer(manifest, lineterminator="\n")
    rows.writerow(MANIFEST_COLUMNS)
    with zipfile.ZipFile(sink, "w") as archive:
        for read, builder in _chunked(reads, chunk):
            row = [read.case.subject_code, read.reader.get_username(), read.read_number]
            when = read.submitted_at.isoformat() if read.submitted_at else ""
            try:
                with translation.override("en"):  # manifest.csv is for programs: English, as every CSV export
                    sr = builder.build(read)
            except SrUnavailable as exc:
                rows.writerow(["", *row, when, "", str(exc)])
                continue
            name = f"{safe_name(read.case.subject_code)}/{sr.name}" if folders else sr.name
            with archive.open(_member(name), "w") as fh:
                fh.write(sr.data)
            rows.writerow([name, *row, when, sr.sop_instance_uid, ""])
            yield sink.take()
        with archive.open(_member("manifest.csv"), "w") as fh:
            fh.write(manifest.getvalue().encode("utf-8"))
    yield sink.take()
