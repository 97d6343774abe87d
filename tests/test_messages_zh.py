"""The viewer's ROI-save refusals and the import jobs' stored errors in Chinese (issue #18 point 7).

- the API's 400 answer to an ROI save is in the request's language (``Accept-Language``), and its English wording
  is unchanged; the geometry messages of the pure :mod:`studies.roi_geometry` are translated at the service layer;
- an import job's error is stored in English and shown translated on the import pages, values and all.
"""

from __future__ import annotations

import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from studies import job_messages as msg
from studies.models import ImportJob
from studies.roi_geometry import roi_mask
from studies.roi_shapes import SHAPES, RoiGeometryError
from studies.services.import_files import _Source
from studies.services.roi_payload import geometry_message
from tests import factories as f

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en-GB"}


@pytest.fixture(autouse=True)
def _english_after_each_test():
    yield
    translation.activate("en-gb")


def _post_roi(client, world, payload, headers):
    url = reverse("api-read-roi-list", args=[world.read.pk])
    return client.post(url, payload, content_type="application/json", **headers)


@pytest.mark.django_db
def test_an_roi_off_the_image_is_refused_in_the_readers_language(world, client):
    client.force_login(world.reader)
    payload = f.roi_payload(world.case, "L2", box=(10, 10, 5000, 20))
    english = _post_roi(client, world, payload, EN)
    assert english.status_code == 400, english.content
    assert english.json()["detail"].startswith("The rectangle has 2 point(s) off the image (the first at column 5000.0")
    assert english.json()["detail"].endswith("pixels). Keep the ROI on the image.")
    chinese = _post_roi(client, world, payload, ZH)
    assert chinese.status_code == 400
    assert chinese.json()["detail"].startswith("该矩形有 2 个点位于图像之外（第一个位于第 5000.0 列")
    assert chinese.json()["errors"] == [chinese.json()["detail"]]


@pytest.mark.django_db
def test_shape_label_and_geometry_refusals_in_chinese(world, client):
    client.force_login(world.reader)
    shape = _post_roi(client, world, {**f.roi_payload(world.case, "L2"), "shape": "circle"}, ZH)
    assert shape.status_code == 400 and shape.json()["detail"] == (
        "未知的 ROI 形状“circle”。请使用矩形（rectangle）、椭圆（ellipse）或多边形（polygon）。"
    )
    assert _post_roi(client, world, {**f.roi_payload(world.case, "L2"), "shape": "circle"}, EN).json()["detail"] == (
        "Unknown ROI shape “circle”. Use rectangle, ellipse or polygon."
    )
    label = _post_roi(client, world, f.roi_payload(world.case, "L9"), ZH)
    assert label.json()["detail"].startswith("未知的 ROI 标签“L9”。请使用以下之一：L1, ")
    flat = {**f.roi_payload(world.case, "L2"), "points_px": [[10, 10], [20, 10], [10, 10], [20, 10]]}
    assert _post_roi(client, world, flat, ZH).json()["detail"] == "该矩形的宽度或高度为零——请画得大一些。"
    assert _post_roi(client, world, flat, EN).json()["detail"] == (
        "The rectangle has zero width or height — draw it larger."
    )
    few = {**f.roi_payload(world.case, "L2"), "shape": "polygon", "points_px": [[10, 10], [20, 10]]}
    assert _post_roi(client, world, few, ZH).json()["detail"] == "多边形至少需要 3 个点，实际收到 2 个。"


def test_geometry_errors_keep_their_english_and_translate_with_their_values():
    with pytest.raises(RoiGeometryError) as caught:
        roi_mask("ellipse", [[1, 1], [2, 2]], 64, 64, 1.0, 1.0)
    assert str(caught.value) == "An ellipse needs exactly 4 points, got 2."
    with pytest.raises(RoiGeometryError) as outside:
        roi_mask("ellipse", [[500, 520], [500, 480], [480, 500], [520, 500]], 64, 64, 1.0, 1.0)
    assert str(outside.value) == (
        "The ellipse lies entirely outside the image (image is 64 × 64 pixels; ROI spans columns 480.0–520.0, "
        "rows 480.0–520.0)."
    )
    with pytest.raises(RoiGeometryError) as unknown:
        roi_mask("circle", [[1, 1]], 64, 64, 1.0, 1.0)
    assert str(unknown.value) == "Unknown ROI shape 'circle'; expected one of: rectangle, ellipse, polygon."
    with translation.override("zh-hans"):
        assert geometry_message(caught.value) == "椭圆需要恰好 4 个点，实际收到 2 个。"
        assert geometry_message(outside.value).startswith("该椭圆完全位于图像之外（图像为 64 × 64 像素")
        assert (
            geometry_message(unknown.value) == "未知的 ROI 形状 'circle'；应为以下之一：rectangle, ellipse, polygon。"
        )
    with translation.override("en-gb"):
        assert geometry_message(outside.value) == str(outside.value)


def test_every_shape_has_its_point_count_message():
    from studies.roi_geometry import POINT_COUNT

    assert set(POINT_COUNT) == set(SHAPES)


#: One stored error per message with values, and a value for each placeholder.
SAMPLES = {
    message: message % {name: f"<{name}>" for name in msg._PLACEHOLDER.findall(message)} for message in msg.WITH_VALUES
}


@pytest.mark.parametrize("message", msg.WITH_VALUES)
def test_every_stored_error_with_values_is_recognised(message):
    stored = SAMPLES[message]
    with translation.override("en-gb"):
        assert msg.import_error_shown(stored) == stored
    with translation.override("zh-hans"):
        shown = msg.import_error_shown(stored)
    assert shown != stored and all(f"<{n}>" in shown for n in msg._PLACEHOLDER.findall(message) if n != "message")


def test_a_pull_error_is_translated_inside_and_out():
    stored = msg.PULL_NOTHING_IMPORTED % {
        "message": msg.PULL_AUTH % {"server": "Hospital PACS", "code": 401},
    }
    assert stored == (
        "Hospital PACS refused the request (HTTP 401): check the user name and password or the token. "
        "Nothing from this pull was imported."
    )
    with translation.override("zh-hans"):
        assert msg.import_error_shown(stored) == (
            "Hospital PACS 拒绝了请求（HTTP 401）：请检查用户名和密码或令牌。 本次拉取的内容均未导入。"
        )
        assert msg.import_error_shown("Something else entirely.") == "Something else entirely."


def _zip(tmp_path, members: dict[str, bytes]):
    path = tmp_path / "images.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_zip_refusals_are_stored_in_english(tmp_path, settings):
    settings.IMPORT_ZIP_MAX_FILES = 1
    with pytest.raises(ValidationError) as many:
        with _Source(_zip(tmp_path, {"a.dcm": b"x", "b.dcm": b"y"})):
            pass
    assert many.value.messages == ["The archive holds more than 1 files (2); import it in several parts."]
    settings.IMPORT_ZIP_MAX_FILES = 10
    with pytest.raises(ValidationError) as unsafe:
        with _Source(_zip(tmp_path, {"../evil.dcm": b"x"})):
            pass
    assert unsafe.value.messages == ["The zip contains an unsafe path: '../evil.dcm'."]


@pytest.mark.django_db
def test_the_import_pages_show_a_stored_zip_error_in_chinese(client):
    study = f.make_study(f.make_user("pi"), name="VBQ vs QCT")
    error = msg.ZIP_RATIO % {"name": repr("series1/IM0001"), "ratio": 200}
    job = ImportJob.objects.create(study=study, source="x.zip", status=ImportJob.Status.FAILED, error=error)
    client.force_login(study.created_by)
    chinese = "压缩包中的一个文件（&#x27;series1/IM0001&#x27;）压缩比超过 200:1，这是 zip 炸弹的特征；该文件未被解压。"
    for url in (reverse("study-imports", args=[study.pk]), reverse("study-import-detail", args=[study.pk, job.pk])):
        assert chinese in client.get(url, **ZH).content.decode(), url
        assert error.replace("'", "&#x27;") in client.get(url, **EN).content.decode(), url
    job.refresh_from_db()
    assert job.error == error  # stored as written


def test_report_reasons_with_values_are_shown_in_chinese():
    from studies.import_reasons import report_row_for_page

    duplicate = msg.REASON_DUPLICATE % {"other": repr("a/IM1")}
    assert duplicate == "The same image (SOP Instance UID) is also in 'a/IM1'; this copy was ignored."
    lost = msg.REASON_LOST % {"node": "MRI_1", "n": 12}
    rows = [
        {"file": "a/IM2", "outcome": "skipped", "code": "duplicate_sop_instance", "reason": duplicate},
        {"file": "b", "outcome": "skipped", "code": "already_imported", "reason": msg.REASON_ALREADY_IMPORTED},
        {"file": "(association)", "outcome": "rejected", "code": "association_aborted", "reason": lost},
    ]
    with translation.override("zh-hans"):
        shown = [report_row_for_page(row) for row in rows]
    assert [row["detail"] for row in shown] == [
        "相同的图像（SOP Instance UID）也在 'a/IM1' 中；此副本已被忽略。",
        "该图像已在本研究中；没有任何更改。",
        "MRI_1 在发送 12 张完整图像后断开了连接：这些图像会被导入；当时正在发送的图像以及尚未发送的图像均未收到——"
        "请重新发送该序列（已导入的图像会被跳过）。",
    ]
    assert all(row["detail_translated"] for row in shown)
    with translation.override("en-gb"):
        assert [report_row_for_page(row)["detail"] for row in rows] == [row["reason"] for row in rows]
