"""The PI's Hospital DICOM page in Chromium (#19): set the study's AE title, register Orthanc as a DICOMweb server,
search it by Patient ID, tick the series and pull it — the case appears, de-identified, through an import job."""

from __future__ import annotations

import pydicom
import pytest

from studies.models import Case, DicomReceiver, DicomWebServer, ImportJob
from tests import factories as f
from tests.dicom_net.conftest import orthanc_factory, phantom_files  # noqa: F401  (fixtures)
from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e


def test_pi_sets_the_ae_title_then_searches_and_pulls_a_series(
    context,
    transactional_db,
    orthanc_factory,  # noqa: F811  (the fixture imported above)
    phantom_files,  # noqa: F811
):
    orthanc = orthanc_factory(users={"pacs": "pacs-pw"})
    orthanc.upload(phantom_files)
    original = pydicom.dcmread(phantom_files[0])
    pi = f.make_user("pi")
    study = f.make_study(pi, name="DICOM E2E")

    page = context.new_page()
    login(page, "pi")
    page.goto(f"/studies/{study.pk}/")
    page.click("text=Hospital DICOM")
    page.fill("#id_ae_title", "VBQ_E2E")
    page.click("text=Start receiving")
    page.wait_for_selector("text=images sent to it now go to this study")
    assert DicomReceiver.objects.get(study=study).ae_title == "VBQ_E2E"

    page.fill("#id_name", "Test PACS")
    page.fill("#id_url", orthanc.url + "/dicom-web")
    page.select_option("#id_auth", "basic")
    page.fill("#id_username", "pacs")
    page.fill("#id_secret", "pacs-pw")
    page.click("text=Add server")
    page.wait_for_selector("td:has-text('Test PACS')")
    assert "pacs-pw" not in DicomWebServer.objects.get(study=study).secret_encrypted

    page.fill("#id_patient_id", original.PatientID)
    page.click("button:has-text('Search')")
    table = page.wait_for_selector("table[aria-label='Studies found']")
    assert original.PatientID in table.inner_text()  # the PI sees the PACS's identities; nothing is stored
    page.check(f"input[name=pick][value='{original.StudyInstanceUID}|{original.SeriesInstanceUID}']")
    page.click("text=Pull and import")
    page.wait_for_url("**/imports/**")
    job = ImportJob.objects.get(study=study)
    assert job.status == "done" and job.accepted == 13, job.error
    case = Case.objects.get(study=study)
    assert case.subject_code != original.PatientID
    assert original.PatientID not in page.content()
