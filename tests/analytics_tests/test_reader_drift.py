"""Issue #16, reader drift: each reader's read, score and ROI SD against worklist position (OLS as R's lm)."""

from __future__ import annotations

import pytest

from analytics import figures, tasks
from analytics.models import AnalysisCache
from analytics.synthetic import synthetic_study
from scoring.models import ReadScore
from studies.models import Read

pytestmark = pytest.mark.django_db


def test_a_drifting_reader_is_flagged_with_slope_ci_and_figure(tmp_path):
    syn = synthetic_study(n_cases=30, seed=31, reads_per_reader=1, oddities=False)
    study = syn.study
    for read in Read.objects.filter(study=study, reader__username="reader2", read_number=1):
        # VBQ creeping up by 0.05 per case along the worklist, with a little wobble.
        ReadScore.objects.filter(read=read).update(vbq=2.0 + 0.05 * read.order_index + 0.01 * (read.order_index % 3))
    assert tasks.study_analytics_refresh(study.pk)["failed"] == []
    row = AnalysisCache.objects.get(study=study, section="agreement")
    drift = {(d["reader"], d["read"], d["measure"]): d for d in row.result["data"]["drift"]}
    reader2 = drift[("reader2", 1, "vbq")]
    assert reader2["n"] == 30 and reader2["flag"] is True and reader2["p_value"] < 1e-6
    assert reader2["conf_low"] < 0.05 < reader2["conf_high"]
    assert ("reader2", 1, "roi_sd") in drift
    assert any(m.startswith("Reader drift: reader2, read 1: VBQ changes by") for m in row.result["messages"])
    table = next(t for t in row.result["tables"] if t["id"] == "reader_drift")
    flagged = [r for r, c in zip(table["rows"], table["row_classes"], strict=True) if c == "flagged"]
    assert ["reader2", "1", "VBQ"] in [r[:3] for r in flagged]
    # the figure: one panel per reader and read, the drifting one titled so
    assert row.result["figures"]["drift-vbq"] is True
    plot = row.plots["drift-vbq"]
    assert "reader2, read 1 (drift)" in [p["title"] for p in plot["panels"]]
    svg = figures.render(figures.build("drift-vbq", plot), "svg")
    assert b"reader2, read 1 (drift)" in svg
