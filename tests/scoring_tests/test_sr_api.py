"""DICOM SR downloads (issue #19 point 4) against the database: a phantom imported (and de-identified) through the
real import, a read drawn on it, scored and submitted; the SR per read, per case and per study, per role.
"""

from __future__ import annotations

import csv
import io
import zipfile

import pydicom
import pytest
from django.urls import reverse
from django.utils import timezone

from scoring import services
from scoring.dicom_sr import sr_values
from scoring.models import ReadScore, RoiScore
from studies.demo import phantom
from studies.models import Case, Instance, Read, Study
from studies.services.dicom_import import dicom_import_run
from studies.services.reading import roi_create
from tests import factories as f
from tests.scoring_tests.test_dicom_sr import dciodvfy

pytestmark = pytest.mark.django_db


def _box(region, shape: str) -> list[list[float]]:
    c0, c1 = region.col - region.half_width, region.col + region.half_width
    r0, r1 = region.row - region.half_height, region.row + region.half_height
    if shape == "ellipse":
        cc, rc = (c0 + c1) / 2, (r0 + r1) / 2
        return [[cc, r1], [cc, r0], [c0, rc], [c1, rc]]
    if shape == "polygon":
        return [[c0, r0], [c1, r0], [c1, r1], [(c0 + c1) / 2, r1 + 1], [c0, r1]]
    return [[c0, r0], [c1, r0], [c0, r1], [c1, r1]]


def _submitted_read(case: Case, reader, geometry, *, read_number: int = 1) -> Read:
    read = f.make_read(case, reader, read_number=read_number)
    sop = list(case.primary_series.instances.order_by("slice_position"))[geometry.mid_slice_index].sop_instance_uid
    plan = {
        "L1": ("ellipse", geometry.vertebrae["L1"]),
        "L2": ("rectangle", geometry.vertebrae["L2"]),
        "L3": ("polygon", geometry.vertebrae["L3"]),
        "CSF": ("rectangle", geometry.csf["L3"]),
        "NOISE": ("rectangle", geometry.noise),
    }
    for label, (shape, region) in plan.items():
        roi_create(
            read=read,
            user=reader,
            data={"label": label, "shape": shape, "points_px": _box(region, shape), "sop_instance_uid": sop},
        )
    roi_create(read=read, user=reader, data={"label": "L4", "excluded": True, "exclusion_reason": "fracture"})
    services.study_rescore(study_id=case.study_id)
    Read.objects.filter(pk=read.pk).update(status=Read.Status.SUBMITTED, submitted_at=timezone.now())
    return Read.objects.get(pk=read.pk)


@pytest.fixture
def scene(tmp_path):
    """A study (PI), one phantom subject imported and de-identified, two readers with a submitted read each."""
    subject = phantom.demo_cohort()[0]
    geometry = phantom.make_phantom_series(subject, out_dir=tmp_path / "scan", rng_seed=3)
    pi = f.make_user("pi")
    study = f.make_study(pi, name="SR study")
    dicom_import_run(study=study, source=tmp_path / "scan", subject_codes={subject.patient_id: subject.subject_code})
    case = Case.objects.get(study=study)
    reader, other = f.make_user("reader"), f.make_user("other_reader")
    f.add_member(study, reader)
    f.add_member(study, other)
    read = _submitted_read(case, reader, geometry)
    other_read = _submitted_read(case, other, geometry)
    return type(
        "Scene",
        (),
        dict(
            subject=subject,
            geometry=geometry,
            study=study,
            case=case,
            pi=pi,
            reader=reader,
            other=other,
            read=read,
            other_read=other_read,
            outsider=f.make_user("outsider"),
        ),
    )


def _get(client, user, name, **kwargs):
    if user is not None:
        client.force_login(user)
    return client.get(reverse(name, kwargs=kwargs))


def test_the_pi_gets_the_read_with_every_stored_value_and_the_de_identified_references(client, scene):
    response = _get(client, scene.pi, "api-read-sr", pk=scene.read.pk)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/dicom"
    assert 'filename="' in response["Content-Disposition"] and response["Content-Disposition"].endswith('_sr.dcm"')
    data = response.content
    values = sr_values(data)
    assert set(values) == {"L1", "L2", "L3", "CSF", "NOISE", "SCORES"}
    stored = {s.roi.label: s for s in RoiScore.objects.filter(roi__read=scene.read).select_related("roi")}
    score = ReadScore.objects.get(read=scene.read)
    instances = {i.sop_instance_uid for i in Instance.objects.filter(series__case=scene.case)}
    for label, s in stored.items():
        got = values[label]
        assert (got["mean"], got["median"], got["sd"], got["area_mm2"], got["n"]) == (
            s.mean,
            s.median,
            s.sd,
            s.area_mm2,
            s.n,
        ), label
        assert got["sop_instance_uid"] in instances  # the stored (de-identified) instance
        if label in score.snr_levels:
            assert got["snr"] == score.snr_levels[label]
    assert values["L1"]["graphic_type"] == "ELLIPSE"
    assert values["L2"]["graphic_type"] == values["L3"]["graphic_type"] == "POLYLINE"
    scores = values["SCORES"]
    assert (scores["vbq"], scores["snr"]) == (score.vbq, score.snr)
    assert scores["excluded"] == {"L4": "Fracture"}

    ds = pydicom.dcmread(io.BytesIO(data))
    stored_file = pydicom.dcmread(Instance.objects.get(sop_instance_uid=values["L1"]["sop_instance_uid"]).file.path)
    assert ds.PatientID == ds.PatientName == scene.case.subject_code == stored_file.PatientID
    assert ds.StudyInstanceUID == stored_file.StudyInstanceUID
    assert ds.PatientIdentityRemoved == "YES"
    observer = [i for i in ds.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "121008"]
    assert str(observer[0].PersonName) == "reader^"  # the study pseudonym (username), never a real name
    for text in (scene.subject.patient_id, str(scene.subject.patient_name), scene.subject.birth_date):
        assert text.encode() not in data, text
    # the same read gives the same document
    assert _get(client, None, "api-read-sr", pk=scene.read.pk).content == data


def test_the_sr_of_an_imported_read_is_valid_under_dciodvfy(client, scene, tmp_path):
    errors, warnings = dciodvfy(_get(client, scene.pi, "api-read-sr", pk=scene.read.pk).content, tmp_path)
    assert errors == []
    assert all("99VBQR" in w or "Person Name" in w or "DICOMDIR" in w for w in warnings), warnings


def test_the_reader_gets_their_own_read_blinded_as_in_the_viewer(client, scene):
    Study.objects.filter(pk=scene.study.pk).update(reader_roi_stats=Study.ReaderRoiStats.QUALITY)
    response = _get(client, scene.reader, "api-read-sr", pk=scene.read.pk)
    assert response.status_code == 200
    values = sr_values(response.content)
    assert not {"vbq", "snr", "m_score"} & set(values["SCORES"])  # no scores for a reader: only their exclusion
    assert values["SCORES"]["excluded"] == {"L4": "Fracture"}
    for label in ("L1", "L2", "L3", "CSF", "NOISE"):
        assert {"n", "area_mm2"} <= set(values[label]) and not {"mean", "median", "sd", "snr"} & set(values[label])
    Study.objects.filter(pk=scene.study.pk).update(reader_roi_stats=Study.ReaderRoiStats.NONE)
    values = sr_values(_get(client, None, "api-read-sr", pk=scene.read.pk).content)
    assert not {"n", "area_mm2", "mean"} & set(values["L1"]) and values["L1"]["graphic_type"] == "ELLIPSE"


@pytest.mark.parametrize(
    ("who", "status"), [("anon", 401), ("outsider", 404), ("other", 404), ("reader", 200), ("pi", 200)]
)
def test_read_sr_per_role(client, scene, who, status):
    user = None if who == "anon" else getattr(scene, who)
    response = _get(client, user, "api-read-sr", pk=scene.read.pk)
    assert response.status_code == status
    if status != 200:
        assert response.json()["detail"]


def test_a_draft_or_voided_read_or_one_being_scored_has_no_sr_with_a_clear_409(client, scene):
    Read.objects.filter(pk=scene.read.pk).update(status=Read.Status.IN_PROGRESS, submitted_at=None)
    for user in (scene.reader, scene.pi):
        response = _get(client, user, "api-read-sr", pk=scene.read.pk)
        assert response.status_code == 409
        assert "not been submitted yet" in response.json()["detail"]
    Read.objects.filter(pk=scene.read.pk).update(status=Read.Status.VOIDED)
    response = _get(client, scene.pi, "api-read-sr", pk=scene.read.pk)
    assert response.status_code == 409 and "voided" in response.json()["detail"]
    assert _get(client, scene.reader, "api-read-sr", pk=scene.read.pk).status_code == 404  # gone from their view
    Read.objects.filter(pk=scene.read.pk).update(status=Read.Status.SUBMITTED, submitted_at=timezone.now())
    roi = scene.read.rois.get(label="L2")
    type(roi).objects.filter(pk=roi.pk).update(version=roi.version + 1)  # an edit whose job has not run yet
    response = _get(client, scene.pi, "api-read-sr", pk=scene.read.pk)
    assert response.status_code == 409 and "still being computed" in response.json()["detail"]


def test_an_sr_request_accepting_only_dicom_still_gets_its_error_as_json(client, scene):
    Read.objects.filter(pk=scene.read.pk).update(status=Read.Status.IN_PROGRESS, submitted_at=None)
    client.force_login(scene.pi)
    response = client.get(reverse("api-read-sr", args=[scene.read.pk]), HTTP_ACCEPT="application/dicom")
    assert response.status_code == 409 and response.json()["errors"]


def test_a_reader_whose_later_read_is_open_cannot_fetch_the_earlier_one(client, scene):
    f.make_read(scene.case, scene.reader, read_number=2, available_from=timezone.now())
    response = _get(client, scene.reader, "api-read-sr", pk=scene.read.pk)
    assert response.status_code == 403 and "not open" in response.json()["detail"]
    assert _get(client, scene.pi, "api-read-sr", pk=scene.read.pk).status_code == 200


def _zip(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


@pytest.mark.parametrize("name", ["api-case-sr", "api-study-sr"])
@pytest.mark.parametrize(("who", "status"), [("anon", 401), ("outsider", 404), ("reader", 403), ("pi", 200)])
def test_zips_are_for_the_pi(client, scene, name, who, status):
    user = None if who == "anon" else getattr(scene, who)
    kwargs = {"pk": scene.study.pk} | ({"case_id": scene.case.pk} if name == "api-case-sr" else {})
    response = _get(client, user, name, **kwargs)
    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"] == "application/zip"
        archive = _zip(response)
        files = [n for n in archive.namelist() if n.endswith(".dcm")]
        assert len(files) == 2
        for n in files:
            assert sr_values(archive.read(n))["SCORES"]["vbq"] is not None
        manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
        assert sorted(m["reader"] for m in manifest) == ["other_reader", "reader"]
        assert all(m["file"] in files and m["sr_sop_instance_uid"] for m in manifest)


def test_the_case_zip_of_another_study_is_404_and_an_empty_one_409(client, scene):
    other_study = f.make_study(scene.pi)
    assert _get(client, scene.pi, "api-case-sr", pk=other_study.pk, case_id=scene.case.pk).status_code == 404
    response = _get(client, None, "api-study-sr", pk=other_study.pk)
    assert response.status_code == 409 and "No read here has been submitted" in response.json()["detail"]


def test_the_study_zip_lists_a_read_it_cannot_write_and_keeps_the_others(client, scene):
    roi = scene.other_read.rois.get(label="L1")
    type(roi).objects.filter(pk=roi.pk).update(version=roi.version + 1)
    archive = _zip(_get(client, scene.pi, "api-study-sr", pk=scene.study.pk))
    code = scene.case.subject_code
    assert [n for n in archive.namelist() if n.endswith(".dcm")] == [f"{code}/{code}_reader_read1_sr.dcm"]
    manifest = {m["reader"]: m for m in csv.DictReader(io.StringIO(archive.read("manifest.csv").decode()))}
    assert manifest["other_reader"]["file"] == "" and "still being computed" in manifest["other_reader"]["note"]


def test_the_study_zip_costs_a_constant_number_of_queries(client, scene, django_assert_max_num_queries, tmp_path):
    client.force_login(scene.pi)
    url = reverse("api-study-sr", args=[scene.study.pk])
    with django_assert_max_num_queries(12) as few:
        b"".join(client.get(url).streaming_content)
    for i in range(3):  # three more readers: five reads in all
        f.add_member(scene.study, reader := f.make_user(f"more{i}"))
        _submitted_read(scene.case, reader, scene.geometry)
    with django_assert_max_num_queries(len(few.captured_queries)):
        archive = _zip(client.get(url))
    assert len([n for n in archive.namelist() if n.endswith(".dcm")]) == 5


def test_the_pi_pages_link_to_the_downloads(client, scene):
    client.force_login(scene.pi)
    reads = client.get(reverse("study-reads", args=[scene.study.pk])).content.decode()
    read_url = reverse("api-read-sr", args=[scene.read.pk])
    assert f'href="{read_url}"' in reads
    assert f'href="{reverse("api-case-sr", args=[scene.study.pk, scene.case.pk])}"' in reads
    study_url = reverse("api-study-sr", args=[scene.study.pk])
    assert f'href="{study_url}"' in reads
    cases = client.get(reverse("study-cases", args=[scene.study.pk])).content.decode()
    assert f'href="{reverse("api-case-sr", args=[scene.study.pk, scene.case.pk])}"' in cases
    exports = client.get(reverse("analytics-exports", args=[scene.study.pk])).content.decode()
    assert f'href="{study_url}"' in exports
    assert client.get(read_url).status_code == 200  # the page's session is enough (no token)
    Read.objects.filter(pk=scene.read.pk).update(status=Read.Status.IN_PROGRESS, submitted_at=None)
    reads = client.get(reverse("study-reads", args=[scene.study.pk])).content.decode()
    assert f'href="{read_url}"' not in reads  # only submitted reads have an SR


@pytest.mark.parametrize("enhanced", [False, True], ids=["legacy-converted", "enhanced-mr"])
def test_a_read_on_a_multi_frame_file_references_the_file_and_its_frame(client, tmp_path, enhanced):
    mf, _, geometry = f.enhanced_mr(enhanced=enhanced)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "enhanced.dcm").write_bytes(f.part10(mf))
    pi, reader = f.make_user("pi"), f.make_user("reader")
    study = f.make_study(pi)
    f.add_member(study, reader)
    dicom_import_run(study=study, source=tmp_path / "in")
    case = Case.objects.get(study=study)
    read = _submitted_read(case, reader, geometry)
    data = _get(client, pi, "api-read-sr", pk=read.pk).content
    frame = list(case.primary_series.instances.order_by("slice_position"))[geometry.mid_slice_index]
    stored = pydicom.dcmread(frame.file.path, stop_before_pixels=True)
    ds = pydicom.dcmread(io.BytesIO(data))
    refs = []

    def walk(items):
        for item in items:
            for ref in item.get("ReferencedSOPSequence", []):
                refs.append((ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID, int(ref.ReferencedFrameNumber)))
            walk(item.get("ContentSequence", []))

    walk(ds.ContentSequence)
    assert set(refs) == {(stored.SOPClassUID, stored.SOPInstanceUID, frame.frame_number)}
    values = sr_values(data)
    stored_stats = {s.roi.label: s for s in RoiScore.objects.filter(roi__read=read).select_related("roi")}
    assert {label: values[label]["mean"] for label in stored_stats} == {k: s.mean for k, s in stored_stats.items()}
    errors, _ = dciodvfy(data, tmp_path)
    assert errors == []


def test_a_read_whose_roi_cannot_be_written_is_refused_alone(client, scene):
    """An ROI stored with unusable geometry (written around the API's checks) → that read answers 409 with the reason;
    the study zip still holds the other read, and lists this one with the reason (never a broken stream)."""
    roi = scene.read.rois.get(label="L3")
    type(roi).objects.filter(pk=roi.pk).update(points_px=[[1, 1], [2, 2]])
    services.study_rescore(study_id=scene.study.pk, force=True)  # the ROI's statistics: an error, read rescored
    response = _get(client, scene.pi, "api-read-sr", pk=scene.read.pk)
    assert response.status_code == 409 and "polygon needs at least 3 vertices" in response.json()["detail"]
    archive = _zip(_get(client, None, "api-study-sr", pk=scene.study.pk))
    assert len([n for n in archive.namelist() if n.endswith(".dcm")]) == 1
    manifest = {m["reader"]: m for m in csv.DictReader(io.StringIO(archive.read("manifest.csv").decode()))}
    assert "polygon" in manifest["reader"]["note"] and manifest["other_reader"]["file"]


def test_the_zip_is_the_same_whatever_the_chunk_its_reads_are_loaded_in(scene):
    from scoring import sr_export

    reads = sr_export.reads_for_sr(study=scene.study, status=Read.Status.SUBMITTED)
    whole = b"".join(sr_export.sr_zip_stream(reads, folders=True))
    assert b"".join(sr_export.sr_zip_stream(reads, folders=True, chunk=1)) == whole
    assert len([n for n in zipfile.ZipFile(io.BytesIO(whole)).namelist() if n.endswith(".dcm")]) == 2
