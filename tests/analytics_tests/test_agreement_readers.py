"""Issue #16, reader sets and incomplete designs: the PI chooses the readers of the inter-rater ICC, every pair
is shown, each row states its n and the cases left out and why; with a reader part-way through, the
mixed-model ICC from all available ratings is reported beside the complete-case one (and is primary).

The synthetic 61-case, 3-reader study with reader1's first reads cut back to 4 submitted cases — the demo as
it was found. Every ICC (ANOVA forms and the mixed model) equals ``manage.py stats`` (``icc``, ``icc-lmm``) on
the exported scores.csv (``dashboard_checks.check_agreement``).
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from analytics import reader_sets, tasks
from analytics.synthetic import synthetic_study
from studies.models import Read
from tests.analytics_tests import dashboard_checks as checks

pytestmark = pytest.mark.django_db


@pytest.fixture
def partway():
    syn = synthetic_study(n_cases=61, seed=20261123, reads_per_reader=1)
    study = syn.study
    first = Read.objects.filter(study=study, reader__username="reader1", read_number=1).order_by("case__subject_code")
    keep = list(first.values_list("id", flat=True)[:4])
    first.exclude(id__in=keep).update(status=Read.Status.IN_PROGRESS)
    assert tasks.study_analytics_refresh(study.pk)["failed"] == []
    return syn


def _inter(study, measure="vbq"):
    entries = checks.section(study, "agreement")["data"]["icc"]
    return [e for e in entries if e["measure"] == measure and e["comparison"] in ("inter", "inter_pair")]


def test_all_readers_pairs_left_out_and_mixed_model(partway, tmp_path):
    study = partway.study
    checked = checks.check_agreement(study, checks.export_csvs(study, tmp_path))
    assert any("lmm" in e for e in checked)
    rows = {e["label"]: e for e in _inter(study)}
    everyone = rows["Inter-rater, first reads, all readers (reader1, reader2, reader3)"]
    assert everyone["n_targets"] == 4 and everyone["n_cases_any"] == 61
    # reader3's read of one case has an excluded CSF ROI, so no VBQ (the synthetic study's oddity)
    assert everyone["left_out"][0] == "57 without a first read of reader1"
    assert everyone["left_out"][1].startswith("1 read by reader3 without a VBQ (")
    assert everyone["primary"] == "lmm"
    assert everyone["lmm"]["n_subjects"] == 61 and everyone["lmm"]["n_ratings"] == 4 + 61 + 60
    assert 0 < everyone["lmm"]["icc_agreement"] <= everyone["lmm"]["icc_consistency"] < 1
    pair = rows["Inter-rater pair, first reads (reader2, reader3)"]
    assert pair["n_targets"] == 60 and len(pair["left_out"]) == 1 and pair["primary"] == "lmm"
    snr_pair = next(e for e in _inter(study, "snr") if e["label"].endswith("(reader2, reader3)"))
    assert snr_pair["n_targets"] == 61 and snr_pair["left_out"] == [] and snr_pair["primary"] == "anova"
    assert "lmm" not in snr_pair
    with_reader1 = rows["Inter-rater pair, first reads (reader1, reader2)"]
    assert with_reader1["n_targets"] == 4 and with_reader1["primary"] == "lmm"
    # The summary table states n, the model and the cases left out, the primary row highlighted.
    table = next(t for t in checks.section(study, "agreement")["tables"] if t["id"] == "icc_summary")
    vbq_rows = [r for r, c in zip(table["rows"], table["row_classes"], strict=True) if r[0] == "VBQ"]
    labels = [(r[1], r[2]) for r in vbq_rows]
    assert ("Inter-rater, first reads, all readers (reader1, reader2, reader3)", "complete cases, ANOVA") in labels
    lmm_row = next(r for r in vbq_rows if r[2] == "all ratings, mixed model (REML) (primary)" and "all readers" in r[1])
    assert lmm_row[3:6] == ["61", "3", "125"]
    assert any(r[-1].startswith("57 without a first read of reader1; 1 read by reader3") for r in vbq_rows)


def test_pi_chooses_readers_on_the_page_and_fewer_than_two_is_refused(partway, client):
    study = partway.study
    client.force_login(partway.pi)
    ids = dict((name, uid) for uid, name in reader_sets.study_readers(study))
    url = reverse("analytics-agreement-readers", kwargs={"study_id": study.pk})
    page = reverse("analytics-agreement", kwargs={"study_id": study.pk})
    response = client.post(url, {"reader": [ids["reader2"], ids["reader3"]]}, follow=True)
    assert response.status_code == 200
    assert "Readers of the inter-rater ICC" in response.content.decode()
    assert reader_sets.agreement_readers_get(study) == sorted([ids["reader2"], ids["reader3"]])
    tasks.study_analytics_refresh(study.pk)
    chosen = next(e for e in _inter(study) if e["comparison"] == "inter")
    assert chosen["label"] == "Inter-rater, first reads, chosen readers (reader2, reader3)"
    assert chosen["n_targets"] == 60 and chosen["lmm"]["n_ratings"] == 121
    # the pairs are still all shown
    assert len([e for e in _inter(study) if e["comparison"] == "inter_pair"]) == 3

    response = client.post(url, {"reader": [ids["reader2"]]}, follow=True)
    assert response.status_code == 200
    assert "at least 2 readers" in response.content.decode()
    assert reader_sets.agreement_readers_get(study) == sorted([ids["reader2"], ids["reader3"]])
    # every reader ticked = the default (readers who join later are in)
    client.post(url, {"reader": list(ids.values())})
    assert reader_sets.agreement_readers_get(study) == []
    assert client.get(page).status_code == 200


def test_api_reader_set_400_on_bad_input(partway, client):
    study = partway.study
    client.force_login(partway.pi)
    ids = dict((name, uid) for uid, name in reader_sets.study_readers(study))
    url = reverse("api-analytics-agreement-readers", kwargs={"study_id": study.pk})
    assert client.get(url).json()["reader_ids"] == []
    for body in ({"reader_ids": [ids["reader1"]]}, {"reader_ids": [999999, ids["reader1"]]}, {"reader_ids": "all"},
                 {"reader_ids": [True, False]}, {"reader_ids": ["x1", "2"]}):  # fmt: skip
        response = client.put(url, body, content_type="application/json")
        assert response.status_code == 400, body
    response = client.put(url, {"reader_ids": [ids["reader1"], ids["reader3"]]}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["reader_ids"] == sorted([ids["reader1"], ids["reader3"]])


def test_stored_set_without_two_readers_with_reads_gives_a_message(partway):
    study = partway.study
    ids = dict((name, uid) for uid, name in reader_sets.study_readers(study))
    Read.objects.filter(study=study, reader_id=ids["reader1"]).update(status=Read.Status.IN_PROGRESS)
    reader_sets.agreement_readers_set(study=study, reader_ids=[ids["reader1"], ids["reader2"]])
    tasks.study_analytics_refresh(study.pk)
    chosen = next(e for e in _inter(study) if e["comparison"] == "inter")
    assert chosen["error"].startswith("at least 2 readers with analysed first reads are needed")


def test_sample_size_on_the_agreement_tab(partway, client):
    # sample_size_reference.txt: rho1 = 0.8 rho0 = 0.6 k = 2: ceiling 39; power at ceiling = 0.800914059643137
    client.force_login(partway.pi)
    page = reverse("analytics-agreement", kwargs={"study_id": partway.study.pk})
    body = client.get(page, {"ss_icc": "0.8", "ss_null": "0.6", "ss_raters": "2"}).content.decode()
    assert "<strong>39 cases</strong>" in body and "0.801" in body
    assert "With the study's 61 cases the power is" in body
    # defaults: the number of readers of the study (3)
    assert "with 3 readers" in client.get(page).content.decode()
    for params, message in (
        ({"ss_icc": "0.6", "ss_null": "0.8"}, "must be larger than the null value"),
        ({"ss_icc": "abc"}, "is not a number"),
        ({"ss_raters": "1"}, "at least twice"),
        ({"ss_raters": "2.5"}, "is not a whole number"),
        ({"ss_power": "1.5"}, "Power must be between 0 and 1"),
        ({"ss_alpha": "nan"}, "must be a finite number"),
    ):
        response = client.get(page, params)
        assert response.status_code == 200, params
        assert message in response.content.decode(), params
