"""The per-file reasons of an import report in the page's language (issue #18 point 7).

The import stores each file's ``code`` (stable, English, see :data:`studies.dicom.validate.REJECTION_CODES`) and
its ``reason`` sentence in English; :mod:`studies.dicom.validate` stays free of Django, so the translation happens
here, when a page shows the report: the code's title is translated, and so is the sentence when it is one of the
fixed ones. A sentence carrying the file's own values (a transfer syntax UID, a byte count…) has no catalogue
entry: it is shown as stored, as the technical detail under the translated title.
"""

from __future__ import annotations

from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from studies.job_messages import message_shown

#: Titles of :data:`studies.dicom.validate.REJECTION_CODES` (the same keys; a test checks they match).
CODE_TITLES = {
    "empty_file": _("Empty file"),
    "unreadable": _("File could not be read"),
    "not_dicom": _("Not a DICOM file"),
    "dicomdir": _("DICOMDIR index file (skipped)"),
    "truncated": _("Truncated or damaged file"),
    "no_pixel_data": _("No image in the file"),
    "non_mr_modality": _("Not an MR image"),
    "multi_frame": _("Multi-frame file"),
    "inconsistent_frames": _("Inconsistent multi-frame file"),
    "unsupported_photometric": _("Colour or unsupported photometric interpretation"),
    "unsupported_pixel_format": _("Unsupported pixel format"),
    "unknown_transfer_syntax": _("Unknown transfer syntax"),
    "codec_missing": _("No decoder for the compression"),
    "corrupt_pixel_data": _("Image data could not be decoded"),
    "decoder_crashed": _("Image data crashed the decoder"),
    "missing_uids": _("Missing identifiers"),
    "missing_geometry": _("Missing image geometry"),
    "duplicate_sop_instance": _("Duplicate image"),
    "inconsistent_geometry": _("Inconsistent geometry within the series"),
}

#: The fixed reason sentences of :mod:`studies.dicom.validate`, so that gettext finds them (makemessages reads
#: this module, not the Django-free one).
FIXED_REASONS = (
    _("The file is empty (0 bytes)."),
    _(
        "This is not a DICOM file (no DICOM header could be found); upload the DICOM images exported from the "
        "scanner or PACS, not screenshots, PDFs or other documents."
    ),
    _("A DICOMDIR is only an index of the other files; it was skipped."),
    _(
        "The file describes an image but holds no pixel data; it may have been cut short during "
        "copying. Upload the original file again."
    ),
    _("The file holds no image (no Pixel Data); it is probably a report or another document."),
    _("The image's pixel format is not supported (integer pixels of 8 or 16 bits with Rows and Columns are required)."),
    _("The DICOM file header is incomplete or damaged; upload the original file again."),
)

OUTCOMES = {
    "accepted": pgettext_lazy("import outcome", "accepted"),
    "rejected": pgettext_lazy("import outcome", "rejected"),
    "skipped": pgettext_lazy("import outcome", "skipped"),
}


def report_row_for_page(row: dict) -> dict:
    """One report row with ``outcome_label``, ``title`` (translated title of the code, "" when unknown) and
    ``detail`` (the reason translated when it is a fixed sentence or one of :mod:`studies.job_messages`, values and
    all; else as stored)."""
    reason = row.get("reason") or ""
    translated = (message_shown(reason) or reason) if reason else ""
    title = CODE_TITLES.get(row.get("code", ""), "")
    return {
        **row,
        "outcome_label": OUTCOMES.get(row.get("outcome", ""), row.get("outcome", "")),
        "title": title,
        "detail": translated,
        # the page is not English and the sentence stayed English: the template marks it lang="en"
        "detail_translated": translated != reason or (get_language() or "en").startswith("en"),
    }
