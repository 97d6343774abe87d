"""Test factories: users, studies, cases with real (small) DICOM series, reads and ROIs."""

from __future__ import annotations

import hashlib
import io
import itertools

import numpy as np
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from studies.models import Case, Instance, Membership, Read, Roi, Series, Study

User = get_user_model()
_seq = itertools.count(1)

PASSWORD = "correct-horse-battery-staple-42"


def make_user(username: str | None = None, **extra) -> User:
    username = username or f"user{next(_seq)}"
    return User.objects.create_user(username=username, email=f"{username}@example.org", password=PASSWORD, **extra)


def allow_study_creation(user: User) -> User:
    """What an admin does in /admin/: grant "Can add study" (studies.permissions.CREATE_STUDY_PERMISSION)."""
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(content_type__app_label="studies", codename="add_study"))
    return User.objects.get(pk=user.pk)  # a fresh object: Django caches permissions on the instance


def make_study(pi: User | None = None, **fields) -> Study:
    from studies.services.membership import study_create

    pi = pi or make_user()
    return study_create(name=fields.pop("name", f"Study {next(_seq)}"), created_by=pi, **fields)


def add_member(study: Study, user: User, role: str = Membership.Role.READER) -> Membership:
    return Membership.objects.create(study=study, user=user, role=role)


def dicom_bytes(
    pixels: np.ndarray,
    *,
    sop_uid: str,
    series_uid: str,
    position_x: float = 0.0,
    spacing=(0.8, 0.6),
    instance_number: int = 1,
) -> bytes:
    """A single-frame sagittal MR Part-10 file with the given 16-bit unsigned pixels."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.Modality = "MR"
    ds.PatientName = "Test^Subject"
    ds.PatientID = "TEST"
    ds.SeriesDescription = "T1 TSE SAG"
    ds.InstanceNumber = instance_number
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.ImagePositionPatient = [position_x, -100.0, 100.0]
    ds.PixelSpacing = list(spacing)
    ds.SliceThickness = 4
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def make_case(
    study: Study,
    subject_code: str | None = None,
    *,
    n_slices: int = 3,
    rows: int = 64,
    cols: int = 80,
    spacing=(0.8, 0.6),
    value_fn=None,
    is_control: bool = False,
) -> Case:
    """A case with one sagittal series of ``n_slices`` real DICOM files stored through the media storage.

    Pixel value at (row, col) of slice k = ``value_fn(k, rows, cols)`` (default: 100 + col + 10·k).
    """
    case = Case.objects.create(study=study, subject_code=subject_code or f"S{next(_seq):03d}", is_control=is_control)
    series_uid = generate_uid()
    series = Series.objects.create(
        case=case,
        series_instance_uid=series_uid,
        description="T1 TSE SAG",
        orientation="sagittal",
        weighting="T1",
        rows=rows,
        columns=cols,
        pixel_spacing=list(spacing),
    )
    for k in range(n_slices):
        if value_fn is None:
            pixels = 100 + np.tile(np.arange(cols), (rows, 1)) + 10 * k
        else:
            pixels = value_fn(k, rows, cols)
        sop = generate_uid()
        data = dicom_bytes(
            np.asarray(pixels),
            sop_uid=sop,
            series_uid=series_uid,
            position_x=4.0 * k,
            spacing=spacing,
            instance_number=k + 1,
        )
        inst = Instance(
            series=series,
            sop_instance_uid=sop,
            source_digest=hashlib.sha256(sop.encode()).hexdigest(),
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            instance_number=k + 1,
            slice_position=4.0 * k,
            image_position=[4.0 * k, -100.0, 100.0],
            image_orientation=[0, 1, 0, 0, 0, -1],
        )
        inst.file.save(f"{sop}.dcm", ContentFile(data), save=True)
    case.primary_series = series
    case.save(update_fields=["primary_series"])
    return case


def make_read(case: Case, reader: User, read_number: int = 1, **fields) -> Read:
    return Read.objects.create(study=case.study, case=case, reader=reader, read_number=read_number, **fields)


def sop_of(case: Case, index: int = 0) -> str:
    return list(case.primary_series.instances.order_by("slice_position"))[index].sop_instance_uid


def roi_payload(case: Case, label: str = "L1", shape: str = "rectangle", box=(10, 10, 20, 20), index: int = 0):
    c0, r0, c1, r1 = box
    points = [[c0, r0], [c1, r0], [c0, r1], [c1, r1]]
    if shape == "ellipse":
        cc, rc = (c0 + c1) / 2, (r0 + r1) / 2
        points = [[cc, r1], [cc, r0], [c0, rc], [c1, rc]]
    return {"label": label, "shape": shape, "points_px": points, "sop_instance_uid": sop_of(case, index)}


def make_roi(read: Read, label: str = "L1", **payload) -> Roi:
    from studies.services.reading import roi_create

    data = roi_payload(read.case, label) | payload
    return roi_create(read=read, user=read.reader, data=data)


def enhanced_mr(subject=None, *, rng_seed: int = 3, enhanced: bool = False):
    """A phantom's sagittal T1 series as one multi-frame file, made by highdicom's legacy conversion
    (``highdicom.legacy.LegacyConvertedEnhancedMRImage``): ``(multi-frame dataset, its single-frame datasets,
    geometry)``. The file is a Legacy Converted Enhanced MR Image, or with ``enhanced=True`` the same data as an
    Enhanced MR Image (SOP class …4.1). Deterministic: the same subject and seed give the same file."""
    import warnings

    from highdicom.legacy import LegacyConvertedEnhancedMRImage
    from pydicom import dcmread
    from pydicom.uid import EnhancedMRImageStorage

    from studies.demo.phantom.bad_files import example_subject
    from studies.demo.phantom.dicom import uid
    from studies.demo.phantom.series import build_series

    subject = subject or example_subject()
    singles, geometry = build_series(subject, rng_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # highdicom notes the attributes it leaves unassigned
        converted = LegacyConvertedEnhancedMRImage(
            singles,
            series_instance_uid=uid(subject.patient_id, rng_seed, "enhanced-series"),
            series_number=4,
            sop_instance_uid=uid(subject.patient_id, rng_seed, "enhanced-instance"),
            instance_number=1,
        )
    buf = io.BytesIO()
    converted.save_as(buf, enforce_file_format=True)
    ds = dcmread(io.BytesIO(buf.getvalue()))
    if enhanced:
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = EnhancedMRImageStorage
        _enhanced_mr_iod(ds, singles[0], localizer_series=uid(subject.patient_id, "loc"))
    return ds, singles, geometry


def _enhanced_mr_iod(ds: Dataset, single: Dataset, *, localizer_series: str) -> None:
    """Turn the legacy conversion into a valid Enhanced MR Image (PS3.3 A.36; dciodvfy finds no error): the MR
    functional groups and modules that IOD requires (C.8.13), with the sequence parameters of the single-frame files;
    no legacy-only sequences; the localizer references with the purpose, evidence and Common Instance Reference
    items they need."""
    from pydicom.sequence import Sequence

    def item(**values) -> Dataset:
        out = Dataset()
        for keyword, value in values.items():
            setattr(out, keyword, value)
        return out

    shared = ds.SharedFunctionalGroupsSequence[0]
    del shared.UnassignedSharedConvertedAttributesSequence
    for frame in ds.PerFrameFunctionalGroupsSequence:
        del frame.UnassignedPerFrameConvertedAttributesSequence, frame.ConversionSourceAttributesSequence
        content = frame.FrameContentSequence[0]
        content.FrameReferenceDateTime = content.FrameAcquisitionDateTime
        content.FrameAcquisitionDuration = 2000.0
    for ref in shared.ReferencedImageSequence:
        ref.PurposeOfReferenceCodeSequence = [
            item(CodeValue="121311", CodingSchemeDesignator="DCM", CodeMeaning="Localizer")
        ]
    localizers = [
        item(ReferencedSOPClassUID=r.ReferencedSOPClassUID, ReferencedSOPInstanceUID=r.ReferencedSOPInstanceUID)
        for r in shared.ReferencedImageSequence
    ]
    ds.ReferencedSeriesSequence = [item(SeriesInstanceUID=localizer_series, ReferencedInstanceSequence=localizers)]
    ds.ReferencedImageEvidenceSequence = [
        item(
            StudyInstanceUID=single.StudyInstanceUID,
            ReferencedSeriesSequence=[
                item(SeriesInstanceUID=localizer_series, ReferencedSOPSequence=Sequence(localizers))
            ],
        )
    ]
    shared.MRImageFrameTypeSequence[0].update(item(ComplexImageComponent="MAGNITUDE", AcquisitionContrast="T1"))
    shared.MRTimingAndRelatedParametersSequence = [
        item(
            RepetitionTime=float(single.RepetitionTime),
            FlipAngle=float(single.FlipAngle),
            EchoTrainLength=int(single.EchoTrainLength),
            RFEchoTrainLength=int(single.EchoTrainLength),
            GradientEchoTrainLength=0,
        )
    ]
    shared.MREchoSequence = [item(EffectiveEchoTime=float(single.EchoTime))]
    shared.MRModifierSequence = [
        item(
            InversionRecovery="NO",
            FlowCompensation="NONE",
            T2Preparation="NO",
            SpectrallySelectedExcitation="NONE",
            SpatialPresaturation="NONE",
            PartialFourier="NO",
            ParallelAcquisition="NO",
        )
    ]
    shared.MRImagingModifierSequence = [
        item(
            MagnetizationTransfer="NONE",
            BloodSignalNulling="NO",
            Tagging="NONE",
            TransmitterFrequency=float(single.ImagingFrequency),
            PixelBandwidth=float(single.PixelBandwidth),
        )
    ]
    shared.MRReceiveCoilSequence = [
        item(ReceiveCoilName=single.ReceiveCoilName, ReceiveCoilType="SURFACE", QuadratureReceiveCoil="NO")
    ]
    shared.MRTransmitCoilSequence = [item(TransmitCoilName=single.TransmitCoilName, TransmitCoilType="BODY")]
    shared.MRAveragesSequence = [item(NumberOfAverages=float(single.NumberOfAverages))]
    shared.MRFOVGeometrySequence = [
        item(
            InPlanePhaseEncodingDirection="ROW",
            MRAcquisitionFrequencyEncodingSteps=int(ds.Rows),
            MRAcquisitionPhaseEncodingStepsInPlane=int(ds.Columns),
            PercentSampling=100.0,
            PercentPhaseFieldOfView=100.0,
        )
    ]
    timing = shared.MRTimingAndRelatedParametersSequence[0]
    timing.OperatingModeSequence = [
        item(OperatingModeType=kind, OperatingMode="IEC_NORMAL") for kind in ("STATIC FIELD", "RF", "GRADIENT")
    ]
    timing.SpecificAbsorptionRateSequence = [
        item(SpecificAbsorptionRateDefinition="IEC_WHOLE_BODY", SpecificAbsorptionRateValue=0.5)
    ]
    shared.MRReceiveCoilSequence[0].ReceiveCoilManufacturerName = "VBQ Phantom Works"
    shared.MRTransmitCoilSequence[0].TransmitCoilManufacturerName = "VBQ Phantom Works"
    ds.ComplexImageComponent = "MAGNITUDE"
    ds.AcquisitionContrast = "T1"
    ds.AcquisitionDuration = 26.0
    ds.KSpaceFiltering = "NONE"
    ds.ApplicableSafetyStandardAgency = "IEC"
    ds.LossyImageCompression = "00"
    ds.PulseSequenceName = "TSE"
    ds.MRAcquisitionType = "2D"
    ds.EchoPulseSequence = "SPIN"
    ds.MultipleSpinEcho = "YES"
    ds.MultiPlanarExcitation = "NO"
    ds.PhaseContrast = "NO"
    ds.TimeOfFlightContrast = "NO"
    ds.SteadyStatePulseSequence = "NONE"
    ds.EchoPlanarPulseSequence = "NO"
    ds.SaturationRecovery = "NO"
    ds.SpectrallySelectedSuppression = "NONE"
    ds.OversamplingPhase = "NONE"
    ds.GeometryOfKSpaceTraversal = "RECTILINEAR"
    ds.RectilinearPhaseEncodeReordering = "LINEAR"
    ds.SegmentedKSpaceTraversal = "PARTIAL"
    ds.NumberOfKSpaceTrajectories = 1
    del ds.ContrastBolusAgent  # the Contrast/Bolus module's; the enhanced IOD has Enhanced Contrast/Bolus


def part10(ds: Dataset) -> bytes:
    """``ds`` written as a DICOM Part-10 file."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
