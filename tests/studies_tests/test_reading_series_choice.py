"""The reading series of a case: the sagittal T1 series with the most slices; close candidates are flagged for
the PI ("series to confirm"); the PI's choice stays through later imports."""

from __future__ import annotations

import dataclasses

import pydicom
import pytest
from django.urls import reverse
from pydicom.uid import generate_uid

from studies.demo import phantom
from studies.models import Case
from studies.services.dicom_import import dicom_import_run
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """One patient: a 13-image sagittal T1 series, a 1-image one (a localiser-like copy of the middle slice),
    and another 13-image export of the same scan."""
    root = tmp_path_factory.mktemp("series-choice")
    subject = dataclasses.replace(phantom.demo_cohort()[0], patient_id="PID-SERIES-1")
    geometry = phantom.make_phantom_series(subject, out_dir=root / "full", rng_seed=7)
    phantom.make_phantom_series(subject, out_dir=root / "twin", rng_seed=8)
    ds = pydicom.dcmread(geometry.files[6])
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.InstanceNumber = 1
    (root / "single").mkdir()
    ds.save_as(root / "single" / "IM0001.dcm", enforce_file_format=True)
    return root


@pytest.fixture(autouse=True)
def _in_process(settings):
    settings.IMPORT_PROCESSES = 0


def _primary_count(case: Case) -> int:
    case.refresh_from_db()
    return case.primary_series.instances.count()


@pytest.mark.parametrize("order", [("single", "full"), ("full", "single")])
def test_the_13_image_series_wins_over_the_1_image_one(scans, order):
    study = f.make_study()
    for part in order:  # separate imports, either order
        assert dicom_import_run(study=study, source=scans / part).rejected == 0
    case = Case.objects.get(study=study)
    assert case.series.count() == 2
    assert _primary_count(case) == 13
    assert case.series_to_confirm is False  # 1 vs 13 is no close call


def test_one_import_with_both_series(scans, tmp_path):
    study = f.make_study()
    outcome = dicom_import_run(study=study, source=scans, only=lambda rel: rel.split("/")[0] in {"single", "full"})
    assert outcome.accepted == 14, outcome.report
    case = Case.objects.get(study=study)
    assert _primary_count(case) == 13 and not case.series_to_confirm


def test_close_candidates_are_flagged_and_the_pi_choice_stays(scans, client):
    study = f.make_study()
    dicom_import_run(study=study, source=scans, only=lambda rel: rel.split("/")[0] in {"full", "twin"})
    case = Case.objects.get(study=study)
    assert case.series.count() == 2 and _primary_count(case) == 13
    assert case.series_to_confirm is True
    client.force_login(study.created_by)
    page = client.get(reverse("study-cases", args=[study.pk])).content.decode()
    assert "series to confirm" in page
    other = case.series.exclude(pk=case.primary_series_id).get()
    response = client.post(reverse("study-case-primary-series", args=[study.pk, case.pk]), {"series": other.pk})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.primary_series_id == other.pk and not case.series_to_confirm
    dicom_import_run(study=study, source=scans / "single")  # a later import leaves the PI's choice alone
    case.refresh_from_db()
    assert case.primary_series_id == other.pk and case.series.count() == 3
    assert "series to confirm" not in client.get(reverse("study-cases", args=[study.pk])).content.decode()
