"""Blinding: what readers see of their ROIs' statistics is the study's ``reader_roi_stats`` setting; the PI sees all.

What a reader may not see is never sent: not in the ROI list or detail, the read, the worklist, nor the
read checks (whose warnings quote means and SDs only under "full")."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from django.urls import reverse

from studies.models import Study
from tests import factories as f

pytestmark = pytest.mark.django_db


def _striped(k, rows, cols):
    """Pixels that make a high-SD vertebral ROI (alternating 100 / 900 columns), so a QC warning fires."""
    return np.tile(np.where(np.arange(cols) % 2 == 0, 100, 900), (rows, 1))


@pytest.fixture
def blinded(db, django_capture_on_commit_callbacks):
    pi = f.make_user()
    study = f.make_study(pi)
    reader = f.make_user()
    f.add_member(study, reader)
    case = f.make_case(study, value_fn=_striped)
    read = f.make_read(case, reader)
    with django_capture_on_commit_callbacks(execute=True):  # measure the ROIs (scoring's receivers)
        rois = [f.make_roi(read, **f.roi_payload(case, label, box=(10, 10, 30, 30))) for label in ("L1", "L2")]
        rois.append(f.make_roi(read, **f.roi_payload(case, "CSF", box=(40, 10, 45, 15)), csf_level="L3"))
    return type("Blinded", (), dict(pi=pi, study=study, reader=reader, case=case, read=read, rois=rois))


def _set(study: Study, level: str) -> None:
    study.reader_roi_stats = level
    study.save(update_fields=["reader_roi_stats"])


def _payloads(client, w) -> dict[str, str]:
    urls = {
        "rois": reverse("api-read-roi-list", args=[w.read.pk]),
        "roi": reverse("api-read-roi-detail", args=[w.read.pk, w.rois[0].pk]),
        "read": reverse("api-read-detail", args=[w.read.pk]),
        "reads": reverse("api-read-list"),
        "checks": reverse("api-read-checks", args=[w.read.pk]),
    }
    out = {}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.content)
        out[name] = response.content.decode()
    return out


def _stats(body: str) -> list[dict]:
    return [r["stats"] for r in json.loads(body)]


def test_new_studies_default_to_quality():
    assert Study().reader_roi_stats == Study.ReaderRoiStats.QUALITY


def test_quality_reader_gets_n_area_and_warnings_without_si_values(blinded, client):
    client.force_login(blinded.reader)
    payloads = _payloads(client, blinded)
    for name, text in payloads.items():
        assert '"mean"' not in text and '"median"' not in text and '"sd"' not in text, name
    stats = _stats(payloads["rois"])
    assert all(set(s) == {"n", "area_mm2"} for s in stats) and 441 in {s["n"] for s in stats}
    warnings = json.loads(payloads["checks"])["warnings"]
    high_sd = [w for w in warnings if "high SD" in w]
    assert high_sd, warnings  # the QC check still runs …
    assert not any(re.search(r"\d{3}", w) for w in high_sd), high_sd  # … without the SI values
    assert "mean 500" not in payloads["checks"]


def test_full_reader_gets_every_statistic_and_the_numbers(blinded, client):
    _set(blinded.study, "full")
    client.force_login(blinded.reader)
    payloads = _payloads(client, blinded)
    stats = _stats(payloads["rois"])
    assert {"n", "area_mm2", "mean", "median", "sd"} <= set(stats[0])
    assert stats[0]["mean"] == pytest.approx(500, abs=25)
    assert any("vs mean" in w for w in json.loads(payloads["checks"])["warnings"])


def test_none_reader_gets_no_statistics_but_still_the_warnings(blinded, client):
    _set(blinded.study, "none")
    client.force_login(blinded.reader)
    payloads = _payloads(client, blinded)
    for name, text in payloads.items():
        assert '"n"' not in text and '"area_mm2"' not in text and '"mean"' not in text, name
    assert _stats(payloads["rois"]) == [{}, {}, {}]
    warnings = json.loads(payloads["checks"])["warnings"]
    assert any("high SD" in w for w in warnings)
    assert any("the area is outside" in w for w in warnings)  # the small CSF ROI, without its area
    assert not any(re.search(r"area \d", w) for w in warnings)


@pytest.mark.parametrize("level", ["none", "quality", "full"])
def test_the_pi_sees_every_statistic_in_every_mode(blinded, client, level):
    _set(blinded.study, level)
    client.force_login(blinded.pi)
    payloads = _payloads(client, blinded)
    assert {"n", "area_mm2", "mean", "median", "sd"} <= set(_stats(payloads["rois"])[0])
    assert any("vs mean" in w for w in json.loads(payloads["checks"])["warnings"])


def test_the_pi_chooses_the_setting_in_the_api_and_readers_cannot(blinded, client):
    client.force_login(blinded.pi)
    url = reverse("api-study-detail", args=[blinded.study.pk])
    assert client.get(url).json()["reader_roi_stats"] == "quality"
    response = client.patch(url, data=json.dumps({"reader_roi_stats": "none"}), content_type="application/json")
    assert response.status_code == 200, response.content
    assert Study.objects.get(pk=blinded.study.pk).reader_roi_stats == "none"
    bad = client.patch(url, data=json.dumps({"reader_roi_stats": "all"}), content_type="application/json")
    assert bad.status_code == 400
    client.force_login(blinded.reader)
    assert "reader_roi_stats" not in client.get(url).json()
    denied = client.patch(url, data=json.dumps({"reader_roi_stats": "full"}), content_type="application/json")
    assert denied.status_code == 403
    assert Study.objects.get(pk=blinded.study.pk).reader_roi_stats == "none"


def test_the_settings_form_offers_the_setting(blinded, client):
    client.force_login(blinded.pi)
    page = client.get(reverse("study-settings", args=[blinded.study.pk]))
    assert page.status_code == 200 and 'name="reader_roi_stats"' in page.content.decode()
