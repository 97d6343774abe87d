"""DICOMweb pull (#19 point 2): a study's PI searches a registered DICOMweb server (QIDO-RS) and pulls studies or
series (WADO-RS) into the study as one import job, through the same import as an upload.

The server's password or token is stored encrypted (Fernet with ``VBQ_MAPPING_KEY``, the key that already protects
the PI's subject mapping: :func:`studies.services.subject_keys.mapping_fernet`) and never shown again. Search results
are the PACS's own, identified, data: they are shown to the PI who searched and never stored (the audit log keeps
the count only). A pull writes a request file into a private folder in UPLOAD_ROOT and queues an import job for that
folder; the job retrieves the images (:func:`retrieve_request`, called by :mod:`studies.services.dicomweb_fetch`)
and imports them. A server that is down or answers an error gives a clear message (a form error, or the job's
error), never a server error. Client: dicomweb-client 0.61 (``DICOMwebClient``; search_for_studies,
search_for_series, iter_series, iter_study).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import requests
from cryptography.fernet import InvalidToken
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import override

from studies import job_messages as msg
from studies.models import DicomWebServer, ImportJob, Study

from .audit import audit_log
from .dicomweb_fetch import REQUEST_NAME
from .remote_urls import AddressRefused, guarded_session, url_refusal
from .subject_keys import mapping_fernet

#: Seconds to wait for the server to connect and to answer each request.
TIMEOUT = (10, 60)
#: Most studies a search lists (the PI narrows the search for more).
MAX_RESULTS = 50
#: Prefix of a pull job's folder in UPLOAD_ROOT.
FOLDER_PREFIX = "dicomweb-pull-"


# --------------------------------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------------------------------


def encrypt_secret(secret: str) -> str:
    if not secret:
        return ""
    try:
        return mapping_fernet().encrypt(secret.encode()).decode()
    except ImproperlyConfigured as exc:
        raise ValidationError(
            _(
                "The server cannot store a password or token: VBQ_MAPPING_KEY, the key that encrypts it, is not set. "
                "Ask the administrator to set it."
            )
        ) from exc


def _secret(server: DicomWebServer) -> str:
    if not server.secret_encrypted:
        return ""
    try:
        return mapping_fernet().decrypt(server.secret_encrypted.encode()).decode()
    except (InvalidToken, ImproperlyConfigured) as exc:
        raise ValidationError(
            _(
                "The stored password or token of %(server)s cannot be read with the current VBQ_MAPPING_KEY: "
                "enter it again."
            )
            % {"server": server.name}
        ) from exc


def client_for(server: DicomWebServer):
    """A DICOMweb client for ``server`` with its credentials (HTTP Basic or a bearer token).

    Raises ValidationError, before any request, when the server's address is refused by
    :mod:`studies.services.remote_urls` (its URL, or the allow-list, may have changed since it was registered);
    every request and redirect of the client is checked again when it connects."""
    from dicomweb_client.api import DICOMwebClient

    problem = url_refusal(server.url)
    if problem:
        raise ValidationError(refused_message(server.name, problem))
    session = guarded_session()
    headers = {}
    if server.auth == DicomWebServer.Auth.BASIC:
        session.auth = (server.username, _secret(server))
    elif server.auth == DicomWebServer.Auth.TOKEN:
        headers["Authorization"] = f"Bearer {_secret(server)}"
    client = DICOMwebClient(server.url.rstrip("/"), session=session, headers=headers, timeout=TIMEOUT)
    # its default retries every failed request 5 times with exponential back-off (30 s for a server that is down,
    # see dicomweb_client.web.DICOMwebClient.set_http_retry_params): the PI is told at once instead
    client.set_http_retry_params(retry=False)
    return client


def refused_message(server_name: str, problem: str) -> str:
    """What to tell the PI when the address of ``server_name`` is refused (``problem``: the policy's reason)."""
    return _(msg.PULL_REFUSED) % {"server": server_name, "problem": problem}


def server_error(server_name: str, url: str, exc: Exception) -> str:
    """What to tell the PI when the server could not be used (never the exception's raw text alone)."""
    if isinstance(exc, AddressRefused):  # a redirect, or a name that now resolves elsewhere
        return refused_message(server_name, str(exc))
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        if code in (401, 403):
            return _(msg.PULL_AUTH) % {"server": server_name, "code": code}
        if code == 404:
            return _(msg.PULL_NOT_FOUND) % {"server": server_name, "url": url}
        return _(msg.PULL_HTTP_ERROR) % {
            "server": server_name,
            "code": code,
        }
    if isinstance(exc, requests.Timeout):
        return _(msg.PULL_TIMEOUT) % {"server": server_name, "url": url}
    if isinstance(exc, requests.ConnectionError):
        return _(msg.PULL_UNREACHABLE) % {"server": server_name, "url": url}
    if isinstance(exc, ValueError | KeyError | TypeError):
        return _(msg.PULL_NOT_DICOMWEB) % {
            "server": server_name,
            "url": url,
        }
    return _(msg.PULL_OTHER) % {"server": server_name, "error": exc.__class__.__name__}


_NETWORK_ERRORS = (requests.RequestException, ValueError, KeyError, TypeError)


# --------------------------------------------------------------------------------------------------------------
# Search (QIDO-RS)
# --------------------------------------------------------------------------------------------------------------


def _value(item: dict, tag: str) -> str:
    values = item.get(tag, {}).get("Value") or []
    if not values:
        return ""
    value = values[0]
    if isinstance(value, dict):  # PN: {"Alphabetic": "Doe^John"}
        return str(value.get("Alphabetic", "")).replace("^", " ").strip()
    return str(value)


def _date_range(date_from: str, date_to: str) -> str:
    """A DICOM date range (PS3.4 C.2.2.2.5) from ISO dates (either may be empty)."""
    start, end = (d.replace("-", "") for d in (date_from or "", date_to or ""))
    if start and end and start == end:
        return start
    return f"{start}-{end}" if start or end else ""


def search(
    *,
    server: DicomWebServer,
    user,
    patient_id: str = "",
    accession_number: str = "",
    date_from: str = "",
    date_to: str = "",
) -> list[dict]:
    """Studies on ``server`` matching the filters, each with its series (identified: for the PI's eyes only, never
    stored). At least one filter is required. Raises ValidationError with what to do when the server fails."""
    filters = {}
    if patient_id.strip():
        filters["PatientID"] = patient_id.strip()
    if accession_number.strip():
        filters["AccessionNumber"] = accession_number.strip()
    dates = _date_range(date_from, date_to)
    if dates:
        filters["StudyDate"] = dates
    if not filters:
        raise ValidationError(_("Enter a Patient ID, an Accession Number or a study date to search."))
    client = client_for(server)
    try:
        found = client.search_for_studies(search_filters=filters, limit=MAX_RESULTS) or []
        studies = []
        for item in found:
            uid = _value(item, "0020000D")
            if not uid:
                continue
            series = [
                {
                    "series_instance_uid": _value(s, "0020000E"),
                    "modality": _value(s, "00080060"),
                    "series_number": _value(s, "00200011"),
                    "description": _value(s, "0008103E"),
                    "instances": _value(s, "00201209"),
                }
                for s in client.search_for_series(study_instance_uid=uid) or []
                if _value(s, "0020000E")
            ]
            series.sort(key=lambda s: int(s["series_number"]) if s["series_number"].lstrip("-").isdigit() else 0)
            studies.append(
                {
                    "study_instance_uid": uid,
                    "patient_name": _value(item, "00100010"),
                    "patient_id": _value(item, "00100020"),
                    "study_date": _value(item, "00080020"),
                    "accession_number": _value(item, "00080050"),
                    "description": _value(item, "00081030"),
                    "modalities": ", ".join(
                        v for v in (item.get("00080061", {}).get("Value") or []) if isinstance(v, str)
                    ),
                    "series": series,
                }
            )
    except _NETWORK_ERRORS as exc:
        raise ValidationError(server_error(server.name, server.url, exc)) from exc
    audit_log(
        study=server.study,
        user=user,
        action="dicomweb.search",
        obj=server,
        data={"filters": sorted(filters), "studies": len(studies)},  # which filters, never their values
    )
    return studies


# --------------------------------------------------------------------------------------------------------------
# Pull (a job; WADO-RS when it runs)
# --------------------------------------------------------------------------------------------------------------


def pull_create(*, study: Study, server: DicomWebServer, picks: list[dict], user) -> ImportJob:
    """Queue an import job that retrieves ``picks`` (``{"study_instance_uid", "series_instance_uid" or ""}``: a
    whole study, or one series) from ``server``. Raises ValidationError for an empty or malformed pick list, and
    :class:`vbqsite.queue.QueueUnavailable` when the broker refuses the job."""
    from .dicom_import import import_job_create, uploads_dir

    if server.study_id != study.pk:
        raise ValidationError(_("This DICOMweb server belongs to another study."))
    items = []
    for pick in picks:
        study_uid = str(pick.get("study_instance_uid") or "").strip()
        series_uid = str(pick.get("series_instance_uid") or "").strip()
        if not study_uid or len(study_uid) > 64 or len(series_uid) > 64:
            raise ValidationError(_("Each pick needs the Study Instance UID (and optionally a Series Instance UID)."))
        items.append({"study": study_uid, "series": series_uid})
    if not items:
        raise ValidationError(_("Pick at least one study or series to pull."))
    if study.locked:
        raise ValidationError(_("This study is locked: no more images can be imported."))
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=uploads_dir()))  # mode 0700
    (folder / REQUEST_NAME).write_text(json.dumps({"server": server.pk, "items": items}))
    try:
        job = import_job_create(study=study, user=user, source=folder)
    except ValidationError:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise
    audit_log(study=study, user=user, action="dicomweb.pull", obj=job, data={"server": server.pk, "items": len(items)})
    return job


def retrieve_request(request: Path, progress: Callable[[int, int], None] | None = None) -> int:
    """Retrieve every item of a pull request into its folder (WADO-RS), then remove the request; return the
    number of instances written. Raises ValidationError (the job's error, in English: the import page shows it
    translated, :func:`studies.job_messages.import_error_shown`) when the server fails."""
    with override("en"):
        return _retrieve(request, progress)


def _retrieve(request: Path, progress: Callable[[int, int], None] | None) -> int:
    from pydicom import dcmwrite  # here, not at module level: the web pages import this module (issue #20 point 4)

    spec = json.loads(request.read_text())
    server = DicomWebServer.objects.filter(pk=spec.get("server")).first()
    if server is None:
        raise ValidationError(msg.PULL_SERVER_GONE)
    client = client_for(server)
    folder = request.parent
    items = spec.get("items") or []
    written = 0
    for done, item in enumerate(items):
        if progress is not None:
            progress(done, len(items))
        try:
            if item.get("series"):
                datasets = client.iter_series(study_instance_uid=item["study"], series_instance_uid=item["series"])
            else:
                datasets = client.iter_study(study_instance_uid=item["study"])
            for ds in datasets:
                written += 1
                dcmwrite(folder / f"{done + 1:03d}-{written:06d}.dcm", ds, enforce_file_format=True)
                if progress is not None:
                    progress(done, len(items))  # the job's heartbeat (written at most once a second)
        except _NETWORK_ERRORS as exc:
            raise ValidationError(
                msg.PULL_NOTHING_IMPORTED % {"message": server_error(server.name, server.url, exc)}
            ) from exc
    request.unlink()
    if written == 0:
        raise ValidationError(msg.PULL_NO_IMAGES % {"server": server.name})
    return written
