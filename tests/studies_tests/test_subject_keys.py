"""Identity: the Patient Name is never kept; the Patient ID only encrypted, when the PI keeps the mapping.

Files with a Patient Name and ID we chose go through the real import; a dump of the database (and, on SQLite,
the database file) holds neither in plain text. The PI's page shows the decrypted ID; view, export and
deletion are audited; after a deletion a re-import finds the same case (keyed digest), no duplicate.
"""

from __future__ import annotations

import dataclasses
import glob
import io
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from studies.demo import phantom
from studies.models import AuditEvent, Case, Instance, SubjectKey
from studies.services import subject_keys
from studies.services.dicom_import import dicom_import_run
from tests import factories as f

pytestmark = pytest.mark.django_db

PATIENT_ID = "PID-QX-738291"
PATIENT_NAME = "Zebulon^Quarternight"


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    root = tmp_path_factory.mktemp("identity")
    subject = dataclasses.replace(phantom.demo_cohort()[0], patient_id=PATIENT_ID, patient_name=PATIENT_NAME)
    phantom.make_phantom_series(subject, out_dir=root / "P1", rng_seed=5)
    return root


@pytest.fixture
def imported(scans, settings):
    settings.IMPORT_PROCESSES = 0
    pi = f.make_user()
    study = f.make_study(pi, keep_subject_mapping=True)
    outcome = dicom_import_run(study=study, source=scans)
    assert outcome.accepted == 13, outcome.report
    return pi, study


def _dump() -> str:
    out = io.StringIO()
    call_command("dumpdata", "studies", "auth", "scoring", stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)  # committed: the rows are in the database file
def test_the_database_holds_neither_the_name_nor_the_plain_id(imported):
    _, study = imported
    key = SubjectKey.objects.get(case__study=study)
    assert subject_keys.decrypt_patient_id(key.patient_id_encrypted) == PATIENT_ID
    code = Case.objects.get(study=study).subject_code
    dump = _dump()
    assert code in dump  # the dump has the case …
    for text in (PATIENT_ID, PATIENT_NAME, "Zebulon", "Quarternight"):
        assert text not in dump, text  # … and neither identifier
    assert not any(fl.name.startswith("original_patient") for fl in SubjectKey._meta.get_fields())
    if connection.vendor == "sqlite":  # the database file itself (and its write-ahead log)
        path = str(connection.settings_dict["NAME"])
        files = [] if ":memory:" in path or "mode=memory" in path else glob.glob(f"{path}*")
        assert any(code.encode() in Path(name).read_bytes() for name in files)  # the scan sees the rows
        for name in files:
            raw = Path(name).read_bytes()
            assert PATIENT_ID.encode() not in raw and b"Quarternight" not in raw, name


def test_the_pi_page_shows_the_decrypted_id_and_every_look_is_audited(imported, client):
    pi, study = imported
    client.force_login(pi)
    page = client.get(reverse("study-subject-keys", args=[study.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert PATIENT_ID in text and "Quarternight" not in text
    assert AuditEvent.objects.filter(study=study, action="subject_mapping.view").count() == 1
    csv = client.get(reverse("study-subject-keys-export", args=[study.pk]))
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert csv.content.decode().splitlines() == [
        "subject_code,patient_id",
        f"{Case.objects.get(study=study).subject_code},{PATIENT_ID}",
    ]
    assert AuditEvent.objects.filter(study=study, action="subject_mapping.export").count() == 1
    audits = " ".join(str(e.data) for e in AuditEvent.objects.filter(study=study))
    assert PATIENT_ID not in audits


def test_readers_and_outsiders_do_not_get_the_mapping(imported, client):
    _, study = imported
    reader, outsider = f.make_user(), f.make_user()
    f.add_member(study, reader)
    for user, expected in ((reader, 403), (outsider, 404)):
        client.force_login(user)
        for name in ("study-subject-keys", "study-subject-keys-export"):
            assert client.get(reverse(name, args=[study.pk])).status_code == expected
        assert client.post(reverse("study-subject-keys-delete", args=[study.pk])).status_code == expected
    assert SubjectKey.objects.filter(case__study=study).count() == 1
    assert not AuditEvent.objects.filter(study=study, action__startswith="subject_mapping").exists()


def test_delete_is_audited_and_a_reimport_finds_the_same_case(imported, client, scans, tmp_path):
    pi, study = imported
    client.force_login(pi)
    response = client.post(reverse("study-subject-keys-delete", args=[study.pk]))
    assert response.status_code == 302
    assert not SubjectKey.objects.filter(case__study=study).exists()
    assert AuditEvent.objects.filter(study=study, action="subject_mapping.delete").count() == 1
    study.refresh_from_db()
    assert study.keep_subject_mapping is False  # else the next import would store it again
    again = dicom_import_run(study=study, source=scans)
    assert again.accepted == 0 and again.skipped == 13
    # the same patient's images under new UIDs (another export of the scan) still go to the same case
    subject = dataclasses.replace(phantom.demo_cohort()[0], patient_id=PATIENT_ID, patient_name=PATIENT_NAME)
    phantom.make_phantom_series(subject, out_dir=tmp_path / "again" / "P1b", rng_seed=6)
    more = dicom_import_run(study=study, source=tmp_path / "again")
    assert more.accepted == 13, more.report
    assert Case.objects.filter(study=study).count() == 1
    assert Instance.objects.filter(series__case__study=study).count() == 26
    assert not SubjectKey.objects.filter(case__study=study).exists()


def test_production_without_a_key_fails_clearly(settings):
    subject_keys._fernet.cache_clear()
    settings.VBQ_MAPPING_KEY = ""
    settings.VBQ_MAPPING_KEY_FROM_SECRET = False
    try:
        with pytest.raises(ImproperlyConfigured, match="VBQ_MAPPING_KEY"):
            subject_keys.encrypt_patient_id("X")
        settings.VBQ_MAPPING_KEY = "not-a-key"
        with pytest.raises(ImproperlyConfigured, match="Fernet"):
            subject_keys.encrypt_patient_id("X")
        from cryptography.fernet import Fernet

        settings.VBQ_MAPPING_KEY = Fernet.generate_key().decode()
        token = subject_keys.encrypt_patient_id("X")
        assert subject_keys.decrypt_patient_id(token) == "X"
    finally:
        subject_keys._fernet.cache_clear()


def test_a_study_without_the_mapping_needs_no_key(scans, settings):
    settings.IMPORT_PROCESSES = 0
    settings.VBQ_MAPPING_KEY = ""
    settings.VBQ_MAPPING_KEY_FROM_SECRET = False
    study = f.make_study(keep_subject_mapping=False)
    assert dicom_import_run(study=study, source=scans).accepted == 13
    assert not SubjectKey.objects.filter(case__study=study).exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_ids_and_drops_the_names():
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("studies", "0004_study_setting_bounds")], [("studies", "0005_subject_key_encrypted")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    study = old.get_model("studies", "Study").objects.create(name="old")
    case = old.get_model("studies", "Case").objects.create(study=study, subject_code="S001")
    old.get_model("studies", "SubjectKey").objects.create(
        case=case, original_patient_id=PATIENT_ID, original_patient_name=PATIENT_NAME
    )
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    key = executor.loader.project_state(after).apps.get_model("studies", "SubjectKey").objects.get(case_id=case.pk)
    assert subject_keys.decrypt_patient_id(key.patient_id_encrypted) == PATIENT_ID
    assert {f.name for f in key._meta.get_fields()} == {"id", "case", "patient_id_encrypted"}
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    dump = _dump()
    assert "S001" in dump and PATIENT_ID not in dump and "Quarternight" not in dump
