"""Manuscript tables (#16): every dashboard table as numbers only — CSV per table and one XLSX workbook.

A dashboard table (:mod:`analytics.tables`) is formatted for reading: "0.450 to 0.990", "2.20 ± 0.50 (21)",
"12 (57.1%)", "—", "< 0.001". A statistician pasting it into R or a journal template needs numbers: here
each displayed column becomes one or more numeric columns, split by the cell's shape —

* ``low to high`` → ``<column> conf_low``, ``<column> conf_high``;
* ``estimate (low to high)`` → ``estimate``, ``conf_low``, ``conf_high``;
* ``mean ± SD (n)`` → ``mean``, ``sd``, ``n``; ``n (pct%)`` → ``n``, ``percent``;
* ``a / b [/ c / d]`` → one column each (``TP / FP / TN / FN``);

an empty or "—" cell is empty; any words (``< 0.001``, "drift", Koo & Li labels, the cases left out) go to
one ``note`` column, prefixed with the column they came from. The label columns before the first numeric
column (measure, comparison, form…) are kept as they are. The numbers are the dashboard's rounded values
(the unrounded ones are in the section JSON and the API).
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

__all__ = ["numeric_table", "tables_xlsx"]

_NUM = r"-?\d+(?:\.\d+)?"
#: Cell shapes: (regex, names of the values), most specific first.
_SHAPES: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(rf"^({_NUM}) / ({_NUM}) / ({_NUM}) / ({_NUM})$"), ("TP", "FP", "TN", "FN")),
    (re.compile(rf"^({_NUM}) / ({_NUM})$"), ("first", "second")),
    (re.compile(rf"^({_NUM}) ± ({_NUM}) \((\d+)\)$"), ("mean", "sd", "n")),
    (re.compile(rf"^({_NUM}) ± ({_NUM})$"), ("mean", "sd")),
    (re.compile(rf"^({_NUM}) \(({_NUM}) to ({_NUM})\)$"), ("estimate", "conf_low", "conf_high")),
    (re.compile(rf"^({_NUM}) to ({_NUM})$"), ("conf_low", "conf_high")),
    (re.compile(rf"^(\d+) \(({_NUM})%\)$"), ("n", "percent")),
    (re.compile(rf"^({_NUM})$"), ("value",)),
)
_MISSING = {"", "—"}


def _parse(text: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(value names, values) of a cell, or None when it is words."""
    for pattern, names in _SHAPES:
        match = pattern.match(text.strip())
        if match:
            return names, match.groups()
    return None


def _split_names(column: str, names: tuple[str, ...]) -> list[str]:
    if names == ("value",):
        return [column]
    if names == ("first", "second"):  # "19 / 21" under "Positive / negative"
        parts = [p.strip() for p in column.split("/")]
        if len(parts) == 2:
            return parts
    if names == ("TP", "FP", "TN", "FN"):
        return list(names)
    return [f"{column} {name}" for name in names]


def numeric_table(tab: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The table's columns and rows with numbers only (see the module docstring), and a ``note`` column."""
    columns, rows, flags = tab["columns"], tab["rows"], tab.get("numeric") or []
    first_numeric = next((i for i, f in enumerate(flags) if f and i > 0), len(columns))
    plan: list[tuple[str, Any]] = []  # ("label", None) | ("numbers", names) | ("words", None)
    for j in range(len(columns)):
        if j < first_numeric:
            plan.append(("label", None))
            continue
        shapes = [_parse(row[j]) for row in rows if j < len(row) and row[j].strip() not in _MISSING]
        parsed = [s[0] for s in shapes if s is not None]
        if not parsed:
            plan.append(("words", None) if shapes else ("numbers", ("value",)))
            continue
        # The union of the shapes' value names (Table 1's columns hold "mean ± SD" and "n (%)" rows).
        names = tuple(dict.fromkeys(n for shape in parsed if shape != ("value",) for n in shape)) or ("value",)
        plan.append(("numbers", names))
    header: list[str] = []
    for (kind, names), column in zip(plan, columns, strict=True):
        if kind == "label":
            header.append(column)
        elif kind == "numbers":
            header += _split_names(column, names)
    header.append("note")
    out_rows = []
    for row in rows:
        out: list[str] = []
        notes: list[str] = []
        for j, ((kind, names), column) in enumerate(zip(plan, columns, strict=True)):
            text = row[j].strip() if j < len(row) else ""
            if kind == "label":
                out.append(text if text not in _MISSING else "")
                continue
            if kind == "words":
                if text not in _MISSING:
                    notes.append(f"{column}: {text}")
                continue
            cells = [""] * len(names)
            parsed = _parse(text) if text not in _MISSING else None
            if parsed is not None:
                shape, values = parsed
                if shape == ("value",):
                    # A bare count in a column of "n (%)" cells is an n (Table 1's "Subjects, n" row).
                    positions = [names.index("n") if "n" in names and values[0].lstrip("-").isdigit() else 0]
                else:
                    positions = [names.index(n) for n in shape]
                for k, value in zip(positions, values, strict=True):
                    cells[k] = value
            elif text not in _MISSING:
                notes.append(f"{column}: {text}")
            out += cells
        out.append("; ".join(notes))
        out_rows.append(out)
    return header, out_rows


def _sheet_name(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "-", name)[:31] or "table"
    candidate, i = base, 2
    while candidate.lower() in used:
        suffix = f"~{i}"
        candidate, i = base[: 31 - len(suffix)] + suffix, i + 1
    used.add(candidate.lower())
    return candidate


def tables_xlsx(tables: list[tuple[str, dict[str, Any]]]) -> bytes:
    """One workbook: a sheet per (name, table), numbers as numbers, the title above and the notes below.

    Deterministic (fixed document dates and zip timestamps), so the snapshot of unchanged data is byte-identical.
    """
    from datetime import datetime

    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    fixed = datetime(2000, 1, 1)
    workbook.properties.created = fixed
    workbook.properties.modified = fixed
    workbook.properties.creator = "VBQ Reader"
    used: set[str] = set()
    for name, tab in tables:
        sheet = workbook.create_sheet(_sheet_name(name, used))
        sheet.append([tab["title"]])
        sheet["A1"].font = Font(bold=True)
        header, rows = numeric_table(tab)
        sheet.append(header)
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append([_value(v) for v in row])
        for note in tab.get("notes") or []:
            sheet.append([note])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _fixed_zip(buffer.getvalue(), fixed)


def _value(text: str) -> Any:
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if re.fullmatch(r"-?\d+", text) else number


def _fixed_zip(content: bytes, fixed: Any) -> bytes:
    """The workbook's zip rewritten with fixed member timestamps and document dates."""
    stamp = fixed.strftime("%Y-%m-%dT%H:%M:%SZ")
    source = zipfile.ZipFile(io.BytesIO(content))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp.encode(), data)
            member = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(member, data)
    return buffer.getvalue()
