"""The retrieving half of a DICOMweb pull (#19): WADO-RS into the job's private folder, before it is imported.

A pull job's source is a folder in UPLOAD_ROOT holding a hidden request file (:data:`REQUEST_NAME`: the server and
the studies/series the PI picked). When the job runs, :func:`fetch_pending` retrieves every picked series into that
folder and removes the request; the job then imports the folder like any upload (same validation, de-identification
and per-file report) and removes it. Nothing but the job's own folder ever holds the identified files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

#: The pull request inside a job's folder (hidden: the import lists no hidden files).
REQUEST_NAME = ".dicomweb-pull.json"


def fetch_pending(folder: Path, progress: Callable[[int, int], None] | None = None) -> int:
    """Retrieve what the pull request in ``folder`` asks for (nothing when there is none); return the count of
    instances written. Raises ValidationError with a clear message when the server cannot be reached or answers
    an error."""
    request = Path(folder) / REQUEST_NAME
    if not request.is_file():
        return 0
    from .dicomweb_pull import retrieve_request  # requests and dicomweb-client only when a pull runs

    return retrieve_request(request, progress)
