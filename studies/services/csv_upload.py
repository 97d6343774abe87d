"""The file conventions of every CSV a PI uploads (reference data, subject codes), defined once.

- UTF-8, with or without a byte-order mark (Excel's "CSV UTF-8"); comma- or semicolon-separated (the first line
  that is not blank or a ``#`` comment decides).
- Header names are case-insensitive and trimmed; spaces and hyphens count as underscores (``T-score`` =
  ``t_score``). Blank lines and lines whose first cell starts with ``#`` are ignored.
- Every problem is a :class:`RowError` (line, column, reason a clinician understands); a rejected file raises
  :class:`CsvRejected` listing them all, and nothing is stored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from studies.models import Study

from .membership import StudyLocked

__all__ = [
    "CsvRejected",
    "RowError",
    "decode",
    "detect_delimiter",
    "first_record",
    "is_skipped",
    "lock_unlocked_study",
    "missing_columns",
    "normalise_header",
    "records",
]


@dataclass(frozen=True)
class RowError:
    """One problem: ``line`` is the 1-based line of the file (the header is line 1 when nothing precedes it);
    ``column`` is the header name ("" for a problem with the whole line or file)."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "message": self.message}


class CsvRejected(ValidationError):
    """The file was rejected; nothing was stored. ``errors`` holds every problem found, in file order."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = list(errors)
        super().__init__([str(e) for e in self.errors] or ["The file was rejected."])


def decode(data: bytes | str) -> tuple[str, bytes]:
    """The file's text (without a byte-order mark) and its bytes; :class:`CsvRejected` when it is not UTF-8."""
    if isinstance(data, str):
        raw = data.encode("utf-8")
        return data.removeprefix("\ufeff"), raw
    raw = bytes(data)
    try:
        return raw.decode("utf-8-sig"), raw
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CsvRejected(
            [
                RowError(
                    line,
                    "",
                    gettext(
                        "the file is not UTF-8 text. In Excel choose “Save as… CSV UTF-8 (comma delimited)”; "
                        "in LibreOffice choose the character set “Unicode (UTF-8)”."
                    ),
                )
            ]
        ) from None


def normalise_header(name: str, aliases: Mapping[str, str]) -> str:
    """The column key of a header cell: lower case, spaces and hyphens as underscores, then ``aliases``."""
    key = "_".join(name.strip().lower().replace("-", " ").split())
    return aliases.get(key, key)


def is_skipped(cells: list[str]) -> bool:
    """A blank line, or a comment (its first cell starts with ``#``)."""
    return not any(c.strip() for c in cells) or cells[0].strip().startswith("#")


def detect_delimiter(text: str) -> str:
    """``;`` when the first line that is not blank or a comment has more semicolons than commas, else ``,``."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return ";" if stripped.count(";") > stripped.count(",") else ","
    return ","


def records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line number, cells) per CSV record; a quoted cell may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvRejected(
                [RowError(reader.line_num or start, "", gettext("not readable as CSV (%(error)s).") % {"error": exc})]
            ) from None
        yield start, cells
        start = reader.line_num + 1


def first_record(rows: Iterator[tuple[int, list[str]]]) -> tuple[int, list[str] | None]:
    """The header: the first record that is not skipped, with its line (``0, None`` for a file without one).
    ``rows`` then goes on with the data records."""
    for line, cells in rows:
        if not is_skipped(cells):
            return line, cells
    return 0, None


def missing_columns(header_line: int, seen: Mapping[str, int], required: tuple[str, ...]) -> list[RowError]:
    """One problem per required column absent from the header (``seen``: column key -> index)."""
    return [
        RowError(header_line, column, gettext("this required column is missing from the header."))
        for column in required
        if column not in seen
    ]


def lock_unlocked_study(study: Study) -> None:
    """Take the study's row lock (inside a transaction) and raise :class:`StudyLocked` when it is locked now.

    The upload checked ``study.locked`` before reading the file; a concurrent lock (or upload) must not
    interleave with the writes that follow, so the flag is read again under the row lock.
    """
    locked = Study.objects.select_for_update().filter(pk=study.pk).values_list("locked", flat=True).first()
    if locked:
        raise StudyLocked()
