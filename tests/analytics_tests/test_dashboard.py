"""The dashboard on a demo-like study: every number equals ``manage.py stats`` run on the exported CSVs.

The study (``analytics.synthetic``): 61 subjects 21/21/19 normal/osteopenia/osteoporosis by QCT T-score,
3 readers × 2 reads with reader habits and placement jitter, ROI statistics and read scores stored as the
scoring service stores them. The sections are computed by the Celery task (in-process), the CSVs exported
with ``analytics.sections.exports``, filtered the way a statistician would (rows of one reader, first reads) and fed to
``analytics.stats_cli`` — the engine of ``python manage.py stats`` — and once through ``call_command``.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from analytics import services, tasks
from analytics.manuscript import numeric_table
from analytics.models import AnalysisCache
from analytics.sections import exports as export
from analytics.sections.common import CACHED_SECTIONS
from analytics.synthetic import synthetic_study
from scoring.models import ReadScore
from studies.models import ReferenceRecord
from tests.analytics_tests import dashboard_checks as checks

pytestmark = pytest.mark.django_db

READERS = ("reader1", "reader2", "reader3")


@pytest.fixture
def demo():
    syn = synthetic_study(n_cases=61, seed=20261123)
    out = tasks.study_analytics_refresh(syn.study.pk)
    assert out["failed"] == []
    return syn


def _result(study, section):
    return checks.section(study, section)


@pytest.fixture
def exported(demo, tmp_path):
    return checks.export_csvs(demo.study, tmp_path)


def test_groups_equal_stats_anova_on_subjects_csv(demo, exported):
    measures = checks.check_groups(demo.study, exported)
    assert set(measures) == {"vbq", "snr", "m_score"}
    assert all(len(entry["tukey"]) == 3 for entry in measures.values())
    # The seed study's shape: osteoporosis has the highest VBQ, the ANOVA is significant.
    vbq = measures["vbq"]
    assert vbq["groups"]["osteoporosis"]["mean"] > vbq["groups"]["normal"]["mean"]
    assert vbq["anova"]["p_value"] < 0.05
    assert [g["n"] for g in vbq["anova"]["groups"]] == [21, 21, 19]


@pytest.mark.parametrize("outcome", ["op_vs_normal", "op_vs_rest", "low_vs_normal"])
def test_roc_equals_stats_roc_on_subjects_csv(demo, exported, outcome):
    scores = checks.check_roc(demo.study, exported, outcome)
    assert set(scores) == {"vbq", "m_score"} and all("auc" in entry for entry in scores.values())
    if outcome == "op_vs_normal":
        assert (scores["vbq"]["n_positive"], scores["vbq"]["n_negative"]) == (19, 21)
        assert scores["vbq"]["auc"] > 0.6
        result = _result(demo.study, f"roc:{outcome}")
        assert result["data"]["comparison"]["auc1"] == pytest.approx(scores["vbq"]["auc"])


def test_correlation_equals_stats_on_subjects_csv(demo, exported):
    pairs = checks.check_correlation(demo.study, exported)
    for ref in ("bmd", "t_score"):
        entry = pairs[("vbq", ref)]
        assert all("error" not in entry[method] for method in ("pearson", "spearman", "regression"))
        assert entry["pearson"]["estimate"] < 0  # higher VBQ, lower BMD
    for score in ("snr", "m_score"):
        for ref in ("bmd", "t_score"):
            assert "error" not in pairs[(score, ref)]["spearman"]
        # QCT study: no TBS, so a clear message instead of a number.
        assert "TBS" in pairs[(score, "tbs")]["error"]
    result = _result(demo.study, "correlation")
    assert "TBS: no subject has a reference value, so it is left out." in result["messages"]


def test_table1_equals_stats_on_subjects_csv(demo, exported):
    variables = checks.check_table1(demo.study, exported)
    assert set(variables) == {"age", "bmi", "t_score", "bmd", "sex", "diabetes", "hyperlipidemia"}
    result = _result(demo.study, "table1")
    assert result["data"]["yates"] is False
    table = result["tables"][0]
    assert table["columns"][1:5] == ["All (n = 61)", "Normal (n = 21)", "Osteopenia (n = 21)", "Osteoporosis (n = 19)"]
    assert any("without Yates" in note for note in table["notes"])
    age_row = next(r for r in table["rows"] if r[0].startswith("Age"))
    assert " ± " in age_row[1] and age_row[-1] == "ANOVA"


def test_agreement_equals_stats_icc_and_bland_altman_on_exported_csvs(demo, exported):
    checked = checks.check_agreement(demo.study, exported)
    assert len(checked) == 6 * 7  # VBQ, SNR, SI L1-L4 × (3 intra + 1 inter, all readers + 3 pairs)
    result = _result(demo.study, "agreement")
    vbq_intra = [e for e in result["data"]["icc"] if e["measure"] == "vbq" and e["comparison"] == "intra"]
    vbq_inter = next(e for e in result["data"]["icc"] if e["measure"] == "vbq" and e["comparison"] == "inter")
    # Realistic jitter: intra-reader agreement is higher than inter-reader agreement.
    assert min(e["forms"]["ICC2"]["estimate"] for e in vbq_intra) > vbq_inter["forms"]["ICC2"]["estimate"]
    # The read with an excluded CSF ROI has no VBQ: that case is left out of reader3's intra-rater ICC.
    assert any(e["n_dropped"] == 1 for e in vbq_intra)
    assert any(ba["measure"] == "vbq" for ba in result["data"]["bland_altman"])


def test_manage_py_stats_json_gives_the_same_numbers(demo, exported, capsys):
    """The management command itself (not only its engine) on the exported file."""
    call_command(
        "stats",
        "roc",
        "--csv",
        str(exported["subjects"]),
        "--score",
        "vbq_consensus",
        "--truth",
        "who_group",
        "--positive",
        "osteoporosis",
        "--negative",
        "normal",
        "--json",
    )
    cli = json.loads(capsys.readouterr().out)
    entry = next(s for s in _result(demo.study, "roc:op_vs_normal")["data"]["scores"] if s["score"] == "vbq")
    assert checks.close(entry["auc"], cli["auc"])
    assert checks.close(entry["p_value"], cli["p_value"])
    assert checks.close(entry["cutoff"]["threshold"], cli["threshold"])


def test_progress_and_qc(demo):
    result = _result(demo.study, "progress")
    readers = result["data"]["readers"]
    assert [(r["reader"], r["read_number"]) for r in readers] == [(n, k) for n in READERS for k in (1, 2)]
    assert all(r["done"] == r["total"] == 61 for r in readers)
    assert all(60 <= r["time_median"] <= 240 for r in readers)
    qc = result["data"]["qc"]
    items = {(q["case"], q["reader"], q["read"], q["item"]) for q in qc}
    # The synthetic study's deliberate problems: a misplaced L3 ROI and a read without a CSF ROI.
    assert ("SYN-0008", "reader1", 1, "Outlying SI L3") in items
    assert ("SYN-0012", "reader3", 2, "No VBQ") in items
    no_vbq = next(q for q in qc if q["item"] == "No VBQ")
    assert "CSF" in no_vbq["detail"]


def test_refresh_task_is_idempotent(demo):
    before = {r.section: (r.computed_at, r.inputs_digest) for r in AnalysisCache.objects.filter(study=demo.study)}
    out = tasks.study_analytics_refresh(demo.study.pk)
    assert out["computed"] == [] and sorted(out["unchanged"]) == sorted(CACHED_SECTIONS)
    after = {r.section: (r.computed_at, r.inputs_digest) for r in AnalysisCache.objects.filter(study=demo.study)}
    assert before == after
    assert all(r.status == "done" for r in AnalysisCache.objects.filter(study=demo.study))


def test_cache_invalidated_when_a_score_changes(demo):
    study = demo.study
    sections = list(CACHED_SECTIONS)
    states = services.sections_request(study, sections)
    assert all(s.fresh for s in states.values())
    stamps = {r.section: r.computed_at for r in AnalysisCache.objects.filter(study=study)}

    # A read score changes without touching any timestamp (as the M-score refresh does with .update()).
    score = ReadScore.objects.filter(read__study=study, read__read_number=1, vbq__isnull=False).first()
    ReadScore.objects.filter(pk=score.pk).update(vbq=score.vbq + 1.0)
    states = services.sections_request(study, sections)  # in-process: recomputed right here
    assert all(s.fresh for s in states.values())
    new = {r.section: r.computed_at for r in AnalysisCache.objects.filter(study=study)}
    changed = {s for s in sections if new[s] != stamps[s]}
    assert changed == {"progress", "agreement", "groups", "correlation"} | {s for s in sections if s.startswith("roc:")}
    case = score.read.case.subject_code
    line = next(r for r in export.subjects_csv(study).decode().splitlines() if r.startswith(case + ","))
    assert repr(score.vbq + 1.0) in line

    # A save that changes no value (timestamp only): the fingerprint moves, the exact digest does not, so
    # nothing is recomputed.
    stamps = new
    ReferenceRecord.objects.filter(case__study=study).first().save()
    services.sections_request(study, sections)
    assert {r.section: r.computed_at for r in AnalysisCache.objects.filter(study=study)} == stamps

    # Reference data change: Table 1 is recomputed.
    ref = ReferenceRecord.objects.filter(case__study=study).first()
    ref.age = (ref.age or 50) + 7
    ref.save()
    services.sections_request(study, ["table1"])
    assert AnalysisCache.objects.get(study=study, section="table1").computed_at != stamps["table1"]


def test_consensus_rule_change_recomputes(demo):
    study = demo.study
    before = _result(study, "groups")["data"]["measures"][0]["groups"]["normal"]["mean"]
    study.consensus_rule = study.ConsensusRule.READER
    study.consensus_reader = demo.readers[1]
    study.save()
    services.sections_request(study, ["groups"])
    result = _result(study, "groups")
    assert "reader2" in result["data"]["consensus"]
    assert result["data"]["measures"][0]["groups"]["normal"]["mean"] != before


def test_pages_show_cached_sections_and_csv_matches_display(demo, client):
    client.force_login(demo.pi)
    study = demo.study
    for name, marker in (
        ("analytics-overview", "Reading progress"),
        ("analytics-agreement", "ICC(A,1)"),
        ("analytics-table1", "Table 1. Characteristics"),
        ("analytics-groups", "Tukey HSD"),
        ("analytics-roc", "Youden-optimal threshold"),
        ("analytics-correlation", "Linear regression"),
        ("analytics-exports", "Analysis snapshot"),
    ):
        response = client.get(reverse(name, kwargs={"study_id": study.pk}))
        assert response.status_code == 200, name
        html = response.content.decode()
        assert marker in html, name
        assert "Computing…" not in html
        assert 'aria-current="page"' in html
    html = client.get(reverse("analytics-roc", kwargs={"study_id": study.pk}) + "?outcome=op_vs_rest").content.decode()
    assert "Osteoporosis vs osteopenia + normal" in html
    # Every table on the page has a CSV link, and the CSV is the displayed table as numbers (#16).
    result = _result(study, "roc:op_vs_normal")
    for table in result["tables"]:
        url = reverse(
            "analytics-table-csv", kwargs={"study_id": study.pk, "section": "roc-op_vs_normal", "table": table["id"]}
        )
        response = client.get(url)
        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
        header, numeric_rows = numeric_table(table)
        assert rows[0] == header and rows[1:] == numeric_rows
    auc_row = result["tables"][0]["rows"][0]
    assert len(auc_row[3].split(".")[1]) == 3  # AUC with 3 decimals
    assert auc_row[3] in client.get(reverse("analytics-roc", kwargs={"study_id": study.pk})).content.decode()


def test_figures_in_three_formats_and_cached(demo, client, settings):
    client.force_login(demo.pi)
    study = demo.study
    magic = {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF"}
    for name in ("ba-vbq", "box-vbq", "roc-op_vs_normal", "scatter-vbq-bmd"):
        for fmt, head in magic.items():
            response = client.get(reverse("analytics-figure", kwargs={"study_id": study.pk, "name": name, "fmt": fmt}))
            assert response.status_code == 200, (name, fmt)
            assert response.content.startswith(head), (name, fmt)
    first = client.get(reverse("analytics-figure", kwargs={"study_id": study.pk, "name": "box-vbq", "fmt": "svg"}))
    files = list((Path(settings.MEDIA_ROOT) / "analytics" / f"study-{study.pk}" / "figures").glob("box-vbq-*.svg"))
    assert len(files) == 1 and files[0].read_bytes() == first.content
    # Deterministic: rendering again from scratch gives the same bytes.
    files[0].unlink()
    again = client.get(reverse("analytics-figure", kwargs={"study_id": study.pk, "name": "box-vbq", "fmt": "svg"}))
    assert again.content == first.content
    assert b"<dc:date>" not in first.content
    url = reverse("analytics-figure", kwargs={"study_id": study.pk, "name": "box-nothing", "fmt": "svg"})
    missing = client.get(url)
    assert missing.status_code == 404


def test_stale_section_shows_computing_until_the_worker_is_done(demo, client, monkeypatch):
    """With a broker, the page shows the last result and a self-refreshing "computing…" banner."""
    queued = []
    monkeypatch.setattr(tasks.study_analytics_refresh, "delay", lambda *args: queued.append(args))
    study = demo.study
    ReadScore.objects.filter(read__study=study).update(snr=None)
    client.force_login(demo.pi)
    html = client.get(reverse("analytics-groups", kwargs={"study_id": study.pk})).content.decode()
    assert "Computing…" in html and 'http-equiv="refresh"' in html
    assert "Tukey HSD" in html  # the previous result is still shown
    assert queued == [(study.pk, ["groups"])]
    client.get(reverse("analytics-groups", kwargs={"study_id": study.pk}))
    assert len(queued) == 1  # not queued twice while pending
    tasks.study_analytics_refresh(study.pk, ["groups"])  # the worker runs
    html = client.get(reverse("analytics-groups", kwargs={"study_id": study.pk})).content.decode()
    assert "Computing…" not in html
    assert "SNR L1–L4" in html


def test_api_sections(demo, client):
    client.force_login(demo.pi)
    study = demo.study
    listing = client.get(reverse("api-analytics-sections", kwargs={"study_id": study.pk})).json()
    assert {s["section"] for s in listing["sections"]} == set(CACHED_SECTIONS)
    assert all(s["fresh"] for s in listing["sections"])
    roc = client.get(
        reverse("api-analytics-section", kwargs={"study_id": study.pk, "section": "roc"}) + "?outcome=low_vs_normal"
    ).json()
    assert roc["section"] == "roc:low_vs_normal" and roc["data"]["outcome"] == "low_vs_normal"
    assert "plots" not in roc
    with_plots = client.get(
        reverse("api-analytics-section", kwargs={"study_id": study.pk, "section": "groups"}) + "?plots=1"
    ).json()
    assert "box-vbq" in with_plots["plots"]
    bad = client.get(reverse("api-analytics-section", kwargs={"study_id": study.pk, "section": "nope"}))
    assert bad.status_code == 404
    csv_response = client.get(reverse("api-analytics-export", kwargs={"study_id": study.pk, "kind": "subjects"}))
    assert csv_response.status_code == 200
    assert csv_response.content == export.subjects_csv(study)


def _dashboard_urls(study_id: int) -> list[tuple[str, str]]:
    kw = {"study_id": study_id}
    urls = [
        ("get", reverse(name, kwargs=kw))
        for name in (
            "analytics-overview",
            "analytics-agreement",
            "analytics-table1",
            "analytics-groups",
            "analytics-roc",
            "analytics-correlation",
            "analytics-exports",
            "analytics-snapshot",
        )
    ]
    urls.append(("post", reverse("analytics-refresh", kwargs=kw)))
    urls += [("get", reverse("analytics-export-csv", kwargs=kw | {"kind": k})) for k in export.EXPORTS]
    urls.append(("get", reverse("analytics-table-csv", kwargs=kw | {"section": "table1", "table": "table1"})))
    urls += [
        ("get", reverse("analytics-figure", kwargs=kw | {"name": "roc-op_vs_normal", "fmt": fmt}))
        for fmt in ("svg", "png", "pdf")
    ]
    api = [("get", reverse("api-analytics-sections", kwargs=kw))]
    api += [("get", reverse("api-analytics-section", kwargs=kw | {"section": s})) for s in ("progress", "roc")]
    api += [("get", reverse("api-analytics-export", kwargs=kw | {"kind": k})) for k in export.EXPORTS]
    return [(m, u, False) for m, u in urls] + [(m, u, True) for m, u in api]


def test_readers_get_403_outsiders_404_anonymous_login_on_every_dashboard_url(demo, client, django_user_model):
    outsider = django_user_model.objects.create_user("outsider-x", password=None)
    for method, url, is_api in _dashboard_urls(demo.study.pk):
        client.logout()
        response = getattr(client, method)(url)
        if is_api:
            assert response.status_code == 401, url
        else:
            assert response.status_code == 302 and "/login/" in response["Location"], url
        client.force_login(demo.readers[0])
        assert getattr(client, method)(url).status_code == 403, url
        client.force_login(outsider)
        assert getattr(client, method)(url).status_code == 404, url


def test_recompute_button_forces_a_recomputation(demo, client):
    study = demo.study
    before = AnalysisCache.objects.get(study=study, section="table1").computed_at
    client.force_login(demo.pi)
    page = reverse("analytics-table1", kwargs={"study_id": study.pk})
    response = client.post(
        reverse("analytics-refresh", kwargs={"study_id": study.pk}), {"section": "table1", "next": page}
    )
    assert response.status_code == 302 and response["Location"] == page
    row = AnalysisCache.objects.get(study=study, section="table1")
    assert row.computed_at > before and row.status == "done"
    evil = client.post(reverse("analytics-refresh", kwargs={"study_id": study.pk}), {"next": "https://evil.example/"})
    assert evil["Location"] == reverse("analytics-overview", kwargs={"study_id": study.pk})
