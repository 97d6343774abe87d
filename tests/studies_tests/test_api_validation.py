"""Bad input answers 400 in the API's one error shape, never 5xx (issue #22): ROI versions, non-object bodies,
ROI geometry bounds, study settings (API and settings page)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from studies.forms import StudyForm
from studies.models import Roi, Study
from studies.services.roi_payload import MAX_POLYGON_VERTICES
from tests import factories as f

pytestmark = pytest.mark.django_db

NOT_AN_OBJECT = "The request body must be a JSON object."


def _send(client, method, url, body):
    raw = body if isinstance(body, str) else json.dumps(body)
    return getattr(client, method)(url, data=raw, content_type="application/json")


def _assert_400(response, *words):
    assert response.status_code == 400, response.content
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["errors"], list) and body["errors"]
    for word in words:
        assert word in body["detail"], body
    return body


def _roi_url(world):
    return reverse("api-read-roi-detail", args=[world.read.pk, world.roi.pk])


@pytest.mark.parametrize("version", ["abc", "", "1e3", "1", [], {}, 1.5, True, 0, -1, None])
def test_roi_patch_with_a_bad_version_is_400(world, client, version):
    client.force_login(world.reader)
    response = _send(client, "patch", _roi_url(world), {"version": version, "label": "L1"})
    body = _assert_400(response)
    assert "version" in body["detail"]
    roi = Roi.objects.get(pk=world.roi.pk)
    assert roi.version == world.roi.version


@pytest.mark.parametrize("version", ["abc", "1.5", "1e3", "-1", "0", "²", "9" * 5000])
def test_roi_delete_with_a_bad_version_is_400(world, client, version):
    client.force_login(world.reader)
    response = client.delete(_roi_url(world) + "?version=" + version)
    _assert_400(response, "version")
    assert Roi.objects.filter(pk=world.roi.pk).exists()


def test_roi_delete_with_the_right_version_as_digits_works(world, client):
    client.force_login(world.reader)
    assert client.delete(_roi_url(world) + f"?version={world.roi.version}").status_code == 204


@pytest.mark.parametrize("body", ["[]", "[1, 2]", "3", '"text"', "null", "true"])
@pytest.mark.parametrize("who", ["reader", "pi"])
def test_non_object_json_bodies_are_400_on_every_write(world, client, body, who):
    client.force_login(getattr(world, who))
    targets = [
        ("post", reverse("api-read-roi-list", args=[world.read.pk])),
        ("put", _roi_url(world)),
        ("patch", _roi_url(world)),
        ("post", reverse("api-study-list")),
        ("patch", reverse("api-study-detail", args=[world.study.pk])),
    ]
    if who == "pi":  # a reader is refused (403) before the body is read
        targets.append(("post", reverse("api-study-members", args=[world.study.pk])))
    for method, url in targets:
        response = _send(client, method, url, body)
        assert response.status_code == 400, (method, url, response.content)
        assert response.json()["detail"] == NOT_AN_OBJECT
        assert response.json()["errors"] == [NOT_AN_OBJECT]


def test_nan_in_json_is_refused(world, client):
    client.force_login(world.pi)
    response = _send(client, "patch", reverse("api-study-detail", args=[world.study.pk]), '{"roi_area_min_mm2": NaN}')
    assert response.status_code == 400


# --- ROI geometry -------------------------------------------------------------------------------------------------


def _create(client, world, payload):
    return _send(client, "post", reverse("api-read-roi-list", args=[world.read.pk]), payload)


def _polygon(world, n, centre=(16, 16), radius=6.0):
    import math

    points = [
        [centre[0] + radius * math.cos(2 * math.pi * i / n), centre[1] + radius * math.sin(2 * math.pi * i / n)]
        for i in range(n)
    ]
    return f.roi_payload(world.case, "L2") | {"shape": "polygon", "points_px": points}


def test_polygon_vertex_limit(world, client):
    client.force_login(world.reader)
    assert _create(client, world, _polygon(world, MAX_POLYGON_VERTICES)).status_code == 201
    Roi.objects.filter(read=world.read, label="L2").delete()
    body = _assert_400(_create(client, world, _polygon(world, 200_000)), "at most 2,000")
    assert "200,000" in body["detail"]
    assert not Roi.objects.filter(read=world.read, label="L2").exists()


@pytest.mark.parametrize(
    "points",
    [
        [[10, 10], [20, 10], [10, 20], [20, 20.0 + 1e6]],  # far off the image
        [[-5, 10], [20, 10], [-5, 20], [20, 20]],  # partly off the image, beyond the 1-pixel margin
        [[10, 10], [20, 10], [10, 20], ["20", 20]],  # a string
        [[10, 10], [20, 10], [10, 20], [True, 20]],  # a boolean
        [[10, 10], [20, 10], [10, 20], [10**400, 20]],  # too large for a float
        [[10, 10], [20, 10], [10, 20], [20, 20, 3]],  # three numbers
        [[10, 10], [20, 10], [10, 20], "ab"],  # a two-letter string is not a pair
        [[10, 10], [20, 10], [10, 20], {"0": 1, "1": 2}],
    ],
)
def test_bad_points_are_400(world, client, points):
    client.force_login(world.reader)
    response = _create(client, world, f.roi_payload(world.case, "L2") | {"points_px": points})
    _assert_400(response)
    assert not Roi.objects.filter(read=world.read, label="L2").exists()


def test_points_within_the_margin_are_accepted(world, client):
    client.force_login(world.reader)
    series = world.case.primary_series
    c1, r1 = series.columns - 1 + 1.0, series.rows - 1 + 1.0  # on the margin's far edge
    points = [[-1.0, -1.0], [c1, -1.0], [-1.0, r1], [c1, r1]]
    response = _create(client, world, f.roi_payload(world.case, "L2") | {"points_px": points})
    assert response.status_code == 201, response.content


# --- study settings ----------------------------------------------------------------------------------------------

BAD_SETTINGS = [
    ({"roi_area_min_mm2": 500, "roi_area_max_mm2": 10}, "roi_area_max_mm2"),
    ({"roi_area_min_mm2": 50, "roi_area_max_mm2": 50}, "roi_area_max_mm2"),
    ({"roi_area_min_mm2": -1}, "roi_area_min_mm2"),
    ({"roi_area_max_mm2": -10}, "roi_area_max_mm2"),
    ({"roi_area_max_mm2": 1e300}, "roi_area_max_mm2"),
    ({"reads_per_reader": 0}, "reads_per_reader"),
    ({"reads_per_reader": 11}, "reads_per_reader"),
    ({"washout_days": -1}, "washout_days"),
    ({"washout_days": 366}, "washout_days"),
    ({"min_levels_vbq": 0}, "min_levels_vbq"),
    ({"min_levels_vbq": 9}, "min_levels_vbq"),
    ({"randomisation_seed": -5}, "randomisation_seed"),
    ({"reads_per_reader": "two"}, "reads_per_reader"),
]


@pytest.mark.parametrize(("change", "field"), BAD_SETTINGS)
def test_pi_cannot_save_bad_study_settings(world, client, change, field):
    client.force_login(world.pi)
    before = {k: getattr(world.study, k) for k in change}
    response = _send(client, "patch", reverse("api-study-detail", args=[world.study.pk]), change)
    body = _assert_400(response)
    assert field in " ".join(body["errors"]), body
    study = Study.objects.get(pk=world.study.pk)
    assert {k: getattr(study, k) for k in change} == before


@pytest.mark.parametrize(("change", "field"), BAD_SETTINGS[:4])
def test_new_study_with_bad_settings_is_400(world, client, change, field):
    client.force_login(f.allow_study_creation(world.reader))  # allowed to create a study (and become its PI)
    response = _send(client, "post", reverse("api-study-list"), {"name": "Bad", **change})
    _assert_400(response)
    assert not Study.objects.filter(name="Bad").exists()


def test_reader_patching_settings_is_403_or_400_never_saved(world, client):
    client.force_login(world.reader)
    url = reverse("api-study-detail", args=[world.study.pk])
    assert _send(client, "patch", url, {"reads_per_reader": 3}).status_code == 403
    assert _send(client, "patch", url, {"reads_per_reader": 0}).status_code in (400, 403)
    assert Study.objects.get(pk=world.study.pk).reads_per_reader == world.study.reads_per_reader


def test_good_edge_settings_are_accepted(world, client):
    client.force_login(world.pi)
    change = {"roi_area_min_mm2": 0, "roi_area_max_mm2": 0.5, "reads_per_reader": 10, "washout_days": 365}
    response = _send(
        client, "patch", reverse("api-study-detail", args=[world.study.pk]), change | {"min_levels_vbq": 4}
    )
    assert response.status_code == 200, response.content
    assert response.json()["min_levels_vbq"] == 4


@pytest.mark.parametrize(("change", "field"), BAD_SETTINGS[:12])
def test_settings_form_refuses_the_same(world, change, field):
    data = {k: getattr(world.study, k) for k in StudyForm.Meta.fields} | change
    form = StudyForm(data=data, instance=world.study)
    assert not form.is_valid()
    assert field in form.errors, form.errors


def test_schema_documents_errors_and_bounds(world, client):
    client.force_login(world.pi)
    schema = client.get(reverse("api-schema") + "?format=json").json()
    roi = schema["paths"]["/api/reads/{read_pk}/rois/{id}/"]
    for method in ("put", "patch", "delete"):
        assert {"400", "403", "404", "409"} <= set(roi[method]["responses"]), method
    assert {"400", "403", "404"} <= set(schema["paths"]["/api/studies/{id}/"]["patch"]["responses"])
    study = schema["components"]["schemas"]["PatchedStudy"]["properties"]
    assert study["reads_per_reader"]["minimum"] == 1 and study["reads_per_reader"]["maximum"] == 10
    assert study["washout_days"]["maximum"] == 365
    assert study["min_levels_vbq"]["minimum"] == 1
    points = schema["components"]["schemas"]["Roi"]["properties"]["points_px"]
    assert points["maxItems"] == MAX_POLYGON_VERTICES
    assert schema["components"]["schemas"]["Roi"]["properties"]["version"]["minimum"] == 1
