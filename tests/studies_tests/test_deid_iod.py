"""De-identified files stay valid instances of their IOD: dciodvfy (dicom3tools) on what the import stores, for
single-frame MR, Legacy Converted Enhanced MR and Enhanced MR; and studies.dicom.deid_iod's repairs one by one."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import EnhancedMRImageStorage, LegacyConvertedEnhancedMRImageStorage, MRImageStorage

from studies.dicom.deid import UidMapper, deidentify
from studies.dicom.deid_iod import DUMMY_SERIAL, fit_to_iod, referenced_instances
from studies.models import Instance
from studies.services.dicom_import import dicom_import_run
from tests import factories as f
from tests.conftest import skip_or_fail


def dciodvfy(path: Path, iod: str) -> tuple[list[str], list[str]]:
    """dicom3tools' check of a file: (errors, warnings); fails unless it checked the file against ``iod``."""
    binary = shutil.which("dciodvfy") or ("/usr/bin/dciodvfy" if os.path.exists("/usr/bin/dciodvfy") else None)
    if binary is None:
        skip_or_fail("dciodvfy (Debian dicom3tools) is not installed")
    proc = subprocess.run([binary, str(path)], capture_output=True, text=True, timeout=120)
    lines = (proc.stdout + proc.stderr).splitlines()
    assert iod in lines, lines[:20]  # an aborted run prints no "Error" line
    return [x for x in lines if x.startswith(("Error", "Abort"))], [x for x in lines if x.startswith("Warning")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind,iod",
    [
        ("single-frame", "MRImage"),
        ("legacy-converted", "LegacyConvertedEnhancedMRImage"),
        ("enhanced-mr", "EnhancedMRImage"),
    ],
)
def test_the_stored_de_identified_file_is_valid_under_dciodvfy(kind, iod, tmp_path):
    mf, singles, _ = f.enhanced_mr(enhanced=kind == "enhanced-mr")
    source = tmp_path / "in"
    source.mkdir()
    for k, ds in enumerate(singles if kind == "single-frame" else [mf]):
        (source / f"IM{k:04d}.dcm").write_bytes(f.part10(ds))
    outcome = dicom_import_run(study=f.make_study(), source=source)
    assert outcome.rejected == 0, outcome.report
    paths = sorted({row.file.path for row in Instance.objects.all()})
    assert len(paths) == (len(singles) if kind == "single-frame" else 1)
    for path in paths[:2]:
        stored = pydicom.dcmread(path)
        assert stored.PatientIdentityRemoved == "YES"
        errors, warnings = dciodvfy(Path(path), iod)
        assert errors == []
        # What it still warns about: the phantom's Image Type value 3 "M" (a vendor's term), and what the
        # de-identification writes on purpose: a one-component Patient's Name (the subject code), no Study ID.
        assert all(("<M>" in w or "Person Name" in w or "DICOMDIR" in w) for w in warnings), warnings


def test_the_enhanced_mr_phantom_is_itself_valid(tmp_path):
    """The factory's Enhanced MR (its generator is ours): no error before de-identification either."""
    path = tmp_path / "enhanced.dcm"
    path.write_bytes(f.part10(f.enhanced_mr(enhanced=True)[0]))
    assert dciodvfy(path, "EnhancedMRImage")[0] == []


def test_the_dciodvfy_check_sees_the_error_the_repair_prevents(tmp_path):
    """A Common Instance Reference left behind after the references went is an error dciodvfy reports."""
    mf = f.enhanced_mr()[0]
    del mf.SharedFunctionalGroupsSequence[0].ReferencedImageSequence  # as the profile does, without the repair
    for frame in mf.PerFrameFunctionalGroupsSequence:
        del frame.ConversionSourceAttributesSequence
    path = tmp_path / "dangling.dcm"
    path.write_bytes(f.part10(mf))
    errors, _ = dciodvfy(path, "LegacyConvertedEnhancedMRImage")
    assert any("ReferencedSeriesSequence present but Instance does not reference Instances" in e for e in errors)


def _ref(uid: str, sop_class: str = MRImageStorage) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = uid
    return item


def _series(series_uid: str, *uids: str) -> Dataset:
    item = Dataset()
    item.SeriesInstanceUID = series_uid
    item.ReferencedInstanceSequence = [_ref(u) for u in uids]
    return item


def _indexed(sop_class: str = LegacyConvertedEnhancedMRImageStorage) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.ReferencedSeriesSequence = [_series("1.1", "1.1.1", "1.1.2"), _series("1.2", "1.2.1")]
    other = Dataset()
    other.StudyInstanceUID = "9"
    other.ReferencedSeriesSequence = [_series("9.1", "9.1.1")]
    ds.StudiesContainingOtherReferencedInstancesSequence = [other]
    ds.ReferencedPerformedProcedureStepSequence = [_ref("1.2.1", "1.2.840.10008.3.1.2.3.3")]
    return ds


def test_the_index_keeps_exactly_the_instances_a_remaining_reference_names():
    ds = _indexed()
    group = Dataset()
    group.ReferencedImageSequence = [_ref("1.1.2")]
    ds.SharedFunctionalGroupsSequence = [group]
    assert referenced_instances(ds) == {"1.1.2"}  # not the procedure step, not the index's own items
    removed, replaced = fit_to_iod(ds, had_device_serial=False)
    assert [s.SeriesInstanceUID for s in ds.ReferencedSeriesSequence] == ["1.1"]
    assert [i.ReferencedSOPInstanceUID for i in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence] == ["1.1.2"]
    assert "StudiesContainingOtherReferencedInstancesSequence" not in ds  # its one study lost its one instance
    assert removed == {"ReferencedSeriesSequence", "StudiesContainingOtherReferencedInstancesSequence"}
    assert replaced == set()


def test_an_index_nothing_needs_any_more_goes_whole_and_one_fully_needed_stays_as_it_was():
    ds = _indexed()
    frame = Dataset()
    source = Dataset()
    source.ReferencedSOPClassUID, source.ReferencedSOPInstanceUID = MRImageStorage, "1.1.1"
    frame.ConversionSourceAttributesSequence = [source]  # provenance of a converted frame: not indexed
    ds.PerFrameFunctionalGroupsSequence = [frame]
    fit_to_iod(ds, had_device_serial=False)
    assert "ReferencedSeriesSequence" not in ds and "StudiesContainingOtherReferencedInstancesSequence" not in ds
    assert (
        ds.PerFrameFunctionalGroupsSequence[0].ConversionSourceAttributesSequence[0].ReferencedSOPInstanceUID == "1.1.1"
    )

    ds = _indexed()
    group = Dataset()
    group.SourceImageSequence = [_ref(u) for u in ("1.1.1", "1.1.2", "1.2.1", "9.1.1")]
    ds.SharedFunctionalGroupsSequence = [group]
    before = [s.SeriesInstanceUID for s in ds.ReferencedSeriesSequence]
    assert fit_to_iod(ds, had_device_serial=False) == (set(), set())
    assert [s.SeriesInstanceUID for s in ds.ReferencedSeriesSequence] == before
    assert ds.StudiesContainingOtherReferencedInstancesSequence[0].StudyInstanceUID == "9"


def test_evidence_sequences_are_pruned_like_the_common_instance_reference():
    mf = f.enhanced_mr(enhanced=True)[0]
    assert "ReferencedImageEvidenceSequence" in mf and "ReferencedSeriesSequence" in mf
    report = deidentify(mf, subject_code="S001", uid_map=UidMapper("k"), date_offset_days=-400)
    assert "ReferencedImageSequence" not in mf.SharedFunctionalGroupsSequence[0]
    assert "ReferencedImageEvidenceSequence" not in mf and "ReferencedSeriesSequence" not in mf
    assert {"ReferencedImageEvidenceSequence", "ReferencedSeriesSequence"} <= set(report.removed)


@pytest.mark.parametrize(
    "sop_class,dummy",
    [(EnhancedMRImageStorage, True), (LegacyConvertedEnhancedMRImageStorage, False), (MRImageStorage, False)],
)
def test_device_serial_number_is_a_dummy_only_where_the_iod_needs_a_value(sop_class, dummy):
    ds = _indexed(sop_class)
    ds.DeviceSerialNumber = "40123"
    report = deidentify(ds, subject_code="S001", uid_map=UidMapper("k"), date_offset_days=None)
    if dummy:
        assert ds.DeviceSerialNumber == DUMMY_SERIAL
        assert "DeviceSerialNumber" in report.replaced and "DeviceSerialNumber" not in report.removed
    else:
        assert "DeviceSerialNumber" not in ds and "DeviceSerialNumber" in report.removed
    assert "40123" not in str(ds)
