"""Issue #16: manuscript tables — every table CSV numbers only (estimate / conf_low / conf_high / n in their own
columns, empty for missing, words in ``note``), and one XLSX workbook of all tables in the snapshot and on the
exports tab."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from analytics import tasks
from analytics.manuscript import numeric_table, tables_xlsx
from analytics.models import AnalysisCache
from analytics.sections.exports import table_csv
from analytics.synthetic import synthetic_study
from studies.models import Read

pytestmark = pytest.mark.django_db


def _label_columns(tab: dict) -> int:
    flags = tab["numeric"]
    return next((i for i, f in enumerate(flags) if f and i > 0), len(tab["columns"]))


def test_converter_shapes():
    columns = ["Measure", "n", "ICC", "95% CI", "Mean ± SD (n)", "Count", "Sens, % (95% CI)", "p", "TP / FP / TN / FN"]
    tab = {
        "columns": [*columns, "Koo & Li"],
        "numeric": [False, True, True, True, True, True, True, True, True, False],
        "rows": [
            ["VBQ", "61", "0.865", "0.450 to 0.990", "2.20 ± 0.50 (21)", "12 (57.1%)", "57.9 (36.3 to 76.9)",
             "< 0.001", "11 / 2 / 19 / 8", "good"],
            ["SNR", "—", "—", "—", "3.1", "—", "—", "0.042", "—", ""],
        ],
    }  # fmt: skip
    header, rows = numeric_table(tab)
    assert header == [
        "Measure", "n", "ICC", "95% CI conf_low", "95% CI conf_high", "Mean ± SD (n) mean", "Mean ± SD (n) sd",
        "Mean ± SD (n) n", "Count n", "Count percent", "Sens, % (95% CI) estimate", "Sens, % (95% CI) conf_low",
        "Sens, % (95% CI) conf_high", "p", "TP", "FP", "TN", "FN", "note",
    ]  # fmt: skip
    assert rows[0] == [
        "VBQ", "61", "0.865", "0.450", "0.990", "2.20", "0.50", "21", "12", "57.1", "57.9", "36.3", "76.9", "",
        "11", "2", "19", "8", "p: < 0.001; Koo & Li: good",
    ]  # fmt: skip
    assert rows[1] == ["SNR", "", "", "", "", "3.1", "", "", "", "", "", "", "", "0.042", "", "", "", "", ""]


@pytest.fixture
def study():
    syn = synthetic_study(n_cases=30, seed=21, reads_per_reader=2)
    first = Read.objects.filter(study=syn.study, reader__username="reader1", read_number=1).order_by(
        "case__subject_code"
    )
    first.exclude(id__in=list(first.values_list("id", flat=True)[:4])).update(status=Read.Status.IN_PROGRESS)
    assert tasks.study_analytics_refresh(syn.study.pk)["failed"] == []
    return syn


def test_every_table_csv_is_numbers_only_and_the_workbook_has_them(study, client):
    tables = [
        (f"{row.section}-{tab['id']}", tab)
        for row in AnalysisCache.objects.filter(study=study.study).order_by("section")
        for tab in (row.result or {}).get("tables", [])
    ]
    assert len(tables) > 15
    for _name, tab in tables:
        rows = list(csv.reader(io.StringIO(table_csv(tab).decode())))
        header, body = rows[0], rows[1:]
        assert header[-1] == "note"
        labels = _label_columns(tab)
        for row in body:
            for value in row[labels:-1]:
                if value != "":
                    float(value)  # numbers only (raises otherwise)
            for value in row[:-1]:
                assert value != "—" and " to " not in value
    summary = next(tab for name, tab in tables if name == "agreement-icc_summary")
    header, body = numeric_table(summary)
    assert {"Cases", "Raters", "Ratings", "ICC(A,1)", "95% CI conf_low", "95% CI conf_high", "note"} <= set(header)
    lmm = next(r for r in body if "mixed model" in r[2] and "all readers" in r[1])
    assert lmm[header.index("95% CI conf_low")] == "" and lmm[header.index("Cases")] == "30"

    # The workbook: a sheet per table, numbers stored as numbers, byte-identical when rebuilt.
    content = tables_xlsx(tables)
    assert content == tables_xlsx(tables)
    book = load_workbook(io.BytesIO(content))
    assert len(book.sheetnames) == len(tables)
    sheet = book[book.sheetnames[[n for n, _ in tables].index("agreement-icc_summary")]]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == summary["title"] and list(values[1]) == header
    assert isinstance(values[2][header.index("ICC(A,1)")], float)

    client.force_login(study.pi)
    response = client.get(reverse("analytics-tables-xlsx", kwargs={"study_id": study.study.pk}))
    assert response.status_code == 200 and response.content[:2] == b"PK"
    assert (
        "All tables (XLSX)"
        in client.get(reverse("analytics-exports", kwargs={"study_id": study.study.pk})).content.decode()
    )
    snapshot = client.get(reverse("analytics-snapshot", kwargs={"study_id": study.study.pk}))
    archive = zipfile.ZipFile(io.BytesIO(snapshot.content))
    assert "tables/all_tables.xlsx" in archive.namelist()
    load_workbook(io.BytesIO(archive.read("tables/all_tables.xlsx")))


def test_bootstrap_with_too_few_positives_is_a_message_not_an_error():
    syn = synthetic_study(n_cases=12, seed=22, name="Too small")
    assert tasks.study_analytics_refresh(syn.study.pk)["failed"] == []
    result = AnalysisCache.objects.get(study=syn.study, section="roc:op_vs_normal").result
    vbq = next(e for e in result["data"]["scores"] if e["score"] == "vbq")
    assert "auc" in vbq and vbq["cutoff_ci"]["error"].startswith("a bootstrap CI of the cut-off needs at least 5")
    assert any("no CI for the cut-off" in m for m in result["messages"])
