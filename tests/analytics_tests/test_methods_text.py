"""Issue #16: the snapshot's methods text is built from the sections that ran, with their numbers.

Studies with and without M-score, TBS and reference data; for each, every analysis sentence of methods.md is
checked against the cached section that must back it (present exactly when that section computed it).
"""

from __future__ import annotations

import pytest

from analytics import tasks
from analytics.datasets import study_data
from analytics.models import AnalysisCache
from analytics.snapshot import methods_text, software_versions
from analytics.synthetic import synthetic_study
from studies.models import ReferenceRecord, Study

pytestmark = pytest.mark.django_db


def _methods(study: Study) -> tuple[str, dict[str, dict]]:
    assert tasks.study_analytics_refresh(study.pk)["failed"] == []
    sections = {r.section: r.result for r in AnalysisCache.objects.filter(study=study) if r.result}
    return methods_text(study, study_data(study), sections), sections


def _backed(methods: str, sections: dict[str, dict]) -> None:
    """Each kind of analysis sentence appears exactly when its section has the numbers."""
    roc = [s["data"] for name, s in sections.items() if name.startswith("roc:")]
    scores = [e for r in roc for e in r["scores"] if e.get("auc") is not None]
    comparisons = [r["comparison"] for r in roc if r.get("comparison") and "error" not in r["comparison"]]
    pairs = [p for p in sections["correlation"]["data"]["pairs"] if "error" not in p]
    groups = [m for m in sections["groups"]["data"]["measures"] if m.get("anova")]
    agreement = sections["agreement"]["data"]
    checks = {
        "receiver operating characteristic": bool(scores),
        "stratified bootstrap": any("error" not in e.get("cutoff_ci", {"error": 1}) for e in scores),
        "DeLong's test for correlated ROC curves": bool(comparisons),
        "M-score": any(e["score"] == "m_score" for e in scores)
        or any(m["measure"] == "m_score" for m in groups)
        or any(p["score"] == "m_score" for p in pairs),
        "TBS": any(p["reference"] == "tbs" for p in pairs),
        "Tukey": any(m.get("tukey") for m in groups),
        "chi-square": any(v["kind"] == "categorical" for v in sections["table1"]["data"]["variables"]),
        "WHO criteria": bool(groups) or bool(scores),
        "Pearson's correlation": any("pearson" in p and "error" not in p["pearson"] for p in pairs),
        "Intra-rater reliability": any(e["comparison"] == "intra" and "error" not in e for e in agreement["icc"]),
        "Inter-rater reliability": any(e["comparison"] == "inter" and "error" not in e for e in agreement["icc"]),
        "linear mixed model": any("lmm" in e and "error" not in e["lmm"] for e in agreement["icc"]),
        "Reader drift": bool(agreement.get("drift")),
    }
    for phrase, expected in checks.items():
        assert (phrase in methods) is expected, (phrase, expected, methods)


def test_qct_study_without_snr_has_no_m_score_or_tbs_sentences():
    syn = synthetic_study(n_cases=30, seed=16, reads_per_reader=2)
    study = syn.study
    study.measure_snr = False
    study.save()
    methods, sections = _methods(study)
    _backed(methods, sections)
    assert "M-score" not in methods and "TBS" not in methods and "DeLong's test for correlated" not in methods
    # its numbers: readers, reads, blinding, n per analysis, seed and resamples of the bootstrap
    data = study_data(study)
    assert f"{len(data.analysed_reads)} submitted and scored reads of 30 cases" in methods
    assert "only the pixel count, area and quality warnings" in methods  # reader_roi_stats = quality
    roc = sections["roc:op_vs_normal"]["data"]["scores"][0]
    assert f"({roc['n_positive']} positive, {roc['n_negative']} negative)" in methods
    assert "2,000 stratified bootstrap resamples" in methods and "seed 16" in methods
    assert software_versions()["scipy"] in methods
    assert "statsmodels" not in methods  # complete design: no mixed model was fitted


def test_dexa_study_with_m_score_and_tbs():
    syn = synthetic_study(n_cases=30, seed=17, modality="DEXA", name="DEXA methods")
    study = syn.study
    study.reader_roi_stats = Study.ReaderRoiStats.NONE
    study.save()
    methods, sections = _methods(study)
    _backed(methods, sections)
    assert "TBS" in methods and "M-score" in methods
    assert "no statistics of their ROIs" in methods


def test_without_reference_data_no_group_roc_or_correlation_sentences():
    syn = synthetic_study(n_cases=30, seed=18, name="No reference")
    ReferenceRecord.objects.filter(case__study=syn.study).delete()
    methods, sections = _methods(syn.study)
    _backed(methods, sections)
    for phrase in ("receiver operating", "Tukey", "WHO criteria", "chi-square", "Pearson", "Spearman", "Youden"):
        assert phrase not in methods, phrase
    assert "Inter-rater reliability" in methods
