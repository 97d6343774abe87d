"""DICOM writing: the raw (identifying) series header, stable UIDs and hashes, file meta, bytes (no Django)."""

from __future__ import annotations

import io
import zlib

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from .cohort import PhantomSubject
from .geometry import COLUMNS, PIXEL_SPACING, ROWS, SLICE_SPACING, SLICE_THICKNESS


def uid(*parts: object) -> str:
    return generate_uid(entropy_srcs=["vbq-phantom", *[str(p) for p in parts]])


def series_header(subject: PhantomSubject, rng_seed: int) -> Dataset:
    """Series-level header: realistic, and full of identifying attributes for the import to remove."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"]
    ds.InstanceCreationDate = subject.study_date
    ds.SOPClassUID = MRImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = subject.study_date
    ds.StudyTime = "081512.000000"
    ds.SeriesTime = "082301.250000"
    ds.AcquisitionTime = "082303.500000"
    ds.AccessionNumber = f"A{abs(hash_int(subject.patient_id, 'acc')) % 10**8:08d}"
    ds.Modality = "MR"
    ds.Manufacturer = "VBQ Phantom Works"
    ds.InstitutionName = "St. Example General Hospital"
    ds.InstitutionAddress = "1 Example Road, Exampletown"
    ds.ReferringPhysicianName = "Referrer^Rita^^Dr."
    ds.StationName = "MRC40123"
    ds.StudyDescription = "MRI LUMBAR SPINE W/O CONTRAST"
    ds.SeriesDescription = "T1 TSE SAG"
    ds.InstitutionalDepartmentName = "Radiology"
    ds.PhysiciansOfRecord = "Record^Rob"
    ds.PerformingPhysicianName = "Perform^Paula"
    ds.NameOfPhysiciansReadingStudy = "Reader^Ralph"
    ds.OperatorsName = "Tech^Tina"
    ds.ManufacturerModelName = "Phantom 1.5T"
    ds.ReferencedPerformedProcedureStepSequence = Sequence([_ref_item(subject, "pps", "1.2.840.10008.3.1.2.3.3")])
    ds.ReferencedImageSequence = Sequence([_ref_item(subject, f"localizer{i}", MRImageStorage) for i in range(1, 3)])
    ds.PatientName = subject.patient_name
    ds.PatientID = subject.patient_id
    ds.IssuerOfPatientID = "EXAMPLE-HOSPITAL"
    ds.PatientBirthDate = subject.birth_date
    ds.PatientSex = subject.sex
    ds.OtherPatientIDs = f"OLD{subject.patient_id[-5:]}"
    ds.PatientAge = f"{subject.age:03d}Y"
    ds.PatientSize = round(1.55 + 0.15 * (subject.sex == "M") + 0.02 * ((rng_seed % 5) - 2), 2)
    ds.PatientWeight = round(subject.bmi * float(ds.PatientSize) ** 2, 1)
    ds.PatientAddress = "22 Sample Street, Exampletown"
    ds.PatientTelephoneNumbers = "555-0100"
    ds.AdditionalPatientHistory = "Low back pain; planned lumbar fusion."
    ds.PatientComments = f"Phantom for {subject.patient_name}"
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = ["SK", "SP", "OSP"]
    ds.ScanOptions = "PFP"
    ds.MRAcquisitionType = "2D"
    ds.SequenceName = "*tse2d1_3"
    ds.SliceThickness = SLICE_THICKNESS
    ds.RepetitionTime = 500.0
    ds.EchoTime = 10.0
    ds.NumberOfAverages = 2
    ds.ImagingFrequency = 63.676
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = 1
    ds.MagneticFieldStrength = 1.5
    ds.SpacingBetweenSlices = SLICE_SPACING
    ds.EchoTrainLength = 3
    ds.PercentSampling = 100
    ds.PercentPhaseFieldOfView = 100
    ds.PixelBandwidth = 190
    ds.DeviceSerialNumber = "40123"
    ds.SoftwareVersions = "phantom 1.0"
    ds.ProtocolName = "t1_tse_sag"
    ds.ReceiveCoilName = "Spine"
    ds.TransmitCoilName = "Body"
    ds.InPlanePhaseEncodingDirection = "ROW"
    ds.FlipAngle = 150
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = uid(subject.patient_id, rng_seed, "study")
    ds.SeriesInstanceUID = uid(subject.patient_id, rng_seed, "series")
    ds.StudyID = f"{hash_int(subject.patient_id, 'study-id') % 100000}"
    ds.SeriesNumber = 3
    ds.AcquisitionNumber = 1
    ds.FrameOfReferenceUID = uid(subject.patient_id, rng_seed, "frame-of-reference")
    ds.PositionReferenceIndicator = ""
    ds.ImageOrientationPatient = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ROWS
    ds.Columns = COLUMNS
    ds.PixelSpacing = [PIXEL_SPACING, PIXEL_SPACING]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    ds.BodyPartExamined = "LSPINE"
    ds.RequestingPhysician = "Request^Rachel"
    ds.RequestedProcedureDescription = "MRI lumbar spine"
    ds.PerformedProcedureStepStartDate = subject.study_date
    ds.PerformedProcedureStepID = f"PPS{hash_int(subject.patient_id, 'pps') % 10**6:06d}"
    ds.RequestAttributesSequence = Sequence([_request_item(subject)])
    # A vendor private block that (as real ones do) repeats the patient's name.
    block = ds.private_block(0x0019, "VBQ PHANTOM PRIVATE", create=True)
    block.add_new(0x01, "LO", subject.patient_name.replace("^", " "))
    block.add_new(0x02, "DS", "1.0")
    return ds


def _ref_item(subject: PhantomSubject, what: str, sop_class: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = uid(subject.patient_id, what)
    return item


def _request_item(subject: PhantomSubject) -> Dataset:
    item = Dataset()
    item.RequestedProcedureID = f"RP{hash_int(subject.patient_id, 'rp') % 10**6:06d}"
    item.ScheduledProcedureStepID = f"SPS{hash_int(subject.patient_id, 'sps') % 10**6:06d}"
    item.AccessionNumber = "ACC-IN-SEQUENCE"
    return item


def hash_int(*parts: object) -> int:
    """Stable (process-independent) integer hash of the parts."""
    data = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(zlib.crc32(data).to_bytes(4, "big") + zlib.adler32(data).to_bytes(4, "big"), "big")


def file_meta(sop_class: str, sop_instance: str, transfer_syntax: str = ExplicitVRLittleEndian):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = transfer_syntax
    meta.SourceApplicationEntityTitle = "MRC40123"
    return meta


def to_bytes(ds: Dataset, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue()
