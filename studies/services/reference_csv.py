"""Reference-data CSV import: QCT/DEXA densitometry, demographics and the control-group flag per subject.

One CSV row per subject, keyed by the case's subject code. Every row is checked before anything is written;
any problem rejects the whole file (:class:`ReferenceImportError` lists each one with its line number, column
and a reason a clinician understands). A valid file replaces *all* reference records of the study in one
transaction and leaves one audit entry (counts, file name and SHA-256 digest — never values).

File format
-----------
- UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"); comma- or semicolon-separated (the header
  line decides). With semicolons a decimal comma is accepted (``0,853``), as European spreadsheets write it.
- Header names are case-insensitive and trimmed; spaces and hyphens count as underscores (``T-score`` =
  ``t_score``). Blank lines and lines whose first cell starts with ``#`` are ignored.
- Columns (see :data:`COLUMNS`): ``subject_code`` and ``reference_modality`` (QCT or DEXA) are required;
  ``t_score``, ``bmd``, ``z_score``, ``tbs``, ``age``, ``sex``, ``bmi``, ``diabetes``, ``hyperlipidemia`` and
  ``control`` are optional. Any other column is kept per subject as a covariate (a number when the cell is
  numeric, else the trimmed text; an empty cell is ``None``).
- BMD is in g/cm² for DEXA (areal BMD) and mg/cm³ for QCT (volumetric BMD); a value outside the plausible range
  of the row's modality is reported with the unit that is expected.
- ``control`` sets :attr:`studies.models.Case.is_control` (the SNR control group the M-score is referenced to).
  When the column is present, every case of the study is set from the file (cases not in the file are not
  controls); when it is absent, the control flags are left as they are.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Final

from django.db import transaction
from django.utils.translation import gettext

from studies import events
from studies.models import Case, ReferenceRecord, Study
from studies.reference_format import REFERENCE_COLUMNS

from . import csv_upload
from .audit import audit_log
from .csv_upload import CsvRejected, RowError
from .membership import StudyLocked

__all__ = [
    "COLUMNS",
    "MAX_FILE_BYTES",
    "RANGES",
    "ReferenceImportError",
    "ReferenceImportResult",
    "RowError",
    "reference_import",
    "reference_parse",
    "reference_template_csv",
]

#: The known columns, in template order.
COLUMNS: Final = REFERENCE_COLUMNS
REQUIRED: Final = ("subject_code", "reference_modality")

#: Other spellings of the known columns (after lower-casing and turning spaces/hyphens into underscores).
ALIASES: Final = {
    "subject": "subject_code",
    "subject_id": "subject_code",
    "modality": "reference_modality",
    "tscore": "t_score",
    "zscore": "z_score",
    "gender": "sex",
    "control_group": "control",
    "is_control": "control",
}

#: Plausible ranges (inclusive) and their units, for the numeric columns. BMD depends on the modality.
RANGES: Final[dict[str, tuple[float, float, str]]] = {
    "t_score": (-10.0, 10.0, ""),
    "z_score": (-10.0, 10.0, ""),
    "tbs": (0.8, 1.8, ""),
    "age": (18.0, 110.0, "years"),
    "bmi": (10.0, 80.0, "kg/m²"),
}
BMD_RANGES: Final[dict[str, tuple[float, float, str]]] = {
    ReferenceRecord.Modality.DEXA: (0.3, 2.0, "g/cm²"),
    ReferenceRecord.Modality.QCT: (10.0, 400.0, "mg/cm³"),
}
MODALITY_ALIASES: Final = {"QCT": "QCT", "DEXA": "DEXA", "DXA": "DEXA"}
SEX_VALUES: Final = {"f": "F", "female": "F", "m": "M", "male": "M"}
TRUE_VALUES: Final = frozenset({"yes", "y", "true", "1"})
FALSE_VALUES: Final = frozenset({"no", "n", "false", "0"})

#: Reference CSVs are small (a few kB per hundred subjects); anything larger is not one.
MAX_FILE_BYTES: Final = 5 * 1024 * 1024


#: The reference import's error is the one every uploaded CSV raises (the subject-code import raises a subclass).
ReferenceImportError = CsvRejected


@dataclass(frozen=True)
class ReferenceImportResult:
    imported: int  # reference records written
    replaced: int  # reference records of the study deleted (the previous import)
    controls: int | None  # cases flagged as controls, or None when the file has no control column
    covariates: tuple[str, ...]  # names of the extra columns kept as covariates
    sha256: str
    filename: str


@dataclass(frozen=True)
class _ParsedRow:
    line: int
    case: Case
    fields: dict[str, Any]
    control: bool | None
    covariates: dict[str, Any]


@dataclass(frozen=True)
class ParsedFile:
    rows: list[_ParsedRow]
    has_control_column: bool
    covariate_names: tuple[str, ...]


# ------------------------------------------------------------------------------------------------- parsing


def _normalise_header(name: str) -> str:
    return csv_upload.normalise_header(name, ALIASES)


def _number(text: str, decimal_comma: bool) -> float:
    value = text.strip().replace("\u2212", "-")  # typographic minus, as pasted from a report
    if decimal_comma and "," in value and "." not in value:
        value = value.replace(",", ".")
    number = float(value)  # ValueError for anything else
    if not math.isfinite(number):
        raise ValueError(text)
    return number


def _fmt(x: float) -> str:
    return f"{x:g}"


def _bmd_hint(value: float, modality: str) -> str:
    if modality == ReferenceRecord.Modality.DEXA:
        if 10 <= value <= 400:
            return gettext(" — this looks like a QCT value in mg/cm³; check the modality or the unit")
        if 300 <= value <= 2000:
            return gettext(" — this looks like mg/cm²; divide by 1000")
    elif 0.3 <= value <= 2.0:
        return gettext(" — this looks like a DEXA value in g/cm²; check the modality or the unit")
    return ""


def _covariate_value(text: str, decimal_comma: bool) -> Any:
    value = text.strip()
    if not value:
        return None
    try:
        number = _number(value, decimal_comma)
    except ValueError:
        return value
    plain = value.lstrip("+-")
    return int(number) if plain.isdigit() and abs(number) < 2**53 else number


def _check_number(key: str, text: str, modality: str | None, decimal_comma: bool) -> tuple[float | None, str]:
    """The value of a numeric cell and "" — or None and the reason it is rejected."""
    try:
        value = _number(text, decimal_comma)
    except ValueError:
        return None, gettext("“%(text)s” is not a number.") % {"text": text}
    if key == "bmd":
        if modality is None:
            return value, ""  # the modality is reported as wrong; the unit cannot be checked
        low, high, unit = BMD_RANGES[modality]
        if not low <= value <= high:
            return None, gettext(
                "%(value)s is out of range for %(modality)s: BMD is expected in %(unit)s (%(low)s–%(high)s)%(hint)s."
            ) % {
                "value": _fmt(value),
                "modality": modality,
                "unit": unit,
                "low": _fmt(low),
                "high": _fmt(high),
                "hint": _bmd_hint(value, modality),
            }
        return value, ""
    low, high, unit = RANGES[key]
    if not low <= value <= high:
        unit_text = f" {unit}" if unit else ""
        return None, gettext("%(value)s is out of range (%(low)s–%(high)s%(unit)s).") % {
            "value": _fmt(value),
            "low": _fmt(low),
            "high": _fmt(high),
            "unit": unit_text,
        }
    return value, ""


def _check_flag(text: str) -> tuple[bool | None, str]:
    value = text.lower()
    if not value:
        return None, ""
    if value in TRUE_VALUES:
        return True, ""
    if value in FALSE_VALUES:
        return False, ""
    return None, gettext("“%(text)s” is not yes/no (give yes, no, 1, 0, true, false, or leave it empty).") % {
        "text": text
    }


def _check_values(line: int, values: dict[str, str], decimal_comma: bool) -> tuple[dict[str, Any], list[RowError]]:
    """Check the known columns of one row except the subject code (``values``: column present -> trimmed text)."""
    errors: list[RowError] = []
    fields: dict[str, Any] = {}

    modality_text = values.get("reference_modality", "")
    modality = MODALITY_ALIASES.get(modality_text.upper())
    if "reference_modality" in values and not modality_text:
        errors.append(RowError(line, "reference_modality", gettext("missing: give QCT or DEXA.")))
    elif modality_text and modality is None:
        unknown = gettext("unknown modality “%(modality)s”: give QCT or DEXA.") % {"modality": modality_text}
        errors.append(RowError(line, "reference_modality", unknown))
    fields["modality"] = modality

    for key in ("t_score", "bmd", "z_score", "tbs", "age", "bmi"):
        fields[key] = None
        if values.get(key):
            fields[key], message = _check_number(key, values[key], modality, decimal_comma)
            if message:
                errors.append(RowError(line, key, message))

    sex_text = values.get("sex", "")
    fields["sex"] = SEX_VALUES.get(sex_text.lower(), "")
    if sex_text and sex_text.lower() not in SEX_VALUES:
        errors.append(
            RowError(line, "sex", gettext("“%(text)s” is not a sex: give F or M (female / male).") % {"text": sex_text})
        )

    for key in ("diabetes", "hyperlipidemia", "control"):
        fields[key], message = _check_flag(values.get(key, ""))
        if message:
            errors.append(RowError(line, key, message))
    return fields, errors


def _read_header(header_line: int, header: list[str]) -> tuple[dict[str, int], list[RowError]]:
    """Column key -> index (first occurrence), and the header's problems."""
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for index, name in enumerate(header):
        key = _normalise_header(name)
        if not key:
            continue
        if key in seen:
            errors.append(
                RowError(
                    header_line,
                    name.strip(),
                    gettext("the column appears twice (columns %(first)d and %(second)d).")
                    % {"first": seen[key] + 1, "second": index + 1},
                )
            )
        else:
            seen[key] = index
    return seen, errors + csv_upload.missing_columns(header_line, seen, REQUIRED)


def reference_parse(*, study: Study, text: str) -> ParsedFile:
    """Check every row of ``text`` against the study's cases; raise :class:`ReferenceImportError` listing all
    problems, else return the parsed rows. Writes nothing."""
    delimiter = csv_upload.detect_delimiter(text)
    decimal_comma = delimiter == ";"
    file_records = csv_upload.records(text, delimiter)
    header_line, header = csv_upload.first_record(file_records)
    if header is None:
        raise ReferenceImportError(
            [RowError(0, "", gettext("the file is empty: it needs a header line and one line per subject."))]
        )
    names = [h.strip() for h in header]
    seen, errors = _read_header(header_line, header)
    known = {key: index for key, index in seen.items() if key in COLUMNS}
    covariate_cols = [index for key, index in seen.items() if key not in COLUMNS]
    unnamed_cols = [i for i, name in enumerate(header) if not _normalise_header(name)]

    cases = {c.subject_code: c for c in Case.objects.filter(study=study)}
    by_folded: dict[str, Case | None] = {}
    for code, case in cases.items():
        by_folded[code.casefold()] = None if code.casefold() in by_folded else case  # None: ambiguous

    rows: list[_ParsedRow] = []
    first_line_of: dict[int, int] = {}
    n_data = 0
    for line, cells in file_records:
        if csv_upload.is_skipped(cells):
            continue
        n_data += 1
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            errors.append(
                RowError(
                    line,
                    "",
                    gettext(
                        "%(values)d values, but the header has %(columns)d columns "
                        "(is a value with a “%(delimiter)s” missing its quotes?)."
                    )
                    % {"values": len(cells), "columns": len(header), "delimiter": delimiter},
                )
            )
            continue
        cells = cells + [""] * (len(header) - len(cells))  # short rows: the missing trailing cells are empty
        row_errors = [
            RowError(
                line,
                gettext("column %(n)d") % {"n": i + 1},
                gettext("this column has values but no name in the header."),
            )
            for i in unnamed_cols
            if cells[i].strip()
        ]
        values = {key: cells[index].strip() for key, index in known.items()}

        code = values.get("subject_code", "")
        case = None
        if "subject_code" in values and not code:
            row_errors.append(RowError(line, "subject_code", gettext("missing: every row needs the subject code.")))
        elif code:
            case = cases.get(code) or by_folded.get(code.casefold())
            if case is None:
                row_errors.append(
                    RowError(
                        line,
                        "subject_code",
                        gettext("unknown subject “%(code)s”: no case of this study has this code.") % {"code": code},
                    )
                )
            elif case.pk in first_line_of:
                row_errors.append(
                    RowError(
                        line,
                        "subject_code",
                        gettext("duplicate: “%(code)s” is already on line %(line)d.")
                        % {"code": code, "line": first_line_of[case.pk]},
                    )
                )
                case = None
            else:
                first_line_of[case.pk] = line

        fields, value_errors = _check_values(line, values, decimal_comma)
        row_errors += value_errors
        errors += row_errors
        if not row_errors and case is not None:
            control = fields.pop("control")
            rows.append(
                _ParsedRow(
                    line=line,
                    case=case,
                    fields=fields,
                    control=bool(control) if "control" in known else None,
                    covariates={names[i]: _covariate_value(cells[i], decimal_comma) for i in covariate_cols},
                )
            )

    if not n_data and not errors:
        errors.append(RowError(header_line, "", gettext("the file has a header but no data rows: nothing to import.")))
    if errors:
        raise ReferenceImportError(errors)
    return ParsedFile(
        rows=rows,
        has_control_column="control" in known,
        covariate_names=tuple(names[i] for i in covariate_cols),
    )


# ------------------------------------------------------------------------------------------------- import


def reference_import(
    *, study: Study, file_bytes_or_text: bytes | str, user, filename: str = ""
) -> ReferenceImportResult:
    """Replace the study's reference data with the rows of a CSV file — all rows or none.

    Raises :class:`ReferenceImportError` (a ``ValidationError``) listing every problem, or
    :class:`~studies.services.membership.StudyLocked`; in both cases nothing changes.
    """
    if study.locked:
        raise StudyLocked()
    size = len(file_bytes_or_text.encode("utf-8") if isinstance(file_bytes_or_text, str) else file_bytes_or_text)
    if size > MAX_FILE_BYTES:
        raise ReferenceImportError(
            [
                RowError(
                    0,
                    "",
                    gettext("the file is %(size)s MB; a reference CSV may be at most %(max)d MB.")
                    % {"size": f"{size / 1024**2:.1f}", "max": MAX_FILE_BYTES // 1024**2},
                )
            ]
        )
    text, raw = csv_upload.decode(file_bytes_or_text)
    digest = hashlib.sha256(raw).hexdigest()
    parsed = reference_parse(study=study, text=text)

    with transaction.atomic():
        csv_upload.lock_unlocked_study(study)
        _, deleted = ReferenceRecord.objects.filter(case__study=study).delete()
        replaced = deleted.get(ReferenceRecord._meta.label, 0)
        ReferenceRecord.objects.bulk_create(
            ReferenceRecord(case=row.case, covariates=row.covariates, **row.fields) for row in parsed.rows
        )
        controls, controls_changed = None, False
        if parsed.has_control_column:
            wanted = {row.case.pk for row in parsed.rows if row.control}
            before = set(Case.objects.filter(study=study, is_control=True).values_list("pk", flat=True))
            if wanted != before:
                Case.objects.filter(study=study).exclude(pk__in=wanted).update(is_control=False)
                Case.objects.filter(study=study, pk__in=wanted).update(is_control=True)
                # The M-score is referenced to the controls' SNR: a new control group changes every M-score.
                controls_changed = True
            controls = len(wanted)
        audit_log(
            study=study,
            user=user,
            action="reference.import",
            obj=study,
            data={
                "imported": len(parsed.rows),
                "replaced": replaced,
                "controls": controls,
                "covariates": list(parsed.covariate_names),
                "filename": filename,
                "sha256": digest,
                "bytes": size,
            },
        )
        events.announce(events.reference_changed, study_id=study.pk, controls_changed=controls_changed)
    return ReferenceImportResult(
        imported=len(parsed.rows),
        replaced=replaced,
        controls=controls,
        covariates=parsed.covariate_names,
        sha256=digest,
        filename=filename,
    )


def reference_template_csv() -> str:
    """A CSV template: the header, then commented example lines (lines starting with # are ignored on import)."""
    lines = [
        ",".join(COLUMNS),
        "# Example rows — delete them or leave them: lines starting with # are ignored on import.",
        "# BMD in mg/cm³ for QCT and g/cm² for DEXA; sex F/M; diabetes, hyperlipidemia, control: yes/no;"
        " extra columns are kept as covariates.",
        "# VBQ-001,QCT,-1.8,98.6,,,64,F,27.1,no,yes,no",
        "# SNR-006,DEXA,0.3,1.080,0.3,1.387,24,F,25.5,no,no,yes",
    ]
    return "\r\n".join(lines) + "\r\n"
