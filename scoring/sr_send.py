"""Send the DICOM SRs of submitted reads back to a PACS (issue #19 point 4, optional part): STOW-RS to one of the
study's registered DICOMweb servers (``studies.DicomWebServer``, with its stored credentials; the same client as
the DICOMweb pull, :func:`studies.services.dicomweb_pull.client_for`).

The documents are the PI's (:class:`scoring.sr_export.SrBuilder`: every statistic and the scores), sent in batches
of :data:`BATCH` per request. Reads without an SR (still being scored, image missing) are listed with the reason
and not sent; a server that is down, refuses the credentials or answers an error stops the send with a clear
message (what was already stored stays stored: STOW-RS stores each instance on its own, and sending again stores
the same SOP Instance UIDs again, which a PACS treats as the same documents). Each send is in the audit log.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pydicom
import requests
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from scoring import sr_export
from studies.models import Case, DicomWebServer, Read, Study
from studies.services.audit import audit_log
from studies.services.dicomweb_pull import client_for, server_error

# What a failing server raises through dicomweb-client (HTTP errors, no answer, an answer that is not DICOMweb).
_NETWORK_ERRORS = (requests.RequestException, ValueError, KeyError, TypeError)

#: SR documents per STOW-RS request (each is some 10–20 kB).
BATCH = 25
#: Most reads one request sends (a web request must end in reasonable time): beyond, send per case or import the
#: study's zip into the PACS.
MAX_READS = 500


@dataclass
class SendResult:
    server: str
    sent: list[dict] = field(default_factory=list)
    not_sent: list[dict] = field(default_factory=list)


def _row(read: Read, **extra) -> dict:
    return {
        "read": read.pk,
        "subject_code": read.case.subject_code,
        "reader": read.reader.get_username(),
        "read_number": read.read_number,
        **extra,
    }


def sr_send(*, study: Study, server: DicomWebServer, reads: list[Read], user) -> SendResult:
    """STOW-RS the SRs of ``reads`` (submitted reads of ``study``) to ``server``.

    Raises :class:`django.core.exceptions.ValidationError` with a message for the PI when there is nothing to
    send, too much for one request, or the server cannot be used.
    """
    if not reads:
        raise ValidationError(_("No read here has been submitted yet: there is no DICOM SR to send."))
    if len(reads) > MAX_READS:
        raise ValidationError(
            _(
                "%(n)s reads are more than one send takes (%(max)s): send case by case, or import the study's SR "
                "zip into the PACS."
            )
            % {"n": f"{len(reads):,}", "max": f"{MAX_READS:,}"}
        )
    builder = sr_export.SrBuilder(reads)
    result = SendResult(server=server.name)
    ready: list[tuple[Read, sr_export.SrFile]] = []
    for read in reads:
        try:
            ready.append((read, builder.build(read)))
        except sr_export.SrUnavailable as exc:
            result.not_sent.append(_row(read, reason=str(exc)))
    client = client_for(server)
    try:
        for start in range(0, len(ready), BATCH):
            batch = ready[start : start + BATCH]
            answer = client.store_instances([pydicom.dcmread(io.BytesIO(sr.data)) for _read, sr in batch])
            failed = {str(item.ReferencedSOPInstanceUID) for item in answer.get("FailedSOPSequence", [])}
            for read, sr in batch:
                if sr.sop_instance_uid in failed:
                    refused = _("%(server)s refused to store it.") % {"server": server.name}
                    result.not_sent.append(_row(read, reason=refused))
                else:
                    result.sent.append(_row(read, sr_sop_instance_uid=sr.sop_instance_uid))
    except _NETWORK_ERRORS as exc:
        message = server_error(server.name, server.url, exc)
        if result.sent:
            message += " " + _("%(n)s SR(s) were stored before the error.") % {"n": len(result.sent)}
        raise ValidationError(message) from exc
    finally:
        if result.sent:
            audit_log(
                study=study,
                user=user,
                action="sr.send",
                obj=server,
                data={"server": server.name, "sent": len(result.sent), "not_sent": len(result.not_sent)},
            )
    return result


def sr_send_scope(
    *, study: Study, server: DicomWebServer, user, case: Case | None = None, read: Read | None = None
) -> SendResult:
    """STOW-RS the SRs of the study's submitted reads — all of them, one case's (``case``) or one read (``read``) —
    to ``server``: the one scope rule of the API (``POST /api/studies/{id}/sr/send/``) and the Hospital DICOM page.

    Raises :class:`scoring.sr_export.SrUnavailable` when ``read`` is not submitted, and what :func:`sr_send`
    raises.
    """
    filters = {"study": study, "status": Read.Status.SUBMITTED}
    if read is not None:
        if read.status != Read.Status.SUBMITTED:
            raise sr_export.SrUnavailable(sr_export.not_submitted(read))
        filters["pk"] = read.pk
    if case is not None:
        filters["case"] = case
    return sr_send(study=study, server=server, reads=sr_export.reads_for_sr(**filters), user=user)
