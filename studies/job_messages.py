"""The errors an import job stores (and the reasons of its report), in English, and the same in the page's language.

A job's ``error`` is written by the worker in English and kept so (exports, the audit trail and the API read it as
stored). The sentences carrying values (a file name, a size, a server's name) are defined here once, as message
ids with ``%(name)s`` placeholders: the worker fills them in English, and :func:`import_error_shown` recognises a
stored sentence by its message id and shows it translated with the same values. Sentences of the DICOMweb pull
(:mod:`studies.services.dicomweb_pull`) are recognised the same way.
"""

from __future__ import annotations

import re
from functools import cache

from django.utils.translation import gettext, gettext_noop

# -- zip extraction (studies.services.import_files) --------------------------------------------------------------
ZIP_INVALID = gettext_noop("The upload is not a valid zip file (it may be cut short or damaged).")
ZIP_EMPTY = gettext_noop("No files found in the archive.")
ZIP_TOO_MANY_FILES = gettext_noop("The archive holds more than %(max)s files (%(n)s); import it in several parts.")
ZIP_LINK = gettext_noop("The zip contains a link (%(name)s): links are not accepted in an archive.")
ZIP_UNSAFE_PATH = gettext_noop("The zip contains an unsafe path: %(name)s.")
ZIP_TOO_LARGE = gettext_noop(
    "The archive expands to more than %(size)s; import it in several parts (the limit is IMPORT_ZIP_MAX_BYTES)."
)
ZIP_RATIO = gettext_noop(
    "A member of the archive (%(name)s) is compressed more than %(ratio)s:1, which is how zip bombs look; it was "
    "not extracted."
)
ZIP_DAMAGED = gettext_noop("The zip is damaged: %(name)s cannot be extracted (%(error)s). Create the zip again.")
ZIP_UNSUPPORTED = gettext_noop("%(name)s cannot be extracted (%(error)s); use a plain, unencrypted zip.")
ZIP_CLASH = gettext_noop(
    "%(name)s cannot be extracted (%(error)s); the zip holds two entries at the same place or a name the server "
    "cannot use."
)
NOTHING_AT = gettext_noop("Nothing to import at %(source)s.")

# -- the job itself (studies.services.dicom_import) ---------------------------------------------------------------
IMPORT_STOPPED = gettext_noop(
    "The import stopped: %(error)s (the server may be short of memory). The series stored so far are kept; run "
    "the import again to add the rest."
)
IMPORT_INTERRUPTED = gettext_noop("The import was interrupted (the worker stopped); run it again.")
IMPORT_FAILED = gettext_noop("The import failed (%(error)s).")
BURNED_IN = gettext_noop("Burned-in annotation flagged in: %(series)s")

# -- DICOMweb pull (studies.services.dicomweb_pull) ---------------------------------------------------------------
PULL_REFUSED = gettext_noop("%(server)s was not contacted: %(problem)s")
PULL_AUTH = gettext_noop(
    "%(server)s refused the request (HTTP %(code)s): check the user name and password or the token."
)
PULL_NOT_FOUND = gettext_noop(
    "%(server)s answered 'not found' (HTTP 404): check the URL %(url)s — it is the DICOMweb base address, often "
    "ending in /dicom-web."
)
PULL_HTTP_ERROR = gettext_noop(
    "%(server)s answered with an error (HTTP %(code)s); try again later or ask its administrator."
)
PULL_TIMEOUT = gettext_noop("%(server)s did not answer in time (%(url)s); try again later.")
PULL_UNREACHABLE = gettext_noop(
    "%(server)s cannot be reached at %(url)s: check the address, and that the server is running and reachable "
    "from this server."
)
PULL_NOT_DICOMWEB = gettext_noop("%(server)s did not answer as a DICOMweb server (%(url)s): check the URL.")
PULL_OTHER = gettext_noop("%(server)s could not be used (%(error)s).")
PULL_NOTHING_IMPORTED = gettext_noop("%(message)s Nothing from this pull was imported.")
PULL_SERVER_GONE = gettext_noop("The DICOMweb server of this pull was removed from the study; nothing was pulled.")
PULL_NO_IMAGES = gettext_noop("%(server)s sent no images for the studies or series picked.")

# -- per-file reasons of the import report (studies.services.import_cases, dicom_import, dicom_listener) ----------
REASON_ALREADY_IMPORTED = gettext_noop("This image is already in the study; nothing changed.")
REASON_DUPLICATE = gettext_noop("The same image (SOP Instance UID) is also in %(other)s; this copy was ignored.")
REASON_SERIES_REJECTED = gettext_noop("Series rejected: %(problems)s")
REASON_CASE_CHANGED = gettext_noop(
    "The series could not be stored: %(error)s. Check the study's cases and import again."
)
REASON_STORE_FAILED = gettext_noop("The series could not be stored (%(error)s); try again.")
REASON_BURNED_IN = gettext_noop("Burned-in annotation flagged: check the image for visible identifiers.")
REASON_NOT_WRITTEN = gettext_noop("The server could not store the image (%(error)s).")
REASON_ABORTED = gettext_noop(
    "%(node)s aborted the association after %(n)s complete image(s): those are imported; an image being sent "
    "then, and any not yet sent, were not received — send the series again (images already imported are skipped)."
)
REASON_LOST = gettext_noop(
    "%(node)s lost the connection after %(n)s complete image(s): those are imported; an image being sent then, "
    "and any not yet sent, were not received — send the series again (images already imported are skipped)."
)

#: The messages with values, recognised in a stored error (the fixed ones are found by gettext directly).
WITH_VALUES = (
    ZIP_TOO_MANY_FILES,
    ZIP_LINK,
    ZIP_UNSAFE_PATH,
    ZIP_TOO_LARGE,
    ZIP_RATIO,
    ZIP_DAMAGED,
    ZIP_UNSUPPORTED,
    ZIP_CLASH,
    NOTHING_AT,
    IMPORT_STOPPED,
    IMPORT_FAILED,
    BURNED_IN,
    PULL_NOTHING_IMPORTED,  # before the others: its %(message)s is one of them
    PULL_REFUSED,
    PULL_AUTH,
    PULL_NOT_FOUND,
    PULL_HTTP_ERROR,
    PULL_TIMEOUT,
    PULL_UNREACHABLE,
    PULL_NOT_DICOMWEB,
    PULL_OTHER,
    PULL_NO_IMAGES,
    REASON_DUPLICATE,
    REASON_SERIES_REJECTED,
    REASON_CASE_CHANGED,
    REASON_STORE_FAILED,
    REASON_NOT_WRITTEN,
    REASON_ABORTED,
    REASON_LOST,
)
#: Values that are themselves stored sentences, translated in turn.
_NESTED = ("message", "problem", "problems")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@cache
def _pattern(message: str) -> re.Pattern:
    """``message`` as a regular expression matching the whole sentence, one named group per placeholder."""
    parts, seen, end = [], set(), 0
    for m in _PLACEHOLDER.finditer(message):
        parts.append(re.escape(message[end : m.start()]))
        name = m.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        end = m.end()
    parts.append(re.escape(message[end:]))
    return re.compile("".join(parts), re.DOTALL)


def message_shown(text: str) -> str | None:
    """``text``, a stored English sentence, in the active language; None when it is none of :data:`WITH_VALUES`
    and has no catalogue entry of its own."""
    for message in WITH_VALUES:
        m = _pattern(message).fullmatch(text)
        if m:
            values = m.groupdict()
            for name in _NESTED:
                if name in values:
                    values[name] = message_shown(values[name]) or values[name]
            return gettext(message) % values
    translated = gettext(text)
    return translated if translated != text else None


def import_error_shown(error: str) -> str:
    """An import job's stored error in the page's language (:func:`vbqsite.jobs.job_error_shown` for the rest)."""
    from vbqsite.jobs import job_error_shown

    return message_shown(error) or job_error_shown(error, "import")
