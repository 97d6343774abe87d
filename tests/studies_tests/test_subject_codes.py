"""Subject codes chosen by the PI (CSV before the import) and re-keying a study (issue #15)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from pydicom import dcmread

from studies.demo import phantom
from studies.models import AuditEvent, Case, ImportJob, Instance, SubjectCodeAssignment
from studies.services.dicom_import import dicom_import_run
from studies.services.import_cases import patient_digest
from studies.services.membership import StudyLocked, study_lock
from studies.services.subject_code_csv import SubjectCodeImportError, subject_codes_import
from studies.services.subject_rekey import RekeyRefused, subject_codes_rekey
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def two_subjects(tmp_path_factory):
    """Two phantom subjects' series (13 slices each) in one folder."""
    root = tmp_path_factory.mktemp("codes")
    subjects = phantom.demo_cohort()[:2]
    for s in subjects:
        phantom.make_phantom_series(s, out_dir=root / s.subject_code, rng_seed=7)
    return root, subjects


@pytest.fixture
def study(db):
    return f.make_study(f.make_user("pi"), name="Codes study")


def upload(study, text, **kw):
    return subject_codes_import(study=study, file_bytes_or_text=text, user=study.created_by, **kw)


def rejected(study, text, **kw) -> list[tuple[int, str, str]]:
    before = list(SubjectCodeAssignment.objects.filter(study=study).values_list("patient_digest", "subject_code"))
    with pytest.raises(SubjectCodeImportError) as info:
        upload(study, text, **kw)
    after = list(SubjectCodeAssignment.objects.filter(study=study).values_list("patient_digest", "subject_code"))
    assert after == before  # nothing partial stored
    return [(e.line, e.column, e.message) for e in info.value.errors]


# --------------------------------------------------------------------------------------------- the file


def test_codes_are_stored_by_digest_and_used_by_the_import(study, two_subjects):
    root, subjects = two_subjects
    a, b = subjects
    result = upload(study, f"patient_id,subject_code\n{a.patient_id},KNEE-01\n{b.patient_id},KNEE-02\n")
    assert (result.rows, result.pending, result.matched) == (2, 2, 0)
    stored = SubjectCodeAssignment.objects.filter(study=study)
    assert {(r.patient_digest, r.subject_code) for r in stored} == {
        (patient_digest(study, a.patient_id), "KNEE-01"),
        (patient_digest(study, b.patient_id), "KNEE-02"),
    }
    assert not any(a.patient_id in str(v) for r in stored.values() for v in r.values())  # only the digest
    event = AuditEvent.objects.get(study=study, action="subject_codes.upload")
    assert event.data["pending"] == 2 and a.patient_id not in str(event.data) and "KNEE" not in str(event.data)

    outcome = dicom_import_run(study=study, source=root)
    assert outcome.rejected == 0
    codes = dict(Case.objects.filter(study=study).values_list("patient_digest", "subject_code"))
    assert codes == {patient_digest(study, a.patient_id): "KNEE-01", patient_digest(study, b.patient_id): "KNEE-02"}
    stored_file = Instance.objects.filter(series__case__subject_code="KNEE-01").first()
    assert dcmread(stored_file.file.path).PatientID == "KNEE-01"

    # after the import: the same file again is accepted (the patients keep their codes; nothing pending)
    again = upload(study, f"patient_id,subject_code\n{a.patient_id},KNEE-01\n{b.patient_id},KNEE-02\n")
    assert (again.pending, again.matched) == (0, 2)


def test_random_codes_avoid_the_assigned_ones(study, two_subjects, monkeypatch):
    root, subjects = two_subjects
    upload(study, f"patient_id,subject_code\n{subjects[0].patient_id},S-2222\n")
    from studies.services import import_cases

    draws = iter("2222" + "3333")  # the first random draw is the assigned code: it must be redrawn
    drawn = import_cases.new_subject_code
    monkeypatch.setattr(
        import_cases, "new_subject_code", lambda taken, **kw: drawn(taken, choice=lambda a: next(draws), **kw)
    )
    dicom_import_run(study=study, source=root)
    codes = dict(Case.objects.filter(study=study).values_list("patient_digest", "subject_code"))
    assert sorted(codes.values()) == ["S-2222", "S-3333"]
    assert codes[patient_digest(study, subjects[0].patient_id)] == "S-2222"


def test_empty_file(study):
    assert rejected(study, "")[0][2].startswith("the file is empty")
    assert rejected(study, "# only a comment\n\n")[0][2].startswith("the file is empty")
    assert rejected(study, "patient_id,subject_code\n") == [
        (1, "", "the file has a header but no data rows: nothing to assign.")
    ]


def test_header_problems(study):
    errors = rejected(study, "patient_id,code,birth_date\nP1,ABC\n")
    assert errors == [
        (
            1,
            "birth_date",
            "unknown column: the file holds patient_id, subject_code and optionally patient_name only.",
        )
    ]
    assert rejected(study, "patient_id\nP1\n") == [
        (1, "subject_code", "this required column is missing from the header.")
    ]


@pytest.mark.parametrize(
    "code",
    ["AB", "ABCDEFGHIJKLMNOPQ", "-ABC", "S 001", "S_001", "SÖ01", "S-0/1"],
    ids=["short", "long", "leading-dash", "space", "underscore", "non-ascii", "slash"],
)
def test_code_pattern(study, code):
    (line, column, message), *_ = rejected(study, f"patient_id,subject_code\nP1,{code}\n")
    assert (line, column) == (2, "subject_code") and "is not a valid code" in message


def test_codes_of_3_to_16_letters_digits_and_dashes_are_accepted(study):
    upload(study, "patient_id,subject_code\nP1,AB1\nP2,ABCDEFGHIJ-12345\nP3,9-X\n")
    assert SubjectCodeAssignment.objects.filter(study=study).count() == 3


def test_duplicates_within_the_file(study):
    errors = rejected(study, "patient_id,subject_code\nP1,K-001\nP2,k-001\nP1,K-003\n")
    assert errors == [
        (3, "subject_code", "duplicate: “k-001” is already the code on line 2."),
        (4, "patient_id", "duplicate: this Patient ID is already on line 2."),
    ]


def test_missing_values(study):
    errors = rejected(study, "patient_id,subject_code\n,K-001\nP2,\n")
    assert errors == [
        (2, "patient_id", "missing: every row needs the Patient ID."),
        (3, "subject_code", "missing: every row needs the subject code."),
    ]


def test_code_equal_to_a_patient_id_or_name_of_the_file(study):
    errors = rejected(
        study,
        "patient_id,subject_code,patient_name\nPID123,pid456,DOE^John\nPID456,K-002,ROE^Jane\nPID789,Doe,\n",
    )
    assert [(line, column) for line, column, _ in errors] == [(2, "subject_code"), (4, "subject_code")]
    assert "is a Patient ID (line 3)" in errors[0][2]
    assert "is (part of) a Patient Name (line 2)" in errors[1][2]
    assert "own" not in errors[0][2]
    errors = rejected(study, "patient_id,subject_code\nABC123,ABC123\n")  # its own Patient ID
    assert "is a Patient ID (line 2)" in errors[0][2]


def test_code_equal_to_the_patient_id_of_an_imported_subject(study):
    Case.objects.create(study=study, subject_code="S-ABCD", patient_digest=patient_digest(study, "PID0042"))
    errors = rejected(study, "patient_id,subject_code\nPNEW,PID0042\n", new_patients=True)
    assert errors == [
        (
            2,
            "subject_code",
            "“PID0042” is the Patient ID of a subject already imported: a code must not identify the patient.",
        )
    ]


def test_duplicate_of_an_existing_case_and_imported_patients_keep_their_code(study):
    Case.objects.create(study=study, subject_code="S-ABCD", patient_digest=patient_digest(study, "P1"))
    errors = rejected(study, "patient_id,subject_code\nP2,s-abcd\nP1,K-009\n", new_patients=True)
    assert errors == [
        (2, "subject_code", "duplicate: “S-ABCD” is already the code of another subject of this study."),
        (
            3,
            "subject_code",
            "this patient is already in the study as “S-ABCD”: the codes of imported subjects change only by "
            "re-keying the study (before the reading plan).",
        ),
    ]


def test_unknown_patients_once_the_study_has_cases(study):
    Case.objects.create(study=study, subject_code="S-ABCD", patient_digest=patient_digest(study, "P1"))
    text = "patient_id,subject_code\nP1,S-ABCD\nP2,K-002\n"
    ((line, column, message),) = rejected(study, text)
    assert (line, column) == (3, "patient_id") and message.startswith("unknown patient: no case of this study")
    # the PI says more patients are to come: P2's code waits for its images
    result = upload(study, text, new_patients=True)
    assert (result.pending, result.matched) == (1, 1)
    assert list(SubjectCodeAssignment.objects.values_list("subject_code", flat=True)) == ["K-002"]


def test_a_new_file_replaces_the_earlier_one(study):
    upload(study, "patient_id,subject_code\nP1,K-001\nP2,K-002\n")
    result = upload(study, "patient_id;subject_code\nP3;K-003\n")
    assert result.replaced == 2
    assert list(SubjectCodeAssignment.objects.values_list("subject_code", flat=True)) == ["K-003"]


def test_locked_study(study):
    study_lock(study=study, user=study.created_by)
    with pytest.raises(StudyLocked):
        upload(study, "patient_id,subject_code\nP1,K-001\n")


def test_not_utf8(study):
    ((line, _, message),) = rejected(study, "patient_id,subject_code\nP1,K-001\nMÜLLER,K-002\n".encode("latin-1"))
    assert line == 3 and "not UTF-8" in message


# --------------------------------------------------------------------------------------------- API and page


def test_api_upload_and_state(client, study):
    client.force_login(study.created_by)
    url = reverse("api-study-subject-codes", args=[study.pk])
    bad = client.post(url, data=b"patient_id,subject_code\nP1,AB\n", content_type="text/csv")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["line"] == 2 and bad.json()["errors"][0]["column"] == "subject_code"
    ok = client.post(url, {"file": SimpleUploadedFile("codes.csv", b"patient_id,subject_code\nP1,K-001\n")})
    assert ok.status_code == 200 and ok.json() == {"rows": 1, "pending": 1, "matched": 0, "replaced": 0}
    state = client.get(url).json()
    assert state["pending"] == ["K-001"] and state["rekey_allowed"] is False  # no cases yet


def test_api_new_patients_flag(client, study):
    Case.objects.create(study=study, subject_code="S-ABCD", patient_digest=patient_digest(study, "P1"))
    client.force_login(study.created_by)
    url = reverse("api-study-subject-codes", args=[study.pk])
    body = b"patient_id,subject_code\nP2,K-002\n"
    assert client.post(url, data=body, content_type="text/csv").status_code == 400
    assert client.post(url + "?new_patients=true", data=body, content_type="text/csv").status_code == 200


def test_api_access(client, study):
    reader, outsider = f.make_user("r"), f.make_user("o")
    f.add_member(study, reader)
    url = reverse("api-study-subject-codes", args=[study.pk])
    rekey = reverse("api-study-subject-codes-rekey", args=[study.pk])
    client.force_login(reader)
    assert client.get(url).status_code == 403 and client.post(rekey).status_code == 403
    client.force_login(outsider)
    assert client.get(url).status_code == 404 and client.post(rekey).status_code == 404


def test_page_shows_every_problem_and_stores_nothing(client, study):
    client.force_login(study.created_by)
    url = reverse("study-subject-codes", args=[study.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"file": SimpleUploadedFile("c.csv", b"patient_id,subject_code\nP1,X\nP2,Y\n")})
    assert response.status_code == 400
    body = response.content.decode()
    assert "was rejected — nothing was stored" in body and body.count("is not a valid code") == 2
    response = client.post(url, {"file": SimpleUploadedFile("c.csv", b"patient_id,subject_code\nP1,K-001\n")})
    assert response.status_code == 302
    assert "K-001" in client.get(url).content.decode()


# --------------------------------------------------------------------------------------------- re-key


def test_rekey_replaces_codes_rewrites_and_renames_files(study, django_capture_on_commit_callbacks):
    cases = [f.make_case(study, code) for code in ("S001", "S002", "S003")]
    offsets = {}
    for n, case in enumerate(cases):
        case.date_offset_days = -400 - n
        case.patient_digest = patient_digest(study, f"P{n}")
        case.save()
        offsets[case.pk] = case.date_offset_days
    SubjectCodeAssignment.objects.create(study=study, patient_digest=patient_digest(study, "P0"), subject_code="OLD-0")
    SubjectCodeAssignment.objects.create(study=study, patient_digest=patient_digest(study, "P9"), subject_code="NEXT-9")
    old_paths = [i.file.path for i in Instance.objects.filter(series__case__study=study)]
    uids = set(Instance.objects.filter(series__case__study=study).values_list("sop_instance_uid", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        result = subject_codes_rekey(study=study, user=study.created_by)
    assert (result.cases, result.files) == (3, 9)

    after = {c.pk: c for c in Case.objects.filter(study=study)}
    assert all(c.subject_code.startswith("S-") and len(c.subject_code) == 6 for c in after.values())
    assert not {"S001", "S002", "S003"} & {c.subject_code for c in after.values()}
    assert {pk: c.date_offset_days for pk, c in after.items()} == offsets  # dates unchanged
    for inst in Instance.objects.filter(series__case__study=study).select_related("series__case"):
        code = inst.series.case.subject_code
        assert inst.file.name.split("/")[2] == code
        data = open(inst.file.path, "rb").read()
        assert hashlib.sha256(data).hexdigest() == inst.sha256 and len(data) == inst.size
        ds = dcmread(inst.file.path)
        assert ds.PatientID == code and str(ds.PatientName) == code and ds.SOPInstanceUID in uids
    assert not any(os.path.exists(p) for p in old_paths)  # the old files are gone, and their folders
    assert not any(os.path.exists(os.path.dirname(os.path.dirname(p))) for p in old_paths)
    # the assignment of the imported P0 is dropped; the one still waiting for P9 stays
    assert list(SubjectCodeAssignment.objects.values_list("subject_code", flat=True)) == ["NEXT-9"]
    event = AuditEvent.objects.get(study=study, action="subject_codes.rekey")
    assert event.data == {"cases": 3, "files": 9, "assignments_dropped": 1}


def test_rekey_keeps_the_study_prefix(study):
    for code in ("VBQ-001", "VBQ-002"):
        f.make_case(study, code, n_slices=1)
    subject_codes_rekey(study=study, user=study.created_by)
    assert all(c.startswith("VBQ-") and len(c) == 8 for c in Case.objects.values_list("subject_code", flat=True))


def test_rekey_refused_once_reads_exist(study, client):
    case = f.make_case(study, "S001", n_slices=1)
    reader = f.make_user("reader")
    f.add_member(study, reader)
    f.make_read(case, reader)
    with pytest.raises(RekeyRefused, match="1 read"):
        subject_codes_rekey(study=study, user=study.created_by)
    client.force_login(study.created_by)
    response = client.post(reverse("api-study-subject-codes-rekey", args=[study.pk]))
    assert response.status_code == 409 and "before the reading plan" in response.json()["detail"]
    assert Case.objects.get().subject_code == "S001" and not AuditEvent.objects.filter(action="subject_codes.rekey")


def test_rekey_refused_without_cases_or_when_locked(study, client):
    client.force_login(study.created_by)
    url = reverse("api-study-subject-codes-rekey", args=[study.pk])
    assert client.post(url).status_code == 409
    f.make_case(study, "S001", n_slices=1)
    study_lock(study=study, user=study.created_by)
    assert client.post(url).status_code == 403
    assert Case.objects.get().subject_code == "S001"


def test_rekey_refused_while_an_import_runs(study):
    f.make_case(study, "S001", n_slices=1)
    job = ImportJob.objects.create(study=study, source="/x.zip", status=ImportJob.Status.RUNNING)
    with pytest.raises(RekeyRefused, match="import of this study is queued or running"):
        subject_codes_rekey(study=study, user=study.created_by)
    job.status = ImportJob.Status.DONE
    job.save()
    assert subject_codes_rekey(study=study, user=study.created_by).cases == 1


def test_rekey_failure_changes_nothing(study, monkeypatch):
    f.make_case(study, "S001", n_slices=2)
    f.make_case(study, "S002", n_slices=2)
    before = sorted(Instance.objects.values_list("file", "sha256"))
    from studies.services import subject_rekey

    calls = iter(range(100))

    def flaky(data, code):
        if next(calls) == 3:
            raise OSError("disk full")
        return data

    monkeypatch.setattr(subject_rekey, "_rewritten", flaky)
    with pytest.raises(OSError):
        subject_codes_rekey(study=study, user=study.created_by)
    assert sorted(Case.objects.values_list("subject_code", flat=True)) == ["S001", "S002"]
    assert sorted(Instance.objects.values_list("file", "sha256")) == before
    media = Path(Instance.objects.first().file.path).parents[2]
    assert sorted(p.name for p in media.iterdir()) == ["S001", "S002"]  # the new files were removed


def test_rekey_page_button(client, study):
    f.make_case(study, "S001", n_slices=1)
    client.force_login(study.created_by)
    page = client.get(reverse("study-subject-codes", args=[study.pk])).content.decode()
    assert "Replace all 1 code with random codes" in page
    response = client.post(reverse("study-subject-codes-rekey", args=[study.pk]))
    assert response.status_code == 302 and Case.objects.get().subject_code.startswith("S-")


def test_rekey_of_an_imported_study_changes_only_the_patient_name_and_id(study, two_subjects):
    root, _ = two_subjects
    dicom_import_run(study=study, source=root)
    before = {i.sop_instance_uid: dcmread(i.file.path) for i in Instance.objects.filter(series__case__study=study)}
    subject_codes_rekey(study=study, user=study.created_by)
    for inst in Instance.objects.filter(series__case__study=study).select_related("series__case"):
        old, new = before[inst.sop_instance_uid], dcmread(inst.file.path)
        assert new.PatientID == inst.series.case.subject_code != old.PatientID
        for ds in (old, new):
            del ds.PatientID, ds.PatientName
        assert new == old and new.pixel_array.tobytes() == old.pixel_array.tobytes()
