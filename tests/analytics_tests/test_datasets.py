"""Tidy study data: WHO groups, consensus rules, the ROI statistic, and sections with too little data."""

from __future__ import annotations

import math

import pytest
from django.urls import reverse

from analytics import sections, services
from analytics.datasets import outcome_of, study_data, who_group
from analytics.models import AnalysisCache
from analytics.sections.common import CACHED_SECTIONS
from analytics.synthetic import synthetic_study
from scoring.models import ReadScore, RoiScore
from studies.models import Study
from tests import factories as f


@pytest.mark.parametrize(
    ("t_score", "group"),
    [
        (0.4, "normal"),
        (-1.0, "normal"),  # T ≥ −1
        (-1.05, "osteopenia"),
        (-2.45, "osteopenia"),  # −2.5 < T < −1
        (-2.5, "osteoporosis"),  # T ≤ −2.5
        (-3.7, "osteoporosis"),
        (None, None),
        (math.nan, None),
    ],
)
def test_who_group_boundaries(t_score, group):
    assert who_group(t_score) == group


def test_outcomes():
    assert [outcome_of(g, "op_vs_normal") for g in ("normal", "osteopenia", "osteoporosis", None)] == [0, None, 1, None]
    assert [outcome_of(g, "op_vs_rest") for g in ("normal", "osteopenia", "osteoporosis")] == [0, 0, 1]
    assert [outcome_of(g, "low_vs_normal") for g in ("normal", "osteopenia", "osteoporosis")] == [0, 1, 1]


@pytest.mark.django_db
def test_consensus_rules():
    syn = synthetic_study(n_cases=9, n_readers=3, seed=3, oddities=False)
    study = syn.study
    scores = {
        (s.read.case_id, s.read.reader.username, s.read.read_number): s.vbq
        for s in ReadScore.objects.filter(read__study=study).select_related("read__reader")
    }
    case_id = next(iter(scores))[0]

    def mean(values):
        return math.fsum(values) / len(values)

    data = study_data(study)
    subject = next(s for s in data.subjects if s.case_id == case_id)
    assert subject.vbq == mean([scores[(case_id, f"reader{i}", 1)] for i in (1, 2, 3)])
    assert subject.n_reads["vbq"] == 3
    assert "first reads" in data.consensus_note

    study.consensus_rule = Study.ConsensusRule.ALL_READS
    study.save()
    subject = next(s for s in study_data(study).subjects if s.case_id == case_id)
    assert subject.vbq == pytest.approx(mean([scores[(case_id, f"reader{i}", n)] for i in (1, 2, 3) for n in (1, 2)]))
    assert subject.n_reads["vbq"] == 6

    study.consensus_rule = Study.ConsensusRule.READER
    study.consensus_reader = syn.readers[1]
    study.save()
    data = study_data(study)
    subject = next(s for s in data.subjects if s.case_id == case_id)
    assert subject.vbq == scores[(case_id, "reader2", 1)]
    assert data.consensus_note == "first read of reader reader2"


@pytest.mark.django_db
def test_level_si_follows_the_study_roi_statistic():
    syn = synthetic_study(n_cases=3, n_readers=2, seed=5, oddities=False)
    study = syn.study
    score = RoiScore.objects.filter(roi__read__study=study, roi__label="L1").select_related("roi").first()
    read_id = score.roi.read_id
    assert next(r for r in study_data(study).reads if r.read_id == read_id).si["L1"] == score.mean
    study.roi_statistic = Study.RoiStatistic.MEDIAN
    study.save()
    assert next(r for r in study_data(study).reads if r.read_id == read_id).si["L1"] == score.median


@pytest.mark.django_db
def test_only_submitted_scored_reads_are_analysed():
    syn = synthetic_study(n_cases=6, n_readers=2, seed=9, oddities=False)
    read = syn.study.reads.first()
    read.status = read.Status.IN_PROGRESS
    read.save()
    data = study_data(syn.study)
    row = next(r for r in data.reads if r.read_id == read.pk)
    assert row.scored and not row.analysed
    assert read.case_id not in data.wide("vbq")[(read.reader_id, read.read_number)]


@pytest.mark.django_db
def test_sections_with_too_little_data_say_why(world, client):
    """The permission-matrix world: one case, no reference data, nothing submitted."""
    data = study_data(world.study)
    for section in CACHED_SECTIONS:
        result = sections.compute_section(section, data)
        assert result["tables"], section
    assert "reference" in " ".join(sections.table1.compute(data)["messages"])
    assert any("readers" in m for m in sections.agreement.compute(data)["messages"])
    assert "No subjects" in " ".join(sections.roc.compute(data)["messages"])
    groups = sections.groups.compute(data)
    assert groups["tables"][0]["rows"] == [] and groups["tables"][0]["empty"]
    client.force_login(world.pi)
    for name in ("analytics-overview", "analytics-agreement", "analytics-table1", "analytics-roc"):
        response = client.get(reverse(name, kwargs={"study_id": world.study.pk}))
        assert response.status_code == 200
        assert "failed" not in response.content.decode()
    assert not AnalysisCache.objects.filter(study=world.study, status="failed").exists()


@pytest.mark.django_db
def test_tiny_groups():
    """One or two subjects per group: every statistic runs or explains itself, nothing raises."""
    pi = f.make_user()
    syn = synthetic_study(n_cases=4, n_readers=2, seed=11, pi=pi, oddities=False)
    data = study_data(syn.study)
    for section in CACHED_SECTIONS:
        sections.compute_section(section, data)
    table = sections.table1.compute(data)
    assert table["data"]["yates"] is False


@pytest.mark.django_db
def test_failed_section_is_reported_not_raised(world, monkeypatch, client):
    def boom(data):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(sections.table1, "compute", boom)
    out = services.study_analytics_refresh(study_id=world.study.pk, sections=["table1"])
    assert out["failed"] == ["table1"]
    row = AnalysisCache.objects.get(study=world.study, section="table1")
    assert row.status == "failed" and "simulated bug" in row.error
    client.force_login(world.pi)
    html = client.get(reverse("analytics-table1", kwargs={"study_id": world.study.pk})).content.decode()
    assert "The analysis failed" in html and "simulated bug" in html
