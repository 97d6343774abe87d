"""CSV exports and the analysis snapshot: documented columns, byte-identical reruns, frozen after locking."""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.urls import reverse

from analytics import digests, tasks
from analytics.models import AnalysisCache
from analytics.sections import exports as export
from analytics.synthetic import synthetic_study
from scoring.models import ReadScore
from studies.services.membership import study_lock

pytestmark = pytest.mark.django_db


@pytest.fixture
def small():
    syn = synthetic_study(n_cases=15, n_readers=2, seed=7)
    tasks.study_analytics_refresh(syn.study.pk)
    return syn


def _table(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"))))


def test_csv_headers_are_the_documented_columns(small):
    study = small.study
    rois = _table(export.roi_measurements_csv(study))
    assert rois[0] == list(export.ROI_COLUMNS)
    assert len(rois) - 1 == small.n_rois
    scores = _table(export.scores_csv(study))
    assert scores[0] == list(export.SCORE_COLUMNS)
    assert len(scores) - 1 == small.n_reads
    subjects = _table(export.subjects_csv(study))
    wide = [f"{m}_reader{r}_r{n}" for m in ("vbq", "snr") for r in (1, 2) for n in (1, 2)]
    assert subjects[0] == [*export.SUBJECT_COLUMNS, *wide]
    assert len(subjects) - 1 == small.n_cases


def test_roi_rows_carry_slice_geometry_and_statistics(small):
    table = _table(export.roi_measurements_csv(small.study))
    rows = [dict(zip(table[0], r, strict=True)) for r in table[1:]]
    drawn = next(r for r in rows if r["label"] == "L1" and r["excluded"] == "no")
    assert drawn["slice_number"] == "1" and drawn["instance_number"] == "7"  # one slice; the scanner numbered it 7
    assert drawn["slice_sop_instance_uid"].startswith("2.25.")
    assert json.loads(drawn["geometry"])[0][0] > 0
    assert drawn["shape"] == "ellipse" and drawn["score_current"] == "yes"
    assert float(drawn["sd"]) > 0 and float(drawn["min"]) < float(drawn["mean"]) < float(drawn["max"])
    assert drawn["created_at"].endswith("+00:00")
    fracture = next(r for r in rows if r["excluded"] == "yes")
    assert fracture["exclusion_reason"] == "fracture" and fracture["mean"] == ""


def test_numbers_round_trip_exactly(small):
    """Full precision: the float read back from the CSV is the float the analysis used."""
    study = small.study
    table = _table(export.scores_csv(study))
    header = table[0]
    by_key = {(r[0], r[1], r[2]): dict(zip(header, r, strict=True)) for r in table[1:]}
    for score in ReadScore.objects.filter(read__study=study).select_related("read__case", "read__reader"):
        row = by_key[(score.read.case.subject_code, score.read.reader.username, str(score.read.read_number))]
        assert (float(row["vbq"]) if row["vbq"] else None) == score.vbq
        assert float(row["snr"]) == score.snr


def test_exports_are_byte_identical_on_rerun(small, client):
    study = small.study
    for builder in (export.roi_measurements_csv, export.scores_csv, export.subjects_csv):
        assert builder(study) == builder(study)
    client.force_login(small.pi)
    for kind in export.EXPORTS:
        url = reverse("analytics-export-csv", kwargs={"study_id": study.pk, "kind": kind})
        first, second = client.get(url), client.get(url)
        assert first.status_code == 200 and first["Content-Type"] == "text/csv; charset=utf-8"
        assert first.content == second.content
        assert not first.content.startswith(b"\xef\xbb\xbf")  # UTF-8 without BOM
    # Recomputing every section from scratch gives the same tables.
    before = {r.section: r.result["tables"] for r in AnalysisCache.objects.filter(study=study)}
    AnalysisCache.objects.filter(study=study).delete()
    tasks.study_analytics_refresh(study.pk)
    after = {r.section: r.result["tables"] for r in AnalysisCache.objects.filter(study=study)}
    assert before == after


def test_snapshot_zip_contents_and_reproducibility(small, client):
    study = small.study
    client.force_login(small.pi)
    url = reverse("analytics-snapshot", kwargs={"study_id": study.pk})
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    first = response.content
    archive = zipfile.ZipFile(io.BytesIO(first))
    names = archive.namelist()
    assert names == sorted(names)
    assert {"data/roi_measurements.csv", "data/scores.csv", "data/subjects.csv", "methods.md", "manifest.json"} <= set(
        names
    )
    assert "tables/table1-table1.csv" in names and "tables/roc-op_vs_normal-roc_auc.csv" in names
    for fmt in ("svg", "png", "pdf"):
        assert f"figures/roc-op_vs_normal.{fmt}" in names and f"figures/ba-vbq.{fmt}" in names
    assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
    assert archive.read("data/subjects.csv") == export.subjects_csv(study)
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["inputs_hash"] == digests.Digests(study).section(digests.SNAPSHOT)
    assert manifest["settings"]["consensus_rule"] == "first_reads"
    assert set(manifest["software"]) == {
        "vbq_reader",
        "python",
        "numpy",
        "scipy",
        "statsmodels",
        "django",
        "matplotlib",
    }
    assert manifest["files"]["data/scores.csv"]
    methods = archive.read("methods.md").decode()
    for phrase in ("ICC(2,1)", "Tukey", "chi-square test without Yates", "DeLong", "Youden", "Wilson", "Spearman"):
        assert phrase in methods
    assert manifest["software"]["scipy"] in methods and manifest["software"]["numpy"] in methods

    # Served from storage the second time; rebuilt from scratch on unchanged data: byte-identical.
    assert client.get(url).content == first
    AnalysisCache.objects.filter(study=study).delete()
    rebuilt = client.get(url).content
    assert rebuilt == first


def test_snapshot_follows_data_until_locked_then_frozen(small, client):
    study = small.study
    study.measure_snr = False  # fewer figures to draw: this test is about freezing, not contents
    study.save()
    client.force_login(small.pi)
    url = reverse("analytics-snapshot", kwargs={"study_id": study.pk})
    before = client.get(url).content
    ReadScore.objects.filter(read__study=study, vbq__isnull=False).update(vbq=2.5)
    changed = client.get(url).content
    assert changed != before  # not locked: the snapshot follows the data

    study_lock(study=study, user=small.pi)
    frozen = client.get(url).content
    row = AnalysisCache.objects.get(study=study, section=digests.SNAPSHOT)
    assert row.result["frozen"] is True
    assert json.loads(zipfile.ZipFile(io.BytesIO(frozen)).read("manifest.json"))["study"]["locked"] is True
    # Whatever happens to the database afterwards, the locked study's snapshot is the stored file.
    ReadScore.objects.filter(read__study=study, vbq__isnull=False).update(vbq=3.0)
    assert client.get(url).content == frozen
    page = client.get(reverse("analytics-exports", kwargs={"study_id": study.pk})).content.decode()
    assert "Frozen" in page and row.result["sha256"] in page


def test_snapshot_being_built_by_a_worker_redirects_to_the_exports_page(small, client, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.study_snapshot_build, "delay", lambda *args: queued.append(args))
    client.force_login(small.pi)
    response = client.get(reverse("analytics-snapshot", kwargs={"study_id": small.study.pk}))
    assert response.status_code == 302
    assert response["Location"] == reverse("analytics-exports", kwargs={"study_id": small.study.pk})
    assert queued == [(small.study.pk,)]
    page = client.get(response["Location"]).content.decode()
    assert "being built" in page and 'http-equiv="refresh"' in page
