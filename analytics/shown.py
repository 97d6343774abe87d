"""The dashboard's words in the page's language (issue #18 point 7), from the cached results' English.

The cached sections (:mod:`analytics.sections`) are computed once for every viewer and keep English: the CSVs,
the XLSX workbook, the snapshot and the methods text are English documents. The pages translate here, when they
show a result: table titles, the empty-table and status messages, and the progress tab's tables (headers and
item names). The statistical tables themselves (their columns, rows and method notes) stay English, as in a
manuscript; the page marks them ``lang="en"``. A text without a catalogue entry is shown as stored, marked English.
"""

from __future__ import annotations

import re

from django.utils.translation import get_language, gettext, gettext_lazy, gettext_noop

from analytics.datasets import OUTCOMES
from analytics.sections.common import SECTIONS

#: Table title by table id (the sections' own English titles); ``roc_auc`` and ``thresholds_<measure>`` are built.
TABLE_TITLES = {
    "progress": gettext_lazy("Reading progress"),
    "scoring": gettext_lazy("Scoring status"),
    "qc": gettext_lazy("Quality control"),
    "icc_summary": gettext_lazy("Reliability (recommended ICC form)"),
    "icc_forms": gettext_lazy("All six ICC forms (psych::ICC)"),
    "bland_altman": gettext_lazy("Bland–Altman agreement"),
    "reader_drift": gettext_lazy("Reader drift along the worklist"),
    "table1": gettext_lazy("Table 1. Characteristics of the subjects by WHO group"),
    "group_summary": gettext_lazy("Scores by WHO group"),
    # xgettext:no-python-format ("95% f" is not a placeholder)
    "tukey": gettext_lazy("Tukey HSD (95% family-wise confidence)"),
    "roc_youden": gettext_lazy("Youden-optimal threshold"),
    "roc_compare": gettext_lazy("Paired comparison of AUCs (DeLong)"),
    "correlation": gettext_lazy("Correlation with the reference standard"),
    "regression": gettext_lazy("Linear regression"),
}
#: Tables of the progress tab: not statistics, so their headers are translated, and the cells of these columns.
PAGE_TABLES: dict[str, tuple[int, ...]] = {"progress": (), "scoring": (0,), "qc": (3, 5)}

#: The sections' fixed English words shown on the pages, for the catalogue (looked up with gettext when shown).
MSGIDS = (
    # analytics.datasets.OUTCOMES
    gettext_noop("Osteoporosis vs normal"),
    gettext_noop("Osteoporosis vs osteopenia + normal"),
    gettext_noop("Osteopenia + osteoporosis vs normal"),
    # empty tables
    gettext_noop("No analysed reads yet."),
    gettext_noop("Bland–Altman needs two reads of the same cases."),
    gettext_noop("No scores yet."),
    gettext_noop("Regression needs at least 3 subjects with a VBQ and a reference value."),
    gettext_noop("No scored subjects with reference data yet."),
    gettext_noop("Tukey HSD needs at least two groups with data."),
    gettext_noop("No reads yet: create the reading plan on the study page."),
    gettext_noop("Nothing to check."),
    gettext_noop("No ROC analysis yet."),
    gettext_noop("No thresholds."),
    gettext_noop("No reference data yet."),
    # section messages
    gettext_noop(
        "Intra-rater agreement needs a second read of the same cases (the reading plan has one read per reader)."
    ),
    gettext_noop("No analysed reads yet: agreement between readers appears once they have submitted scored reads."),
    gettext_noop("No subject has a reference T-score yet, so there are no groups to compare."),
    gettext_noop("No subject has a reference T-score yet: import the reference data to build Table 1."),
    # the progress tab's tables: headers, item names and notes
    gettext_noop("Reader"),
    gettext_noop("Read"),
    gettext_noop("Submitted"),
    gettext_noop("Progress"),
    gettext_noop("In progress"),
    gettext_noop("Median time per case, s"),
    gettext_noop("Mean time per case, s"),
    gettext_noop("Time per case: time on task of submitted reads (viewer open and active)."),
    gettext_noop("Item"),
    gettext_noop("Count"),
    gettext_noop("ROIs drawn (not excluded)"),
    gettext_noop("ROIs awaiting scoring"),
    gettext_noop("ROIs that could not be measured"),
    gettext_noop("Reads submitted"),
    gettext_noop("Submitted reads scored"),
    gettext_noop("Submitted reads awaiting scoring"),
    gettext_noop("Case"),
    gettext_noop("Value"),
    gettext_noop("Detail"),
    gettext_noop("Reads: submitted reads with a reason instead of a score."),
    gettext_noop("No VBQ"),
    gettext_noop("No SNR"),
    gettext_noop("no reason recorded"),
)

#: Messages with a value in them: English pattern -> msgid with the same named placeholders.
_PATTERNS = (
    (
        re.compile(r"(?P<measure>[^:]+): no subject has a value yet \(no analysed reads\)\."),
        gettext_noop("%(measure)s: no subject has a value yet (no analysed reads)."),
    ),
    (
        re.compile(r"(?P<reference>[^:]+): no subject has a reference value, so it is left out\."),
        gettext_noop("%(reference)s: no subject has a reference value, so it is left out."),
    ),
    (
        re.compile(r"No subjects in the outcome “(?P<outcome>.+)” yet \(reference T-scores are needed\)\."),
        gettext_noop("No subjects in the outcome “%(outcome)s” yet (reference T-scores are needed)."),
    ),
    (re.compile(r"ROI (?P<label>\S+) not measured"), gettext_noop("ROI %(label)s not measured")),
    (re.compile(r"Outlying SI (?P<label>\S+)"), gettext_noop("Outlying SI %(label)s")),
    (
        re.compile(
            r"(?P<ratio>[\d.]+) × the case's median over all reads \(robust z = (?P<z>-?[\d.]+); "
            r"this reader's usual ratio (?P<usual>[\d.]+)\)"
        ),
        gettext_noop(
            "%(ratio)s × the case's median over all reads (robust z = %(z)s; this reader's usual ratio %(usual)s)"
        ),
    ),
)


def _english_page() -> bool:
    return (get_language() or "en").startswith("en")


def text_shown(text: str) -> tuple[str, bool]:
    """``(text in the page's language, still English?)``; values in a known message are translated too."""
    shown = gettext(text) if text else text
    if shown != text or _english_page():
        return shown, False
    for pattern, msgid in _PATTERNS:
        if m := pattern.fullmatch(text):
            values = {k: gettext(v) for k, v in m.groupdict().items()}
            return gettext(msgid) % values, False
    return text, True


def message_shown(text: str) -> dict:
    """A section message for the template: ``{"text": …, "english": …}`` (English ones get ``lang="en"``)."""
    shown, english = text_shown(text)
    return {"text": shown, "english": english}


def outcome_shown(key: str) -> str:
    """The ROC outcome's label in the page's language."""
    return gettext(OUTCOMES[key][0])


def table_title_shown(table_id: str, title: str, section: str) -> str:
    """A cached table's title in the page's language; a title without a catalogue entry is shown as stored."""
    if table_id in TABLE_TITLES:
        return str(TABLE_TITLES[table_id])
    outcome = section.partition(":")[2]
    if table_id == "roc_auc" and outcome in OUTCOMES:
        return gettext("ROC: %(outcome)s") % {"outcome": outcome_shown(outcome)}
    if table_id.startswith("thresholds_") and title.startswith("Candidate ") and title.endswith(" thresholds"):
        measure = title.removeprefix("Candidate ").removesuffix(" thresholds")
        return gettext("Candidate %(measure)s thresholds") % {"measure": measure}
    return title


def section_title_shown(section: str) -> str:
    """A cached section's title (``roc:<outcome>`` → "ROC — <outcome>") in the page's language."""
    page, _sep, outcome = section.partition(":")
    title = gettext(SECTIONS.get(page, page))
    return f"{title} — {outcome_shown(outcome)}" if outcome in OUTCOMES else title


def table_shown(tab: dict, section: str) -> dict:
    """A copy of a cached table for the page: title, empty message and notes in the page's language; the progress
    tab's headers and first-column items too. ``lang`` is "en" for a statistical table (kept English)."""
    out = dict(tab)
    out["title"] = table_title_shown(tab["id"], tab["title"], section)
    out["empty"] = text_shown(tab.get("empty") or "")[0]
    out["notes"] = [message_shown(n) for n in tab.get("notes") or []]
    if tab["id"] in PAGE_TABLES:
        words = PAGE_TABLES[tab["id"]]
        out["columns"] = [text_shown(c)[0] for c in tab["columns"]]
        cells = [[text_shown(v) if i in words else (v, False) for i, v in enumerate(row)] for row in tab["rows"]]
        out["rows"] = [[v for v, _english in row] for row in cells]
        out["english_cells"] = [[english for _v, english in row] for row in cells]  # shown with lang="en"
        out["lang"] = ""
    else:
        out["lang"] = "" if _english_page() else "en"
    return out
