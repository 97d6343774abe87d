"""The upload part of a PI page that imports a CSV (reference data, subject codes), defined once.

The form posts the file as ``file``; its problems are shown with ``templates/studies/_csv_rejected.html``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy

from studies.services.csv_upload import CsvRejected, RowError

T = TypeVar("T")

TOO_LARGE = gettext_lazy("The file is larger than %(mb)d MB; is it the right one?")


def csv_upload(
    request, *, max_bytes: int, no_file: str, store: Callable[[bytes, str], T]
) -> tuple[T | None, list[RowError], str]:
    """Hand a posted file to ``store(file_bytes, filename)``: its result (None when nothing was stored, and for
    a GET), the file's problems (for the page's table) and the file name.

    A missing file (``no_file`` says what to choose), one larger than ``max_bytes`` and a locked study are told
    as messages; the file's own problems are returned, for the table.
    """
    if request.method != "POST":
        return None, [], ""
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, no_file)
        return None, [], ""
    if upload.size > max_bytes:
        messages.error(request, TOO_LARGE % {"mb": max_bytes // 1024**2})
        return None, [], ""
    filename = upload.name or ""
    try:
        return store(upload.read(), filename), [], filename
    except CsvRejected as exc:
        return None, exc.errors, filename
    except ValidationError as exc:  # a locked study
        messages.error(request, " ".join(exc.messages))
        return None, [], filename
