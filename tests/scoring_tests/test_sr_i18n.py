"""Why a read has no DICOM SR, in the asker's language (#18 point 7): the API's 409 and the send page's reasons
follow ``Accept-Language``; the zips' ``manifest.csv`` stays English (a file for programs, as every CSV export)."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.urls import reverse

from tests.scoring_tests.test_sr_api import scene  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def test_reasons_in_chinese_and_the_manifest_in_english(client, scene):  # noqa: F811
    roi = scene.other_read.rois.get(label="L1")
    type(roi).objects.filter(pk=roi.pk).update(version=roi.version + 1)  # being scored again
    client.force_login(scene.pi)
    busy = client.get(reverse("api-read-sr", args=[scene.other_read.pk]), **ZH)
    assert busy.status_code == 409 and busy.json()["detail"] == "该阅片的测量值仍在计算中：请一分钟后重试。"
    english = client.get(reverse("api-read-sr", args=[scene.other_read.pk]))
    assert "still being computed" in english.json()["detail"]

    response = client.get(reverse("api-study-sr", args=[scene.study.pk]), **ZH)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    manifest = {m["reader"]: m for m in csv.DictReader(io.StringIO(archive.read("manifest.csv").decode()))}
    assert manifest["other_reader"]["note"].startswith("This read's measurements are still being computed")
