"""Subject codes chosen by the PI: a CSV ``patient_id,subject_code`` uploaded before the images (issue #15).

The import gives each new patient the code assigned to their Patient ID here, else a random opaque code
(:mod:`studies.services.subject_codes`). Only the keyed digest of each Patient ID is stored
(:class:`~studies.models.SubjectCodeAssignment`, the digest :attr:`Case.patient_digest` holds), never the ID.

Every row is checked before anything is written (as :mod:`studies.services.reference_csv` does, with the file
conventions of :mod:`studies.services.csv_upload`: UTF-8, comma or semicolon, ``#`` comment lines); any problem
rejects the whole file with its line, column and reason. A valid file replaces all earlier assignments of the
study, in one transaction, and leaves one audit entry (counts, file name, SHA-256 — never IDs or codes).

Rules
-----
- Columns ``patient_id`` and ``subject_code`` (required), ``patient_name`` (optional: only to check that no code
  is the patient's name; never stored). Any other column is refused (the file must not carry more identity).
- A code matches :data:`CODE_PATTERN`: 3–16 ASCII letters, digits or dashes, starting with a letter or digit.
  Codes are compared without regard to case: ``s-7k2q`` and ``S-7K2Q`` are the same code.
- Refused: an empty file; a missing or repeated Patient ID; a missing, malformed or repeated code; a code that
  is a Patient ID or Patient Name of the file (any row) or the Patient ID of a subject already imported (through
  the keyed digest; names are never kept, so only the file's own names can be compared); a code another subject
  of the study already has.
- A Patient ID already in the study keeps its code: its row must give that same code (then nothing changes);
  codes of imported subjects change only by re-keying (:mod:`studies.services.subject_rekey`).
- Patients not imported yet: allowed while the study has no cases (the usual case: codes first, then images).
  Once it has cases, a Patient ID that matches none is refused as a likely typo or wrong study, unless the
  upload says more patients are still to be imported (``new_patients``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

from django.db import transaction
from django.utils.translation import gettext, gettext_noop

from studies.models import Case, Study, SubjectCodeAssignment

from . import csv_upload
from .audit import audit_log
from .csv_upload import CsvRejected, RowError
from .import_cases import patient_digest
from .membership import StudyLocked
from .reference_csv import ReferenceImportError

__all__ = [
    "CODE_PATTERN",
    "CODE_RULE",
    "MAX_FILE_BYTES",
    "CodeAssignmentResult",
    "SubjectCodeImportError",
    "subject_codes_import",
    "subject_codes_parse",
]

#: A subject code the PI may choose: 3–16 ASCII letters, digits or dashes, starting with a letter or digit.
CODE_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{2,15}")
CODE_RULE: Final = gettext_noop("3–16 letters (A–Z), digits or dashes, starting with a letter or digit")
COLUMNS: Final = ("patient_id", "subject_code", "patient_name")
REQUIRED: Final = ("patient_id", "subject_code")
ALIASES: Final = {
    "patientid": "patient_id",
    "patient": "patient_id",
    "mrn": "patient_id",
    "code": "subject_code",
    "subject": "subject_code",
    "subject_id": "subject_code",
    "patientname": "patient_name",
    "name": "patient_name",
}
MAX_PATIENT_ID: Final = 64  # a DICOM LO value
MAX_FILE_BYTES: Final = 2 * 1024 * 1024


class SubjectCodeImportError(ReferenceImportError):
    """The codes file was rejected; nothing was stored. ``errors`` lists every problem, in file order."""


@dataclass(frozen=True)
class _Row:
    line: int
    digest: str
    code: str
    matched: bool  # the patient is already in the study, with this code


@dataclass(frozen=True)
class CodeAssignmentResult:
    rows: int  # rows in the file
    pending: int  # codes waiting for patients not imported yet
    matched: int  # rows of patients already in the study (their code unchanged)
    replaced: int  # earlier assignments removed
    sha256: str
    filename: str


def _header(header_line: int, header: list[str]) -> tuple[dict[str, int], list[RowError]]:
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        key = csv_upload.normalise_header(name, ALIASES)
        if not key:
            continue
        if key not in COLUMNS:
            errors.append(
                RowError(
                    header_line,
                    name.strip(),
                    gettext(
                        "unknown column: the file holds patient_id, subject_code and optionally patient_name only."
                    ),
                )
            )
        elif key in seen:
            errors.append(RowError(header_line, name.strip(), gettext("the column appears twice.")))
        else:
            seen[key] = index
    return seen, errors + csv_upload.missing_columns(header_line, seen, REQUIRED)


def _name_parts(name: str) -> set[str]:
    """The name and its components (DICOM PN ``FAMILY^GIVEN``, or words), folded for comparison."""
    parts = {name.casefold()} | {p.casefold() for p in re.split(r"[\^=\s,]+", name) if len(p) >= 3}
    return {p for p in parts if p}


def subject_codes_parse(*, study: Study, text: str, new_patients: bool = False) -> list[_Row]:
    """Check every row of ``text``; raise :class:`SubjectCodeImportError` listing all problems. Writes nothing."""
    file_records = csv_upload.records(text, csv_upload.detect_delimiter(text))
    header_line, header = csv_upload.first_record(file_records)
    if header is None:
        raise SubjectCodeImportError(
            [
                RowError(
                    0,
                    "",
                    gettext("the file is empty: it needs the header patient_id,subject_code and one line per patient."),
                )
            ]
        )
    seen, errors = _header(header_line, header)
    data = []
    for line, cells in file_records:
        if csv_upload.is_skipped(cells):
            continue
        cells = cells + [""] * (len(header) - len(cells))
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            counts = {"values": len(cells), "columns": len(header)}
            errors.append(
                RowError(line, "", gettext("%(values)d values, but the header has %(columns)d columns.") % counts)
            )
            continue
        data.append((line, {key: cells[index].strip() for key, index in seen.items()}))
    if not data and not errors:
        errors.append(RowError(header_line, "", gettext("the file has a header but no data rows: nothing to assign.")))
    if errors:
        raise SubjectCodeImportError(errors)

    cases = list(Case.objects.filter(study=study).values_list("subject_code", "patient_digest"))
    case_by_digest = {digest: code for code, digest in cases if digest}
    case_codes = {code.casefold(): code for code, _ in cases}
    ids_in_file = {}
    for line, values in data:
        ids_in_file.setdefault(values.get("patient_id", "").casefold(), line)
    names_in_file: dict[str, int] = {}
    for line, values in data:
        for part in _name_parts(values.get("patient_name", "")):
            names_in_file.setdefault(part, line)

    rows: list[_Row] = []
    id_lines: dict[str, int] = {}
    code_lines: dict[str, int] = {}
    for line, values in data:
        row_errors: list[RowError] = []
        pid, code = values.get("patient_id", ""), values.get("subject_code", "")
        digest = ""
        if not pid:
            row_errors.append(RowError(line, "patient_id", gettext("missing: every row needs the Patient ID.")))
        elif len(pid) > MAX_PATIENT_ID or "\\" in pid:
            row_errors.append(
                RowError(
                    line,
                    "patient_id",
                    gettext("not a DICOM Patient ID (at most %(n)d characters, no \\).") % {"n": MAX_PATIENT_ID},
                )
            )
        elif pid in id_lines:
            row_errors.append(
                RowError(
                    line,
                    "patient_id",
                    gettext("duplicate: this Patient ID is already on line %(line)d.") % {"line": id_lines[pid]},
                )
            )
        else:
            id_lines[pid] = line
            digest = patient_digest(study, pid)

        folded = code.casefold()
        if not code:
            row_errors.append(RowError(line, "subject_code", gettext("missing: every row needs the subject code.")))
        elif not CODE_PATTERN.fullmatch(code):
            invalid = gettext("“%(code)s” is not a valid code: use %(rule)s.") % {
                "code": code,
                "rule": gettext(CODE_RULE),
            }
            row_errors.append(RowError(line, "subject_code", invalid))
        elif folded in code_lines:
            row_errors.append(
                RowError(
                    line,
                    "subject_code",
                    gettext("duplicate: “%(code)s” is already the code on line %(line)d.")
                    % {"code": code, "line": code_lines[folded]},
                )
            )
        elif folded in ids_in_file:
            row_errors.append(
                RowError(
                    line,
                    "subject_code",
                    gettext("“%(code)s” is a Patient ID (line %(line)d): a code must not identify the patient.")
                    % {"code": code, "line": ids_in_file[folded]},
                )
            )
        elif folded in names_in_file:
            row_errors.append(
                RowError(
                    line,
                    "subject_code",
                    gettext(
                        "“%(code)s” is (part of) a Patient Name (line %(line)d): a code must not identify the patient."
                    )
                    % {"code": code, "line": names_in_file[folded]},
                )
            )
        elif any(patient_digest(study, v) in case_by_digest for v in {code, code.upper(), code.lower()}):
            row_errors.append(
                RowError(
                    line,
                    "subject_code",
                    gettext(
                        "“%(code)s” is the Patient ID of a subject already imported: a code must not identify the "
                        "patient."
                    )
                    % {"code": code},
                )
            )
        else:
            code_lines[folded] = line

        matched = False
        if digest and not row_errors:
            current = case_by_digest.get(digest)
            if current is not None:
                if current != code:
                    row_errors.append(
                        RowError(
                            line,
                            "subject_code",
                            gettext(
                                "this patient is already in the study as “%(code)s”: the codes of imported subjects "
                                "change only by re-keying the study (before the reading plan)."
                            )
                            % {"code": current},
                        )
                    )
                matched = True
            elif folded in case_codes:
                row_errors.append(
                    RowError(
                        line,
                        "subject_code",
                        gettext("duplicate: “%(code)s” is already the code of another subject of this study.")
                        % {"code": case_codes[folded]},
                    )
                )
            elif cases and not new_patients:
                row_errors.append(
                    RowError(
                        line,
                        "patient_id",
                        gettext(
                            "unknown patient: no case of this study has this Patient ID (a typo, or another study?). "
                            "If this patient's images are still to be imported, say so (“patients still to be "
                            "imported”) and upload again."
                        ),
                    )
                )
        errors += row_errors
        if not row_errors:
            rows.append(_Row(line, digest, code, matched))
    if errors:
        raise SubjectCodeImportError(errors)
    return rows


def subject_codes_import(
    *, study: Study, file_bytes_or_text: bytes | str, user, filename: str = "", new_patients: bool = False
) -> CodeAssignmentResult:
    """Replace the study's code assignments with the rows of a CSV file — all rows or none.

    Raises :class:`SubjectCodeImportError` (a ``ValidationError``) listing every problem, or
    :class:`~studies.services.membership.StudyLocked`; in both cases nothing changes.
    """
    if study.locked:
        raise StudyLocked()
    raw = file_bytes_or_text.encode("utf-8") if isinstance(file_bytes_or_text, str) else bytes(file_bytes_or_text)
    if len(raw) > MAX_FILE_BYTES:
        raise SubjectCodeImportError(
            [
                RowError(
                    0,
                    "",
                    gettext("the file is larger than %(mb)d MB: is it the right one?")
                    % {"mb": MAX_FILE_BYTES // 1024**2},
                )
            ]
        )
    try:
        text, _ = csv_upload.decode(raw)
        with transaction.atomic():
            csv_upload.lock_unlocked_study(study)
            rows = subject_codes_parse(study=study, text=text, new_patients=new_patients)
            replaced, _ = SubjectCodeAssignment.objects.filter(study=study).delete()
            pending = [r for r in rows if not r.matched]
            SubjectCodeAssignment.objects.bulk_create(
                SubjectCodeAssignment(study=study, patient_digest=r.digest, subject_code=r.code) for r in pending
            )
            result = CodeAssignmentResult(
                rows=len(rows),
                pending=len(pending),
                matched=len(rows) - len(pending),
                replaced=replaced,
                sha256=hashlib.sha256(raw).hexdigest(),
                filename=filename,
            )
            audit_log(
                study=study,
                user=user,
                action="subject_codes.upload",
                obj=study,
                data={
                    "rows": result.rows,
                    "pending": result.pending,
                    "matched": result.matched,
                    "replaced": replaced,
                    "filename": filename,
                    "sha256": result.sha256,
                },
            )
    except CsvRejected as exc:
        if isinstance(exc, SubjectCodeImportError):
            raise
        raise SubjectCodeImportError(exc.errors) from None  # decoding / CSV syntax, from the shared helpers
    return result


def pending_codes(study: Study) -> list[str]:
    """Codes assigned to patients not imported yet (their digest matches no case), sorted."""
    digests = Case.objects.filter(study=study).exclude(patient_digest="").values("patient_digest")
    return list(
        SubjectCodeAssignment.objects.filter(study=study)
        .exclude(patient_digest__in=digests)
        .order_by("subject_code")
        .values_list("subject_code", flat=True)
    )
