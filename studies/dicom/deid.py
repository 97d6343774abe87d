"""De-identification of DICOM datasets: DICOM PS3.15 Annex E, Basic Application Level Confidentiality Profile.

Pure module (pydicom and the standard library, no Django). The import job calls :func:`deidentify` on each
accepted file *after* :mod:`studies.dicom.validate` has classified it (the profile removes Series
Description and Protocol Name, which the classification reads) and *before* anything reaches storage.

The action codes of PS3.15 Table E.1-1a:

- ``X`` remove, ``Z`` replace with a zero-length value, ``D`` replace with a dummy value, ``U`` replace the
  UID with one that is consistent across the study (:class:`UidMapper`), ``K`` keep, ``C`` clean (only with
  the Clean Descriptors Option, ``clean_descriptors=True``).
- Compound codes (``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D``, ``X/Z/U``) are resolved for the MR Image IOD (PS3.3
  A.4): an attribute that is Type 2 there is emptied (:data:`MR_IOD_TYPE2`), every other one is removed.
- Patient's Name and Patient ID are replaced by the study's subject code (a ``D`` with a meaningful dummy).
- Dates: with ``keep_dates=True`` and a ``date_offset_days``, every DA and DT value (except the patient's
  birth date, which is emptied) is shifted by that many days and TM values are kept, as the Retain
  Longitudinal Temporal Information with Modified Dates Option (code 113107) allows. Otherwise dates and
  times follow the profile (``X``/``Z``/``D``) and a date or time attribute the table does not list is
  removed as well.
- Private attributes are removed except those in :data:`SAFE_PRIVATE_ATTRIBUTES` (Retain Safe Private
  Option, code 113111, declared only when something was actually kept).
- Overlay (60xx) and curve (50xx) groups are removed whole (the profile lists Overlay Data/Comments and
  Curve Data; an overlay plane can hold burned-in text), and so are public attributes unknown to pydicom's
  dictionary.
- Sequences are recursed: the table applies inside every item. A sequence whose action is ``D`` is
  replaced by one empty item, ``Z`` by an empty sequence.
- Pixel Data is never touched, so the pixels stay bit-identical.

References
----------
.. [1] DICOM PS3.15, Annex E "Attribute Confidentiality Profiles", Table E.1-1.
       https://dicom.nema.org/medical/dicom/current/output/chtml/part15/chapter_E.html
.. [2] DICOM PS3.16, CID 7050 "De-identification Method" (codes 113100-113111).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import struct
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Final

from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement, empty_value_for_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from . import values as dicom_values
from .encode import element_header, padded

__all__ = [
    "ADDITIONAL_REMOVALS",
    "BASIC_PROFILE",
    "CODE_BASIC_PROFILE",
    "CODE_CLEAN_DESCRIPTORS",
    "CODE_MODIFIED_DATES",
    "CODE_SAFE_PRIVATE",
    "MR_IOD_TYPE2",
    "SAFE_PRIVATE_ATTRIBUTES",
    "DeidReport",
    "UidMapper",
    "deidentify",
    "resolve_action",
    "subject_date_offset",
]

PROFILE_NAME: Final = "VBQ Reader PS3.15 Basic Profile"

#: Codes of CID 7050 written to DeidentificationMethodCodeSequence: (code value, code meaning).
CODE_BASIC_PROFILE: Final = ("113100", "Basic Application Confidentiality Profile")
CODE_CLEAN_DESCRIPTORS: Final = ("113105", "Clean Descriptors Option")
CODE_MODIFIED_DATES: Final = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
CODE_SAFE_PRIVATE: Final = ("113111", "Retain Safe Private Option")

# fmt: off
#: PS3.15 Table E.1-1, "Basic Prof." column: keyword -> action code, for every attribute of the table
#: that pydicom's data dictionary knows (587 attributes; the repeating Overlay and Curve groups are
#: handled whole, see the module docstring). Sorted by tag; the comment gives the tag and VR.
BASIC_PROFILE: Final[dict[str, str]] = {
    "AffectedSOPInstanceUID": "X",  # (0000,1000) UI
    "RequestedSOPInstanceUID": "U",  # (0000,1001) UI
    "MediaStorageSOPInstanceUID": "U",  # (0002,0003) UI
    "ReferencedSOPInstanceUIDInFile": "U",  # (0004,1511) UI
    "InstanceCreationDate": "X/D",  # (0008,0012) DA
    "InstanceCreationTime": "X/Z/D",  # (0008,0013) TM
    "InstanceCreatorUID": "U",  # (0008,0014) UI
    "InstanceCoercionDateTime": "X",  # (0008,0015) DT
    "AcquisitionUID": "U",  # (0008,0017) UI
    "SOPInstanceUID": "U",  # (0008,0018) UI
    "PyramidUID": "U",  # (0008,0019) UI
    "StudyDate": "Z",  # (0008,0020) DA
    "SeriesDate": "X/D",  # (0008,0021) DA
    "AcquisitionDate": "X/Z",  # (0008,0022) DA
    "ContentDate": "Z/D",  # (0008,0023) DA
    "OverlayDate": "X",  # (0008,0024) DA retired
    "CurveDate": "X",  # (0008,0025) DA retired
    "AcquisitionDateTime": "X/Z/D",  # (0008,002A) DT
    "StudyTime": "Z",  # (0008,0030) TM
    "SeriesTime": "X/D",  # (0008,0031) TM
    "AcquisitionTime": "X/Z",  # (0008,0032) TM
    "ContentTime": "Z/D",  # (0008,0033) TM
    "OverlayTime": "X",  # (0008,0034) TM retired
    "CurveTime": "X",  # (0008,0035) TM retired
    "AccessionNumber": "Z",  # (0008,0050) SH
    "FailedSOPInstanceUIDList": "U",  # (0008,0058) UI
    "InstitutionName": "X/Z/D",  # (0008,0080) LO
    "InstitutionAddress": "X",  # (0008,0081) ST
    "InstitutionCodeSequence": "X/Z/D",  # (0008,0082) SQ
    "ReferringPhysicianName": "Z",  # (0008,0090) PN
    "ReferringPhysicianAddress": "X",  # (0008,0092) ST
    "ReferringPhysicianTelephoneNumbers": "X",  # (0008,0094) SH
    "ReferringPhysicianIdentificationSequence": "X",  # (0008,0096) SQ
    "ConsultingPhysicianName": "Z",  # (0008,009C) PN
    "ConsultingPhysicianIdentificationSequence": "X",  # (0008,009D) SQ
    "ContextGroupVersion": "D",  # (0008,0106) DT
    "ContextGroupLocalVersion": "D",  # (0008,0107) DT
    "TimezoneOffsetFromUTC": "X",  # (0008,0201) SH
    "StationName": "X/Z/D",  # (0008,1010) SH
    "StudyDescription": "X",  # (0008,1030) LO
    "SeriesDescription": "X",  # (0008,103E) LO
    "InstitutionalDepartmentName": "X",  # (0008,1040) LO
    "InstitutionalDepartmentTypeCodeSequence": "X",  # (0008,1041) SQ
    "PhysiciansOfRecord": "X",  # (0008,1048) PN
    "PhysiciansOfRecordIdentificationSequence": "X",  # (0008,1049) SQ
    "PerformingPhysicianName": "X",  # (0008,1050) PN
    "PerformingPhysicianIdentificationSequence": "X",  # (0008,1052) SQ
    "NameOfPhysiciansReadingStudy": "X",  # (0008,1060) PN
    "PhysiciansReadingStudyIdentificationSequence": "X",  # (0008,1062) SQ
    "OperatorsName": "X/Z/D",  # (0008,1070) PN
    "OperatorIdentificationSequence": "X/D",  # (0008,1072) SQ
    "AdmittingDiagnosesDescription": "X",  # (0008,1080) LO
    "AdmittingDiagnosesCodeSequence": "X",  # (0008,1084) SQ
    "PyramidDescription": "X",  # (0008,1088) LO
    "ReferencedStudySequence": "X/Z",  # (0008,1110) SQ
    "ReferencedPerformedProcedureStepSequence": "X/Z/D",  # (0008,1111) SQ
    "ReferencedPatientSequence": "X",  # (0008,1120) SQ
    "ReferencedImageSequence": "X/Z/U",  # (0008,1140) SQ
    "ReferencedSOPInstanceUID": "U",  # (0008,1155) UI
    "TransactionUID": "U",  # (0008,1195) UI
    "DerivationDescription": "X",  # (0008,2111) ST
    "SourceImageSequence": "X/Z/U",  # (0008,2112) SQ
    "IrradiationEventUID": "U",  # (0008,3010) UI
    "IdentifyingComments": "X",  # (0008,4000) LT retired
    "PatientName": "Z",  # (0010,0010) PN
    "PatientID": "Z",  # (0010,0020) LO
    "IssuerOfPatientID": "X",  # (0010,0021) LO
    "PatientBirthDate": "Z",  # (0010,0030) DA
    "PatientBirthTime": "X",  # (0010,0032) TM
    "PatientSex": "Z",  # (0010,0040) CS
    "PatientInsurancePlanCodeSequence": "X",  # (0010,0050) SQ
    "PatientPrimaryLanguageCodeSequence": "X",  # (0010,0101) SQ
    "PatientPrimaryLanguageModifierCodeSequence": "X",  # (0010,0102) SQ
    "OtherPatientIDs": "X",  # (0010,1000) LO retired
    "OtherPatientNames": "X",  # (0010,1001) PN
    "OtherPatientIDsSequence": "X",  # (0010,1002) SQ
    "PatientBirthName": "X",  # (0010,1005) PN
    "PatientAge": "X",  # (0010,1010) AS
    "PatientSize": "X",  # (0010,1020) DS
    "PatientWeight": "X",  # (0010,1030) DS
    "PatientAddress": "X",  # (0010,1040) LO
    "InsurancePlanIdentification": "X",  # (0010,1050) LO retired
    "PatientMotherBirthName": "X",  # (0010,1060) PN
    "MilitaryRank": "X",  # (0010,1080) LO
    "BranchOfService": "X",  # (0010,1081) LO
    "MedicalRecordLocator": "X",  # (0010,1090) LO retired
    "ReferencedPatientPhotoSequence": "X",  # (0010,1100) SQ
    "MedicalAlerts": "X",  # (0010,2000) LO
    "Allergies": "X",  # (0010,2110) LO
    "CountryOfResidence": "X",  # (0010,2150) LO
    "RegionOfResidence": "X",  # (0010,2152) LO
    "PatientTelephoneNumbers": "X",  # (0010,2154) SH
    "PatientTelecomInformation": "X",  # (0010,2155) LT
    "EthnicGroup": "X",  # (0010,2160) SH
    "Occupation": "X",  # (0010,2180) SH
    "SmokingStatus": "X",  # (0010,21A0) CS
    "AdditionalPatientHistory": "X",  # (0010,21B0) LT
    "PregnancyStatus": "X",  # (0010,21C0) US
    "LastMenstrualDate": "X",  # (0010,21D0) DA
    "PatientReligiousPreference": "X",  # (0010,21F0) LO
    "PatientSexNeutered": "X/Z",  # (0010,2203) CS
    "ResponsiblePerson": "X",  # (0010,2297) PN
    "ResponsibleOrganization": "X",  # (0010,2299) LO
    "PatientComments": "X",  # (0010,4000) LT
    "ClinicalTrialSponsorName": "D",  # (0012,0010) LO
    "ClinicalTrialProtocolID": "D",  # (0012,0020) LO
    "ClinicalTrialProtocolName": "Z",  # (0012,0021) LO
    "ClinicalTrialSiteID": "Z",  # (0012,0030) LO
    "ClinicalTrialSiteName": "Z",  # (0012,0031) LO
    "ClinicalTrialSubjectID": "D",  # (0012,0040) LO
    "ClinicalTrialSubjectReadingID": "D",  # (0012,0042) LO
    "ClinicalTrialTimePointID": "Z",  # (0012,0050) LO
    "ClinicalTrialTimePointDescription": "X",  # (0012,0051) ST
    "ClinicalTrialCoordinatingCenterName": "Z",  # (0012,0060) LO
    "ClinicalTrialSeriesID": "X",  # (0012,0071) LO
    "ClinicalTrialSeriesDescription": "X",  # (0012,0072) LO
    "ClinicalTrialProtocolEthicsCommitteeName": "D",  # (0012,0081) LO
    "ClinicalTrialProtocolEthicsCommitteeApprovalNumber": "X",  # (0012,0082) LO
    "EthicsCommitteeApprovalEffectivenessStartDate": "X",  # (0012,0086) DA
    "EthicsCommitteeApprovalEffectivenessEndDate": "X",  # (0012,0087) DA
    "CalibrationTime": "X",  # (0014,407C) TM
    "CalibrationDate": "X",  # (0014,407E) DA
    "MakerNote": "X",  # (0016,002B) OB
    "DeviceSettingDescription": "X",  # (0016,004B) OB
    "CameraOwnerName": "X",  # (0016,004D) UT
    "LensSpecification": "X",  # (0016,004E) DS
    "LensMake": "X",  # (0016,004F) UT
    "LensModel": "X",  # (0016,0050) UT
    "LensSerialNumber": "X",  # (0016,0051) UT
    "GPSVersionID": "X",  # (0016,0070) OB
    "GPSLatitudeRef": "X",  # (0016,0071) CS
    "GPSLatitude": "X",  # (0016,0072) DS
    "GPSLongitudeRef": "X",  # (0016,0073) CS
    "GPSLongitude": "X",  # (0016,0074) DS
    "GPSAltitudeRef": "X",  # (0016,0075) US
    "GPSAltitude": "X",  # (0016,0076) DS
    "GPSTimeStamp": "X",  # (0016,0077) DT
    "GPSSatellites": "X",  # (0016,0078) UT
    "GPSStatus": "X",  # (0016,0079) CS
    "GPSMeasureMode": "X",  # (0016,007A) CS
    "GPSDOP": "X",  # (0016,007B) DS
    "GPSSpeedRef": "X",  # (0016,007C) CS
    "GPSSpeed": "X",  # (0016,007D) DS
    "GPSTrackRef": "X",  # (0016,007E) CS
    "GPSTrack": "X",  # (0016,007F) DS
    "GPSImgDirectionRef": "X",  # (0016,0080) CS
    "GPSImgDirection": "X",  # (0016,0081) DS
    "GPSMapDatum": "X",  # (0016,0082) UT
    "GPSDestLatitudeRef": "X",  # (0016,0083) CS
    "GPSDestLatitude": "X",  # (0016,0084) DS
    "GPSDestLongitudeRef": "X",  # (0016,0085) CS
    "GPSDestLongitude": "X",  # (0016,0086) DS
    "GPSDestBearingRef": "X",  # (0016,0087) CS
    "GPSDestBearing": "X",  # (0016,0088) DS
    "GPSDestDistanceRef": "X",  # (0016,0089) CS
    "GPSDestDistance": "X",  # (0016,008A) DS
    "GPSProcessingMethod": "X",  # (0016,008B) OB
    "GPSAreaInformation": "X",  # (0016,008C) OB
    "GPSDateStamp": "X",  # (0016,008D) DT
    "GPSDifferential": "X",  # (0016,008E) IS
    "ContrastBolusAgent": "Z/D",  # (0018,0010) LO
    "InterventionDrugStopTime": "X",  # (0018,0027) TM
    "InterventionDrugStartTime": "X",  # (0018,0035) TM
    "DeviceSerialNumber": "X/Z/D",  # (0018,1000) LO
    "DeviceUID": "U",  # (0018,1002) UI
    "PlateID": "X",  # (0018,1004) LO
    "GeneratorID": "X",  # (0018,1005) LO
    "CassetteID": "X",  # (0018,1007) LO
    "GantryID": "X",  # (0018,1008) LO
    "UniqueDeviceIdentifier": "X",  # (0018,1009) UT
    "UDISequence": "X",  # (0018,100A) SQ
    "ManufacturerDeviceClassUID": "U",  # (0018,100B) UI
    "DateOfSecondaryCapture": "X",  # (0018,1012) DA
    "TimeOfSecondaryCapture": "X",  # (0018,1014) TM
    "ProtocolName": "X/D",  # (0018,1030) LO
    "ContrastBolusStartTime": "X",  # (0018,1042) TM
    "ContrastBolusStopTime": "X",  # (0018,1043) TM
    "RadiopharmaceuticalStartTime": "X",  # (0018,1072) TM
    "RadiopharmaceuticalStopTime": "X",  # (0018,1073) TM
    "RadiopharmaceuticalStartDateTime": "X",  # (0018,1078) DT
    "RadiopharmaceuticalStopDateTime": "X",  # (0018,1079) DT
    "AcquisitionFieldOfViewLabel": "D",  # (0018,11BB) LO
    "DateOfLastCalibration": "X",  # (0018,1200) DA
    "TimeOfLastCalibration": "X",  # (0018,1201) TM
    "DateTimeOfLastCalibration": "X",  # (0018,1202) DT
    "CalibrationDateTime": "Z",  # (0018,1203) DT
    "AcquisitionDeviceProcessingDescription": "X/D",  # (0018,1400) LO
    "TargetUID": "U",  # (0018,2042) UI
    "AcquisitionComments": "X",  # (0018,4000) LT retired
    "TransducerIdentificationSequence": "X",  # (0018,5011) SQ
    "DetectorID": "X/D",  # (0018,700A) SH
    "DateOfLastDetectorCalibration": "X/D",  # (0018,700C) DA
    "TimeOfLastDetectorCalibration": "X/D",  # (0018,700E) TM
    "FrameAcquisitionDateTime": "D",  # (0018,9074) DT
    "FrameReferenceDateTime": "D",  # (0018,9151) DT
    "RespiratoryMotionCompensationTechniqueDescription": "X",  # (0018,9185) ST
    "XRaySourceID": "D",  # (0018,9367) UC
    "SourceStartDateTime": "D",  # (0018,9369) DT
    "SourceEndDateTime": "D",  # (0018,936A) DT
    "XRayDetectorID": "D",  # (0018,9371) UC
    "XRayDetectorLabel": "X",  # (0018,9373) ST
    "MultienergyAcquisitionDescription": "X",  # (0018,937B) UT
    "DecompositionDescription": "X",  # (0018,937F) UT
    "AcquisitionProtocolDescription": "X",  # (0018,9424) LT
    "StartAcquisitionDateTime": "X/D",  # (0018,9516) DT
    "EndAcquisitionDateTime": "X/D",  # (0018,9517) DT
    "DecayCorrectionDateTime": "D",  # (0018,9701) DT
    "ExclusionStartDateTime": "D",  # (0018,9804) DT
    "InstructionPerformedDateTime": "Z/D",  # (0018,9919) DT
    "RequestedSeriesDescription": "X",  # (0018,9937) LO
    "ContributionDateTime": "X",  # (0018,A002) DT
    "ContributionDescription": "X",  # (0018,A003) ST
    "StudyInstanceUID": "U",  # (0020,000D) UI
    "SeriesInstanceUID": "U",  # (0020,000E) UI
    "StudyID": "Z",  # (0020,0010) SH
    "PyramidLabel": "X",  # (0020,0027) LO
    "FrameOfReferenceUID": "U",  # (0020,0052) UI
    "SynchronizationFrameOfReferenceUID": "U",  # (0020,0200) UI
    "ModifyingDeviceID": "X",  # (0020,3401) CS retired
    "ModifiedImageDate": "X",  # (0020,3403) DA retired
    "ModifiedImageTime": "X",  # (0020,3405) TM retired
    "ModifiedImageDescription": "X",  # (0020,3406) LO retired
    "ImageComments": "X",  # (0020,4000) LT
    "FrameComments": "X",  # (0020,9158) LT
    "ConcatenationUID": "U",  # (0020,9161) UI
    "DimensionOrganizationUID": "U",  # (0020,9164) UI
    "PaletteColorLookupTableUID": "U",  # (0028,1199) UI
    "LargePaletteColorLookupTableUID": "U",  # (0028,1214) UI retired
    "ImagePresentationComments": "X",  # (0028,4000) LT retired
    "StudyIDIssuer": "X",  # (0032,0012) LO retired
    "StudyVerifiedDate": "X",  # (0032,0032) DA retired
    "StudyVerifiedTime": "X",  # (0032,0033) TM retired
    "StudyReadDate": "X",  # (0032,0034) DA retired
    "StudyReadTime": "X",  # (0032,0035) TM retired
    "ScheduledStudyStartDate": "X",  # (0032,1000) DA retired
    "ScheduledStudyStartTime": "X",  # (0032,1001) TM retired
    "ScheduledStudyStopDate": "X",  # (0032,1010) DA retired
    "ScheduledStudyStopTime": "X",  # (0032,1011) TM retired
    "ScheduledStudyLocation": "X",  # (0032,1020) LO retired
    "ScheduledStudyLocationAETitle": "X",  # (0032,1021) AE retired
    "ReasonForStudy": "X",  # (0032,1030) LO retired
    "RequestingPhysician": "X",  # (0032,1032) PN
    "RequestingService": "X",  # (0032,1033) LO
    "StudyArrivalDate": "X",  # (0032,1040) DA retired
    "StudyArrivalTime": "X",  # (0032,1041) TM retired
    "StudyCompletionDate": "X",  # (0032,1050) DA retired
    "StudyCompletionTime": "X",  # (0032,1051) TM retired
    "RequestedProcedureDescription": "X/Z",  # (0032,1060) LO
    "ReasonForVisit": "X",  # (0032,1066) UT
    "ReasonForVisitCodeSequence": "X",  # (0032,1067) SQ
    "RequestedContrastAgent": "X",  # (0032,1070) LO
    "StudyComments": "X",  # (0032,4000) LT retired
    "FlowIdentifierSequence": "D",  # (0034,0001) SQ
    "FlowIdentifier": "D",  # (0034,0002) OB
    "SourceIdentifier": "D",  # (0034,0005) OB
    "FrameOriginTimestamp": "D",  # (0034,0007) OB
    "ReferencedPatientAliasSequence": "X",  # (0038,0004) SQ retired
    "AdmissionID": "X",  # (0038,0010) LO
    "IssuerOfAdmissionID": "X",  # (0038,0011) LO retired
    "IssuerOfAdmissionIDSequence": "X",  # (0038,0014) SQ
    "ScheduledAdmissionDate": "X",  # (0038,001A) DA retired
    "ScheduledAdmissionTime": "X",  # (0038,001B) TM retired
    "ScheduledDischargeDate": "X",  # (0038,001C) DA retired
    "ScheduledDischargeTime": "X",  # (0038,001D) TM retired
    "ScheduledPatientInstitutionResidence": "X",  # (0038,001E) LO retired
    "AdmittingDate": "X",  # (0038,0020) DA
    "AdmittingTime": "X",  # (0038,0021) TM
    "DischargeDate": "X",  # (0038,0030) DA retired
    "DischargeTime": "X",  # (0038,0032) TM retired
    "DischargeDiagnosisDescription": "X",  # (0038,0040) LO retired
    "SpecialNeeds": "X",  # (0038,0050) LO
    "ServiceEpisodeID": "X",  # (0038,0060) LO
    "IssuerOfServiceEpisodeID": "X",  # (0038,0061) LO retired
    "ServiceEpisodeDescription": "X",  # (0038,0062) LO
    "IssuerOfServiceEpisodeIDSequence": "X",  # (0038,0064) SQ
    "CurrentPatientLocation": "X",  # (0038,0300) LO
    "PatientInstitutionResidence": "X",  # (0038,0400) LO
    "PatientState": "X",  # (0038,0500) LO
    "VisitComments": "X",  # (0038,4000) LT
    "MultiplexGroupUID": "U",  # (003A,0310) UI
    "ImpedanceMeasurementDateTime": "D",  # (003A,0314) DT
    "WaveformFilterDescription": "X",  # (003A,0329) ST
    "FilterLookupTableDescription": "X",  # (003A,032B) ST
    "ScheduledStationAETitle": "X",  # (0040,0001) AE
    "ScheduledProcedureStepStartDate": "X",  # (0040,0002) DA
    "ScheduledProcedureStepStartTime": "X",  # (0040,0003) TM
    "ScheduledProcedureStepEndDate": "X",  # (0040,0004) DA
    "ScheduledProcedureStepEndTime": "X",  # (0040,0005) TM
    "ScheduledPerformingPhysicianName": "X",  # (0040,0006) PN
    "ScheduledProcedureStepDescription": "X",  # (0040,0007) LO
    "ScheduledProcedureStepID": "X",  # (0040,0009) SH
    "ScheduledPerformingPhysicianIdentificationSequence": "X",  # (0040,000B) SQ
    "ScheduledStationName": "X",  # (0040,0010) SH
    "ScheduledProcedureStepLocation": "X",  # (0040,0011) SH
    "PreMedication": "X",  # (0040,0012) LO
    "PerformedStationAETitle": "X",  # (0040,0241) AE
    "PerformedStationName": "X",  # (0040,0242) SH
    "PerformedLocation": "X",  # (0040,0243) SH
    "PerformedProcedureStepStartDate": "X",  # (0040,0244) DA
    "PerformedProcedureStepStartTime": "X",  # (0040,0245) TM
    "PerformedProcedureStepEndDate": "X",  # (0040,0250) DA
    "PerformedProcedureStepEndTime": "X",  # (0040,0251) TM
    "PerformedProcedureStepID": "X",  # (0040,0253) SH
    "PerformedProcedureStepDescription": "X",  # (0040,0254) LO
    "RequestAttributesSequence": "X",  # (0040,0275) SQ
    "CommentsOnThePerformedProcedureStep": "X",  # (0040,0280) ST
    "CommentsOnRadiationDose": "X",  # (0040,0310) ST
    "SpecimenAccessionNumber": "X",  # (0040,050A) LO retired
    "ContainerIdentifier": "D",  # (0040,0512) LO
    "IssuerOfTheContainerIdentifierSequence": "Z",  # (0040,0513) SQ
    "ContainerDescription": "X",  # (0040,051A) LO
    "SpecimenIdentifier": "D",  # (0040,0551) LO
    "SpecimenUID": "U",  # (0040,0554) UI
    "AcquisitionContextSequence": "X/Z",  # (0040,0555) SQ
    "IssuerOfTheSpecimenIdentifierSequence": "Z",  # (0040,0562) SQ
    "SpecimenShortDescription": "X",  # (0040,0600) LO
    "SpecimenDetailedDescription": "X",  # (0040,0602) UT
    "SpecimenPreparationSequence": "Z",  # (0040,0610) SQ
    "SlideIdentifier": "X",  # (0040,06FA) LO retired
    "RequestedProcedureID": "X",  # (0040,1001) SH
    "ReasonForTheRequestedProcedure": "X",  # (0040,1002) LO
    "PatientTransportArrangements": "X",  # (0040,1004) LO
    "RequestedProcedureLocation": "X",  # (0040,1005) LO
    "ReasonForRequestedProcedureCodeSequence": "X",  # (0040,100A) SQ
    "NamesOfIntendedRecipientsOfResults": "X",  # (0040,1010) PN
    "IntendedRecipientsOfResultsIdentificationSequence": "X",  # (0040,1011) SQ
    "PersonIdentificationCodeSequence": "D",  # (0040,1101) SQ
    "PersonAddress": "X",  # (0040,1102) ST
    "PersonTelephoneNumbers": "X",  # (0040,1103) LO
    "PersonTelecomInformation": "X",  # (0040,1104) LT
    "RequestedProcedureComments": "X",  # (0040,1400) LT
    "ReasonForTheImagingServiceRequest": "X",  # (0040,2001) LO retired
    "IssueDateOfImagingServiceRequest": "X",  # (0040,2004) DA
    "IssueTimeOfImagingServiceRequest": "X",  # (0040,2005) TM
    "OrderEnteredBy": "X",  # (0040,2008) PN
    "OrderEntererLocation": "X",  # (0040,2009) SH
    "OrderCallbackPhoneNumber": "X",  # (0040,2010) SH
    "OrderCallbackTelecomInformation": "X",  # (0040,2011) LT
    "PlacerOrderNumberImagingServiceRequest": "Z",  # (0040,2016) LO
    "FillerOrderNumberImagingServiceRequest": "Z",  # (0040,2017) LO
    "ImagingServiceRequestComments": "X",  # (0040,2400) LT
    "ConfidentialityConstraintOnPatientDataDescription": "X",  # (0040,3001) LO
    "ScheduledProcedureStepStartDateTime": "X",  # (0040,4005) DT
    "ScheduledProcedureStepExpirationDateTime": "X",  # (0040,4008) DT
    "ScheduledProcedureStepModificationDateTime": "X",  # (0040,4010) DT
    "ExpectedCompletionDateTime": "X",  # (0040,4011) DT
    "ReferencedGeneralPurposeScheduledProcedureStepTransactionUID": "U",  # (0040,4023) UI retired
    "ScheduledStationNameCodeSequence": "X",  # (0040,4025) SQ
    "ScheduledStationGeographicLocationCodeSequence": "X",  # (0040,4027) SQ
    "PerformedStationNameCodeSequence": "X",  # (0040,4028) SQ
    "PerformedStationGeographicLocationCodeSequence": "X",  # (0040,4030) SQ
    "NonDICOMOutputCodeSequence": "X",  # (0040,4032) SQ retired
    "ScheduledHumanPerformersSequence": "X",  # (0040,4034) SQ
    "ActualHumanPerformersSequence": "X",  # (0040,4035) SQ
    "HumanPerformerOrganization": "X",  # (0040,4036) LO
    "HumanPerformerName": "X",  # (0040,4037) PN
    "PerformedProcedureStepStartDateTime": "X",  # (0040,4050) DT
    "PerformedProcedureStepEndDateTime": "X",  # (0040,4051) DT
    "FindingsGroupRecordingDateTrial": "X",  # (0040,A023) DA retired
    "FindingsGroupRecordingTimeTrial": "X",  # (0040,A024) TM retired
    "VerifyingOrganization": "D",  # (0040,A027) LO
    "VerificationDateTime": "D",  # (0040,A030) DT
    "ObservationDateTime": "X/D",  # (0040,A032) DT
    "ObservationStartDateTime": "X",  # (0040,A033) DT
    "VerifyingObserverSequence": "D",  # (0040,A073) SQ
    "VerifyingObserverName": "D",  # (0040,A075) PN
    "AuthorObserverSequence": "X",  # (0040,A078) SQ
    "ParticipantSequence": "X",  # (0040,A07A) SQ
    "CustodialOrganizationSequence": "X",  # (0040,A07C) SQ
    "ParticipationDateTime": "Z",  # (0040,A082) DT
    "VerifyingObserverIdentificationCodeSequence": "Z",  # (0040,A088) SQ
    "DateOfDocumentOrVerbalTransactionTrial": "X",  # (0040,A110) DA retired
    "TimeOfDocumentCreationOrVerbalTransactionTrial": "X",  # (0040,A112) TM retired
    "DateTime": "D",  # (0040,A120) DT
    "Date": "D",  # (0040,A121) DA
    "Time": "D",  # (0040,A122) TM
    "PersonName": "D",  # (0040,A123) PN
    "UID": "U",  # (0040,A124) UI
    "ReferencedDateTime": "D",  # (0040,A13A) DT
    "ObservationUID": "U",  # (0040,A171) UI
    "ReferencedObservationUIDTrial": "U",  # (0040,A172) UI retired
    "ObservationDateTrial": "X",  # (0040,A192) DA retired
    "ObservationTimeTrial": "X",  # (0040,A193) TM retired
    "CurrentObserverTrial": "X",  # (0040,A307) PN retired
    "VerbalSourceTrial": "X",  # (0040,A352) PN retired
    "AddressTrial": "X",  # (0040,A353) ST retired
    "TelephoneNumberTrial": "X",  # (0040,A354) LO retired
    "VerbalSourceIdentifierCodeSequenceTrial": "X",  # (0040,A358) SQ retired
    "ObservationSubjectUIDTrial": "U",  # (0040,A402) UI retired
    "ContentSequence": "D",  # (0040,A730) SQ
    "TemplateVersion": "X",  # (0040,DB06) DT retired
    "TemplateLocalVersion": "X",  # (0040,DB07) DT retired
    "TemplateExtensionOrganizationUID": "U",  # (0040,DB0C) UI retired
    "TemplateExtensionCreatorUID": "U",  # (0040,DB0D) UI retired
    "HL7DocumentEffectiveTime": "X",  # (0040,E004) DT
    "EncapsulatedDocument": "D",  # (0042,0011) OB
    "ApprovalStatusDateTime": "X",  # (0044,0004) DT
    "ProductExpirationDateTime": "X",  # (0044,000B) DT
    "SubstanceAdministrationDateTime": "X",  # (0044,0010) DT
    "AssertionDateTime": "D",  # (0044,0104) DT
    "AssertionExpirationDateTime": "X",  # (0044,0105) DT
    "ContainerComponentID": "X",  # (0050,001B) LO
    "DeviceDescription": "X",  # (0050,0020) LO
    "LongDeviceDescription": "X",  # (0050,0021) ST
    "TrackingUID": "U",  # (0062,0021) UI
    "EffectiveDateTime": "D",  # (0068,6226) DT
    "InformationIssueDateTime": "D",  # (0068,6270) DT
    "AnnotationGroupUID": "D",  # (006A,0003) UI
    "AnnotationGroupLabel": "D",  # (006A,0005) LO
    "AnnotationGroupDescription": "X",  # (006A,0006) UT
    "GraphicAnnotationSequence": "D",  # (0070,0001) SQ
    "PresentationCreationDate": "X",  # (0070,0082) DA
    "PresentationCreationTime": "X",  # (0070,0083) TM
    "ContentCreatorName": "Z/D",  # (0070,0084) PN
    "ContentCreatorIdentificationCodeSequence": "X",  # (0070,0086) SQ
    "FiducialUID": "U",  # (0070,031A) UI
    "PresentationDisplayCollectionUID": "U",  # (0070,1101) UI
    "PresentationSequenceCollectionUID": "U",  # (0070,1102) UI
    "HangingProtocolCreationDateTime": "D",  # (0072,000A) DT
    "SelectorASValue": "D",  # (0072,005F) AS
    "SelectorDAValue": "D",  # (0072,0061) DA
    "SelectorDTValue": "D",  # (0072,0063) DT
    "SelectorOBValue": "D",  # (0072,0065) OB
    "SelectorLOValue": "D",  # (0072,0066) LO
    "SelectorLTValue": "D",  # (0072,0068) LT
    "SelectorPNValue": "D",  # (0072,006A) PN
    "SelectorTMValue": "D",  # (0072,006B) TM
    "SelectorSHValue": "D",  # (0072,006C) SH
    "SelectorUNValue": "D",  # (0072,006D) UN
    "SelectorSTValue": "D",  # (0072,006E) ST
    "SelectorUTValue": "D",  # (0072,0070) UT
    "SelectorURValue": "D",  # (0072,0071) UR
    "StorageMediaFileSetUID": "U",  # (0088,0140) UI
    "IconImageSequence": "X",  # (0088,0200) SQ
    "TopicTitle": "X",  # (0088,0904) LO retired
    "TopicSubject": "X",  # (0088,0906) ST retired
    "TopicAuthor": "X",  # (0088,0910) LO retired
    "TopicKeywords": "X",  # (0088,0912) LO retired
    "SOPAuthorizationDateTime": "X",  # (0100,0420) DT
    "DigitalSignatureUID": "U",  # (0400,0100) UI
    "DigitalSignatureDateTime": "D",  # (0400,0105) DT
    "CertificateOfSigner": "D",  # (0400,0115) OB
    "CertifiedTimestamp": "X",  # (0400,0310) OB
    "ReferencedDigitalSignatureSequence": "X",  # (0400,0402) SQ
    "ReferencedSOPInstanceMACSequence": "X",  # (0400,0403) SQ
    "MAC": "X",  # (0400,0404) OB
    "ModifiedAttributesSequence": "X",  # (0400,0550) SQ
    "NonconformingModifiedAttributesSequence": "X",  # (0400,0551) SQ
    "NonconformingDataElementValue": "X",  # (0400,0552) OB
    "OriginalAttributesSequence": "X",  # (0400,0561) SQ
    "AttributeModificationDateTime": "D",  # (0400,0562) DT
    "ModifyingSystem": "D",  # (0400,0563) LO
    "SourceOfPreviousValues": "Z",  # (0400,0564) LO
    "ReasonForTheAttributeModification": "D",  # (0400,0565) CS
    "InstanceOriginStatus": "X",  # (0400,0600) CS
    "TextString": "X",  # (2030,0020) LO
    "CreationDate": "X",  # (2100,0040) DA
    "CreationTime": "X",  # (2100,0050) TM
    "LabelText": "X/Z",  # (2200,0002) UT
    "BarcodeValue": "X/Z",  # (2200,0005) LT
    "StructureSetLabel": "D",  # (3006,0002) SH
    "StructureSetName": "X",  # (3006,0004) LO
    "StructureSetDescription": "X",  # (3006,0006) ST
    "StructureSetDate": "Z",  # (3006,0008) DA
    "StructureSetTime": "Z",  # (3006,0009) TM
    "ReferencedFrameOfReferenceUID": "U",  # (3006,0024) UI
    "ROIName": "Z",  # (3006,0026) LO
    "ROIDescription": "X",  # (3006,0028) ST
    "ROIGenerationDescription": "X",  # (3006,0038) LO
    "ROIObservationLabel": "X",  # (3006,0085) SH retired
    "ROIObservationDescription": "X",  # (3006,0088) ST retired
    "ROIInterpreter": "Z",  # (3006,00A6) PN
    "RelatedFrameOfReferenceUID": "U",  # (3006,00C2) UI retired
    "TreatmentControlPointDate": "D",  # (3008,0024) DA
    "FirstTreatmentDate": "X/D",  # (3008,0054) DA
    "MostRecentTreatmentDate": "X/D",  # (3008,0056) DA
    "SourceSerialNumber": "X/Z",  # (3008,0105) LO
    "SafePositionExitDate": "D",  # (3008,0162) DA
    "SafePositionExitTime": "D",  # (3008,0164) TM
    "SafePositionReturnDate": "D",  # (3008,0166) DA
    "SafePositionReturnTime": "D",  # (3008,0168) TM
    "TreatmentDate": "X/D",  # (3008,0250) DA
    "TreatmentTime": "X/D",  # (3008,0251) TM
    "RTPlanLabel": "D",  # (300A,0002) SH
    "RTPlanName": "X",  # (300A,0003) LO
    "RTPlanDescription": "X",  # (300A,0004) ST
    "RTPlanDate": "X/D",  # (300A,0006) DA
    "RTPlanTime": "X/D",  # (300A,0007) TM
    "TreatmentSites": "X",  # (300A,000B) LO retired
    "PrescriptionDescription": "X",  # (300A,000E) ST
    "DoseReferenceUID": "U",  # (300A,0013) UI
    "DoseReferenceDescription": "X",  # (300A,0016) LO
    "FractionGroupDescription": "X",  # (300A,0072) LO
    "ReferencedDoseReferenceUID": "U",  # (300A,0083) UI
    "TreatmentMachineName": "X/Z",  # (300A,00B2) SH
    "BeamDescription": "X",  # (300A,00C3) ST
    "BolusDescription": "X",  # (300A,00DD) ST
    "FixationDeviceDescription": "X",  # (300A,0196) ST
    "ShieldingDeviceDescription": "X",  # (300A,01A6) ST
    "SetupTechniqueDescription": "X",  # (300A,01B2) ST
    "SourceManufacturer": "X",  # (300A,0216) LO
    "SourceStrengthReferenceDate": "D",  # (300A,022C) DA
    "SourceStrengthReferenceTime": "D",  # (300A,022E) TM
    "CompensatorDescription": "X",  # (300A,02EB) LT
    "TreatmentPositionGroupLabel": "D",  # (300A,0608) LO
    "TreatmentPositionGroupUID": "U",  # (300A,0609) UI
    "RTAccessoryHolderSlotID": "Z",  # (300A,0611) LO
    "RTAccessoryDeviceSlotID": "Z",  # (300A,0615) LO
    "RadiationDoseIdentificationLabel": "D",  # (300A,0619) LO
    "RadiationDoseInVivoMeasurementLabel": "D",  # (300A,0623) LO
    "RTToleranceSetLabel": "D",  # (300A,062A) LO
    "PatientSetupUID": "U",  # (300A,0650) UI retired
    "EquipmentFrameOfReferenceDescription": "X",  # (300A,0676) ST
    "RadiationGenerationModeLabel": "D",  # (300A,067C) SH
    "RadiationGenerationModeDescription": "Z",  # (300A,067D) ST
    "TreatmentSessionUID": "U",  # (300A,0700) UI
    "TreatmentToleranceViolationDescription": "D",  # (300A,0734) ST
    "TreatmentToleranceViolationDateTime": "D",  # (300A,0736) DT
    "RecordedRTControlPointDateTime": "D",  # (300A,073A) DT
    "InterlockDateTime": "D",  # (300A,0741) DT
    "InterlockDescription": "D",  # (300A,0742) ST
    "OverrideDateTime": "D",  # (300A,0760) DT
    "InterlockOriginDescription": "D",  # (300A,0783) ST
    "ReferencedTreatmentPositionGroupUID": "U",  # (300A,0785) UI
    "PatientTreatmentPreparationProcedureParameterDescription": "X",  # (300A,078E) LT
    "PatientTreatmentPreparationMethodDescription": "X",  # (300A,0792) LT
    "PatientSetupPhotoDescription": "X",  # (300A,0794) LT
    "ReasonForOmissionDescription": "X",  # (300C,0113) LO
    "BeamHoldTransitionDateTime": "D",  # (300C,0127) DT
    "ReviewDate": "Z",  # (300E,0004) DA
    "ReviewTime": "Z",  # (300E,0005) TM
    "ReviewerName": "X/Z",  # (300E,0008) PN
    "ConceptualVolumeUID": "U",  # (3010,0006) UI
    "ReferencedConceptualVolumeUID": "U",  # (3010,000B) UI
    "ConceptualVolumeCombinationDescription": "Z",  # (3010,000F) ST
    "ConstituentConceptualVolumeUID": "U",  # (3010,0013) UI
    "SourceConceptualVolumeUID": "U",  # (3010,0015) UI
    "ConceptualVolumeDescription": "Z",  # (3010,0017) ST
    "DeviceAlternateIdentifier": "Z",  # (3010,001B) UC
    "DeviceLabel": "D",  # (3010,002D) LO
    "ReferencedFiducialsUID": "U",  # (3010,0031) UI
    "UserContentLabel": "D",  # (3010,0033) SH
    "UserContentLongLabel": "D",  # (3010,0034) LO
    "EntityLabel": "D",  # (3010,0035) SH
    "EntityName": "X",  # (3010,0036) LO
    "EntityDescription": "X",  # (3010,0037) ST
    "EntityLongLabel": "D",  # (3010,0038) LO
    "RTTreatmentPhaseUID": "U",  # (3010,003B) UI
    "ManufacturerDeviceIdentifier": "Z",  # (3010,0043) ST
    "IntendedPhaseStartDate": "X/D",  # (3010,004C) DA
    "IntendedPhaseEndDate": "X/D",  # (3010,004D) DA
    "RTPrescriptionLabel": "D",  # (3010,0054) LO
    "RTTreatmentApproachLabel": "X/D",  # (3010,0056) LO
    "RTPhysicianIntentNarrative": "Z",  # (3010,005A) UT
    "ReasonForSuperseding": "Z",  # (3010,005C) ST
    "PriorTreatmentDoseDescription": "X",  # (3010,0061) UT
    "DosimetricObjectiveUID": "U",  # (3010,006E) UI
    "TreatmentSite": "X/D",  # (3010,0077) LO
    "TreatmentTechniqueNotes": "Z",  # (3010,007A) UT
    "PrescriptionNotes": "Z",  # (3010,007B) UT
    "FractionationNotes": "Z",  # (3010,007F) UT
    "PrescriptionNotesSequence": "Z",  # (3010,0081) SQ
    "IntendedFractionStartTime": "X",  # (3010,0085) TM
    "Arbitrary": "X",  # (4000,0010) LT retired
    "TextComments": "X",  # (4000,4000) LT retired
    "ResultsID": "X",  # (4008,0040) SH retired
    "ResultsIDIssuer": "X",  # (4008,0042) LO retired
    "InterpretationRecordedDate": "X",  # (4008,0100) DA retired
    "InterpretationRecordedTime": "X",  # (4008,0101) TM retired
    "InterpretationRecorder": "X",  # (4008,0102) PN retired
    "InterpretationTranscriptionDate": "X",  # (4008,0108) DA retired
    "InterpretationTranscriptionTime": "X",  # (4008,0109) TM retired
    "InterpretationTranscriber": "X",  # (4008,010A) PN retired
    "InterpretationText": "X",  # (4008,010B) ST retired
    "InterpretationAuthor": "X",  # (4008,010C) PN retired
    "InterpretationApproverSequence": "X",  # (4008,0111) SQ retired
    "InterpretationApprovalDate": "X",  # (4008,0112) DA retired
    "InterpretationApprovalTime": "X",  # (4008,0113) TM retired
    "PhysicianApprovingInterpretation": "X",  # (4008,0114) PN retired
    "InterpretationDiagnosisDescription": "X",  # (4008,0115) LT retired
    "ResultsDistributionListSequence": "X",  # (4008,0118) SQ retired
    "InterpretationID": "X",  # (4008,0200) SH retired
    "InterpretationIDIssuer": "X",  # (4008,0202) LO retired
    "Impressions": "X",  # (4008,0300) ST retired
    "ResultsComments": "X",  # (4008,4000) ST retired
    "DigitalSignaturesSequence": "X",  # (FFFA,FFFA) SQ
    "DataSetTrailingPadding": "X",  # (FFFC,FFFC) OB
}
# fmt: on

#: Attributes removed although Table E.1-1 does not list them (or lists them only in later editions): they can
#: name the sending station or carry identifying data and the platform never needs them.
ADDITIONAL_REMOVALS: Final[frozenset[str]] = frozenset(
    {
        "SourceApplicationEntityTitle",  # (0002,0016)
        "SendingApplicationEntityTitle",  # (0002,0017)
        "ReceivingApplicationEntityTitle",  # (0002,0018)
        "PrivateInformationCreatorUID",  # (0002,0100)
        "PrivateInformation",  # (0002,0102)
        "RetrieveAETitle",  # (0008,0054)
        "StationAETitle",  # (0008,0055)
        "IssuerOfPatientIDQualifiersSequence",  # (0010,0024)
        "PatientBirthDateInAlternativeCalendar",  # (0010,0033)
        "PatientDeathDateInAlternativeCalendar",  # (0010,0034)
        "PatientAlternativeCalendar",  # (0010,0035)
        "RequestingPhysicianIdentificationSequence",  # (0032,1031)
        "EncryptedAttributesSequence",  # (0400,0500)
        "MACParametersSequence",  # (4FFE,0001)
    }
)

#: Attributes that are Type 2 in the MR Image IOD (PS3.3 A.4) among those with a compound action code: they
#: are emptied (``Z``) rather than removed. Content Date/Time are Type 2C (present for temporally related
#: images, which MR slices are); Contrast/Bolus Agent is Type 2 in the Contrast/Bolus module.
MR_IOD_TYPE2: Final[frozenset[str]] = frozenset({"ContentDate", "ContentTime", "ContrastBolusAgent"})

#: Private attributes known to carry no identifying information, kept under the Retain Safe Private Option
#: (PS3.15 E.3.10, Table E.3.10-1): (group, private creator, element offset within the block). Philips stores
#: the floating-point scale of its MR pixel values here; all other private data is removed.
SAFE_PRIVATE_ATTRIBUTES: Final[frozenset[tuple[int, str, int]]] = frozenset(
    {
        (0x2005, "Philips MR Imaging DD 001", 0x0D),  # Scale Intercept (FL)
        (0x2005, "Philips MR Imaging DD 001", 0x0E),  # Scale Slope (FL)
    }
)

#: Date/time attributes that hold dictionary versions, not events of the patient's care: never shifted.
_VERSION_DATETIMES: Final = frozenset(
    {"ContextGroupVersion", "ContextGroupLocalVersion", "TemplateVersion", "TemplateLocalVersion"}
)
#: Descriptors kept, after cleaning, under the Clean Descriptors Option.
_CLEANABLE_DESCRIPTORS: Final = frozenset({"SeriesDescription", "ProtocolName", "StudyDescription"})
_DATE_VRS: Final = frozenset({"DA", "DT", "TM"})
_TEXT_VRS: Final = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_BINARY_VRS: Final = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN", "OB or OW", "US or OW"})
_RAW_TEXT_VRS: Final = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UI", "UT"})
_CHARSET_VRS: Final = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_SPECIFIC_CHARACTER_SET: Final = 0x00080005
_PIXEL_TAGS: Final = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_SOP_INSTANCE_UID: Final = 0x00080018
_MEDIA_STORAGE_SOP_INSTANCE_UID: Final = 0x00020003
_BURNED_IN_ANNOTATION: Final = 0x00280301
_DIGIT_RUN: Final = re.compile(r"\d{5,}")
_SPACE_RUN: Final = re.compile(r"\s{2,}")
#: Plans of :meth:`_Deidentifier._plan` by (top level?, dates shifted?, descriptors cleaned?), then (tag, VR).
_PLANS: dict[tuple[bool, bool, bool], dict[tuple[int, str | None], tuple[str, str, str]]] = {}
#: Bounds of a :func:`deidentify` memo: contexts (subject, date offset, encoding…) and values per context.
_MEMO_CONTEXTS: Final = 256
_MEMO_VALUES: Final = 4096
#: A text value :meth:`_Deidentifier._text_outcome` removes.
_REMOVE: Final = object()
#: Top-level attributes :func:`deidentify` writes whatever the file held.
_WRITTEN_BY_DEIDENTIFY: Final = frozenset({0x00100010, 0x00100020, 0x00120062, 0x00120063, 0x00120064, 0x00280303})
_DUMMY_TEXT: Final = "ANONYMIZED"
_DUMMY_BY_VR: Final[dict[str, object]] = {
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "AS": "000Y",
    "IS": "0",
    "DS": "0",
}


def resolve_action(keyword: str) -> str | None:
    """Return the single action code (``X``, ``Z``, ``D``, ``U``) that applies to ``keyword`` in an MR image.

    Compound codes of Table E.1-1 are resolved for the MR Image IOD: ``Z`` when the attribute is Type 2 there
    (:data:`MR_IOD_TYPE2`), else ``X`` (all other compound-coded attributes are Type 3 in that IOD). Returns
    ``None`` for an attribute the profile keeps.
    """
    if keyword in ADDITIONAL_REMOVALS:
        return "X"
    code = BASIC_PROFILE.get(keyword)
    if code is None:
        return None
    if "/" not in code:
        return code
    return "Z" if keyword in MR_IOD_TYPE2 and "Z" in code else "X"


class UidMapper:
    """Deterministic, study-consistent replacement of UIDs (action ``U``).

    A UID is replaced by ``2.25.<n>`` where ``n`` is the integer value of a version-8 (custom) UUID made
    from the first 128 bits of HMAC-SHA256(secret, original UID) (PS3.5 B.2: UIDs under the 2.25 root
    derived from a UUID). The same secret maps the same UID to the same new UID in every run and on every
    worker, so files of one series keep one Series Instance UID, references between instances stay valid
    and a re-import is idempotent; without the secret the mapping can be neither reversed nor recomputed.
    The pairs seen so far are kept in memory (:attr:`mapping`) so the caller can store them with the study.

    Parameters
    ----------
    secret : bytes or str
        Per-study secret (e.g. a random token stored on the study row). Must not be empty.
    """

    def __init__(self, secret: bytes | str) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if not key:
            raise ValueError("The UID mapping secret must not be empty.")
        self._key = key
        self._mapping: dict[str, str] = {}

    def map(self, uid: str) -> str:
        """Return the replacement of ``uid`` (an empty value stays empty)."""
        original = str(uid).strip().rstrip("\x00")
        if not original:
            return original
        new = self._mapping.get(original)
        if new is None:
            digest = hmac.new(self._key, original.encode("ascii", "replace"), hashlib.sha256).digest()
            value = int.from_bytes(digest[:16], "big")
            # UUID version 8 (RFC 9562 custom layout) and the RFC 4122 variant bits.
            value = (value & ~(0xF << 76)) | (0x8 << 76)
            value = (value & ~(0x3 << 62)) | (0x2 << 62)
            new = f"2.25.{value}"
            self._mapping[original] = new
        return new

    __call__ = map

    @property
    def mapping(self) -> dict[str, str]:
        """A copy of the original UID -> new UID pairs mapped so far."""
        return dict(self._mapping)

    def __len__(self) -> int:
        return len(self._mapping)

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, str) and uid.strip().rstrip("\x00") in self._mapping


def subject_date_offset(subject_code: str, *, secret: bytes | str, min_days: int = 365, max_days: int = 3650) -> int:
    """Return a reproducible date shift (a negative number of days) for one subject of a study.

    The offset is drawn from HMAC-SHA256(secret, subject code), uniformly in ``[-max_days, -min_days]``:
    every file of a subject gets the same shift, so intervals between that subject's examinations are
    kept, while the true dates cannot be recovered without the secret.
    """
    if not 0 < min_days <= max_days:
        raise ValueError("Date offsets need 0 < min_days <= max_days.")
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not key:
        raise ValueError("The date offset secret must not be empty.")
    digest = hmac.new(key, b"date-offset:" + subject_code.encode("utf-8"), hashlib.sha256).digest()
    span = max_days - min_days + 1
    return -(min_days + int.from_bytes(digest[:8], "big") % span)


@dataclass(frozen=True)
class DeidReport:
    """What :func:`deidentify` did to one dataset: attribute keywords (nested ones included), never values.

    Private and unknown attributes are named by tag, ``"(gggg,eeee)"``.
    """

    subject_code: str
    removed: tuple[str, ...]
    emptied: tuple[str, ...]
    replaced: tuple[str, ...]
    cleaned: tuple[str, ...]
    uids_remapped: tuple[str, ...]
    dates_shifted: tuple[str, ...]
    private_removed: tuple[str, ...]
    private_kept: tuple[str, ...]
    burned_in_annotation: bool
    date_offset_days: int | None
    dates_retained: bool
    method: tuple[str, ...]
    method_codes: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (lists for tuples) for storing with the imported instance."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @property
    def changed(self) -> tuple[str, ...]:
        """Every public keyword that was removed, emptied, replaced, cleaned, remapped or shifted."""
        return tuple(
            sorted(
                set(self.removed)
                | set(self.emptied)
                | set(self.replaced)
                | set(self.cleaned)
                | set(self.uids_remapped)
                | set(self.dates_shifted)
            )
        )


def deidentify(
    ds: Dataset,
    *,
    subject_code: str,
    uid_map: UidMapper,
    date_offset_days: int | None,
    keep_dates: bool = True,
    clean_descriptors: bool = False,
    unchanged: set[int] | None = None,
    memo: dict | None = None,
) -> DeidReport:
    """De-identify ``ds`` in place with the PS3.15 Basic Application Level Confidentiality Profile.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A dataset read by pydicom (with or without ``file_meta``). Modified in place; Pixel Data is untouched.
    subject_code : str
        The study's pseudonym for the subject; written to Patient's Name and Patient ID.
    uid_map : UidMapper
        Maps every instance UID (action ``U``) consistently; share one mapper across a study's files.
    date_offset_days : int or None
        Days added to every date (negative shifts into the past), the same for all files of a subject
        (see :func:`subject_date_offset`). ``None`` removes or empties the dates as the profile says.
    keep_dates : bool
        ``False`` removes dates per the profile even when an offset is given.
    clean_descriptors : bool
        Apply the Clean Descriptors Option to Series Description, Protocol Name and Study Description: keep
        them after removing any identifying value found elsewhere in the dataset and any long digit run.
        Off by default (the basic profile removes them).
    unchanged : set of int, optional
        If given, filled with the tags of the top-level attributes left exactly as they were read, so a
        writer may copy their original bytes (:func:`studies.dicom.encode.part10_bytes`).
    memo : dict, optional
        A dict the caller keeps across the files it de-identifies with the same ``uid_map``: each text value
        rewritten (names, IDs, dates, UIDs, descriptors) is remembered with the subject, date offset and
        encoding it was rewritten for, and a file holding the same value gets the same result without it being
        decoded again (the files of a series share most values). The result is the same with or without it.

    Returns
    -------
    DeidReport

    Raises
    ------
    ValueError
        If the subject code is empty, too long for a DICOM LO value (64 characters) or contains a backslash.
    """
    code = subject_code.strip() if isinstance(subject_code, str) else ""
    if not code or len(code) > 64 or "\\" in code:
        raise ValueError(
            f"Subject code {subject_code!r} cannot be written to DICOM: it must be 1-64 characters without a backslash."
        )
    if date_offset_days is not None and (isinstance(date_offset_days, bool) or not isinstance(date_offset_days, int)):
        raise ValueError("date_offset_days must be a whole number of days or None.")
    shift = date_offset_days if keep_dates and date_offset_days is not None else None
    burned_in = dicom_values.text(ds, _BURNED_IN_ANNOTATION).strip().upper() == "YES"

    worker = _Deidentifier(
        uid_map=uid_map,
        shift_days=shift,
        clean_descriptors=clean_descriptors,
        identifiers=_identifying_strings(ds) if clean_descriptors else (),
        root=ds,
        subject_code=code,
        memo=memo,
    )
    worker.walk(ds)
    for keyword, tag, vr in (("PatientName", 0x00100010, "PN"), ("PatientID", 0x00100020, "LO")):
        if tag not in ds._dict:  # Type 2 in the Patient module: always present
            worker.put(ds, tag, vr, [code])
            worker.replaced.add(keyword)
    file_meta = getattr(ds, "file_meta", None)
    if file_meta is not None:
        worker.walk(file_meta)
        sop_instance_uid = dicom_values.text(ds, _SOP_INSTANCE_UID)
        if sop_instance_uid:
            worker.put(file_meta, _MEDIA_STORAGE_SOP_INSTANCE_UID, "UI", [sop_instance_uid])

    method = [f"{PROFILE_NAME}; {'dates shifted' if shift is not None else 'dates removed'}"]
    codes = [CODE_BASIC_PROFILE]
    if worker.cleaned:
        method.append("descriptors cleaned")
        codes.append(CODE_CLEAN_DESCRIPTORS)
    if shift is not None:
        codes.append(CODE_MODIFIED_DATES)
    if worker.private_kept:
        method.append("safe private attributes retained")
        codes.append(CODE_SAFE_PRIVATE)
    if getattr(ds, "preamble", None):
        ds.preamble = b"\x00" * 128  # the 128-byte preamble is free-form (e.g. a TIFF header): never passed on
    worker.put(ds, 0x00120062, "CS", ["YES"])  # Patient Identity Removed
    worker.put(ds, 0x00120063, "LO", method)  # De-identification Method
    worker.put_codes(ds, 0x00120064, codes)  # De-identification Method Code Sequence
    worker.put(ds, 0x00280303, "CS", ["MODIFIED" if shift is not None else "REMOVED"])
    if unchanged is not None:
        unchanged.update(worker.kept_root - _WRITTEN_BY_DEIDENTIFY)

    def _sorted(values: Iterable[str]) -> tuple[str, ...]:
        return tuple(sorted(set(values)))

    return DeidReport(
        subject_code=code,
        removed=_sorted(worker.removed),
        emptied=_sorted(worker.emptied),
        replaced=_sorted(worker.replaced),
        cleaned=_sorted(worker.cleaned),
        uids_remapped=_sorted(worker.remapped),
        dates_shifted=_sorted(worker.shifted),
        private_removed=_sorted(worker.private_removed),
        private_kept=_sorted(worker.private_kept),
        burned_in_annotation=burned_in,
        date_offset_days=shift,
        dates_retained=shift is not None,
        method=tuple(method),
        method_codes=tuple(c[0] for c in codes),
    )


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


@lru_cache(maxsize=64)
def _code_sequence_value(codes: tuple[tuple[str, str], ...], implicit: bool) -> bytes:
    """The encoded value of a code sequence: one defined-length item per (code value, meaning), CID 7050 (DCM)."""
    items = []
    for value, meaning in codes:
        body = b"".join(
            element_header(tag, vr, len(data), implicit) + data
            for tag, vr, data in (
                (0x00080100, "SH", padded(value.encode("ascii"), "SH")),
                (0x00080102, "SH", b"DCM "),
                (0x00080104, "LO", padded(meaning.encode("ascii"), "LO")),
            )
        )
        items.append(b"\xfe\xff\x00\xe0" + struct.pack("<L", len(body)) + body)
    return b"".join(items)


def _tag_name(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


class _Deidentifier:
    """Walks a dataset (recursing into sequences) and applies the actions; collects the report.

    Text attributes the actions change (names, IDs, dates, UIDs, descriptors) are read and written as bytes
    (:mod:`studies.dicom.values`, a new ``RawDataElement``) when the dataset is little endian in a
    plain character set; otherwise, and for everything else, through pydicom's ``DataElement``.
    """

    def __init__(
        self,
        *,
        uid_map: UidMapper,
        shift_days: int | None,
        clean_descriptors: bool,
        identifiers: tuple[str, ...],
        root: Dataset,
        subject_code: str,
        memo: dict | None = None,
    ) -> None:
        self.root = root
        self.subject_code = subject_code
        self.uid_map = uid_map
        self.shift_days = shift_days
        self.clean_descriptors = clean_descriptors
        self.identifiers = identifiers
        self.removed: set[str] = set()
        self.emptied: set[str] = set()
        self.replaced: set[str] = set()
        self.cleaned: set[str] = set()
        self.remapped: set[str] = set()
        self.shifted: set[str] = set()
        self.private_removed: set[str] = set()
        self.private_kept: set[str] = set()
        self.kept_root: set[int] = set()
        implicit, little = root.original_encoding if hasattr(root, "original_encoding") else (None, None)
        self.codec = dicom_values.text_codec(root)
        # as bytes only when the encoding is known, little endian and its text decodes with one codec
        self.raw = implicit is not None and little is True and self.codec is not None
        self.implicit = bool(implicit)
        # text values rewritten for earlier files in the same context: ((tag, VR), action, raw bytes) →
        # (report set, new element or _REMOVE)
        self.memo: dict | None = None
        if memo is not None and self.raw:
            if len(memo) >= _MEMO_CONTEXTS:
                memo.clear()
            context = (subject_code, shift_days, clean_descriptors, identifiers, self.codec, self.implicit)
            self.memo = memo.setdefault(context, {})
            if len(self.memo) >= _MEMO_VALUES:
                self.memo.clear()

    def walk(self, ds: Dataset) -> None:
        if any(tag >> 16 & 1 for tag in ds._dict):
            self._private(ds)
        root = ds is self.root
        raw_text = self.raw and (root or _SPECIFIC_CHARACTER_SET not in ds._dict)
        plans = _PLANS.setdefault((root, self.shift_days is not None, self.clean_descriptors), {})
        for tag, raw in list(ds._dict.items()):
            key = (int(tag), raw.VR)  # a plain int: a BaseTag compares through Python code
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = self._plan(BaseTag(tag), raw.VR, root)
            action, keyword, vr = plan
            if action == "K":
                if root:
                    self.kept_root.add(tag)
                continue  # kept, and left undecoded
            if action == "-":  # private (handled above) or a retired group length, stale once edited
                if not tag >> 16 & 1:
                    _drop(ds, tag)
                continue
            if action == "X":
                _drop(ds, tag)
                self.removed.add(keyword)
                continue
            if raw_text and vr in _RAW_TEXT_VRS and action in "ZPSUC":
                memo_key = (key, action, raw.value) if self.memo is not None and type(raw) is RawDataElement else None
                outcome = self.memo.get(memo_key) if memo_key is not None else None  # type: ignore[union-attr]
                if outcome is None:
                    outcome = self._text_outcome(ds, tag, vr, action)
                    if memo_key is not None and type(outcome[1]) is not DataElement:  # (a DataElement is mutable)
                        self.memo[memo_key] = outcome  # type: ignore[index]
                report, new = outcome
                if new is _REMOVE:
                    _drop(ds, tag)
                elif new is not None:
                    _set(ds, tag, new)
                if report:
                    getattr(self, report).add(keyword)
                continue
            if action == "Z":
                ds[tag] = DataElement(tag, vr, Sequence() if vr == "SQ" else empty_value_for_VR(vr))
                self.emptied.add(keyword)
                continue
            try:
                elem = ds[tag]
            except Exception:  # a value pydicom cannot decode cannot be checked, so it goes
                self.removed.add(keyword)
                del ds[tag]
                continue
            self._apply(ds, elem, action)

    def _text_outcome(self, ds: Dataset, tag: int, vr: str, action: str) -> tuple[str, object]:
        """Actions Z, P, S, U and C on a text attribute's values, as bytes: (the report set it goes to, or "";
        the new element, ``_REMOVE``, or None when it stays as it is)."""
        texts = dicom_values.strings(ds, tag, self.codec)
        if texts is None:  # a value pydicom cannot decode cannot be checked, so it goes
            return "removed", _REMOVE
        if action == "Z":
            new, report = [], "emptied"
        elif action == "P":
            new, report = [self.subject_code], "replaced"
        elif action == "S":
            if vr == "TM" or not texts:
                return "", None  # a whole-day shift leaves the time of day unchanged
            new = [_shift_date_text(t, self.shift_days or 0, datetime=vr == "DT") for t in texts]
            if None in new:  # unparseable or partial: cannot be shifted, so it goes
                return "removed", _REMOVE
            report = "shifted"
        elif action == "U":
            if vr != "UI" or not texts:
                return "", None
            new, report = [self.uid_map.map(t) for t in texts], "remapped"
        else:  # "C"
            new, report = [self._clean_text("\\".join(texts))], "cleaned"
        return report, self._element(ds, tag, vr, new)

    def put(self, ds: Dataset, tag: int, vr: str, texts: list[str]) -> None:
        """Set a text attribute (as bytes when the dataset allows, else through pydicom)."""
        _set(ds, tag, self._element(ds, tag, vr, texts))

    def _element(self, ds: Dataset, tag: int, vr: str, texts: list[str]) -> RawDataElement | DataElement:
        """A text attribute of ``ds`` with these values: raw bytes when the dataset allows, else pydicom's."""
        if self.raw and (ds is self.root or tag >> 16 == 0x0002 or _SPECIFIC_CHARACTER_SET not in ds._dict):
            codec = self.codec if vr in _CHARSET_VRS else "ascii"
            try:
                data = padded("\\".join(texts).encode(codec), vr)
            except UnicodeEncodeError:
                data = None
            if data is not None:
                implicit = self.implicit and tag >> 16 != 0x0002  # File Meta Information is explicit VR
                key = BaseTag(tag)
                return RawDataElement(key, None if implicit else vr, len(data), data, 0, implicit, True, True, False)
        return DataElement(tag, vr, texts if len(texts) > 1 else (texts[0] if texts else ""))

    def put_codes(self, ds: Dataset, tag: int, codes: list[tuple[str, str]]) -> None:
        """Set a code sequence (CID 7050 codes, scheme DCM)."""
        if not self.raw:
            ds[tag] = DataElement(tag, "SQ", Sequence([_code_item(*c) for c in codes]))
            return
        data = _code_sequence_value(tuple(codes), self.implicit)
        vr = None if self.implicit else "SQ"
        key = BaseTag(tag)
        ds._dict[key] = RawDataElement(key, vr, len(data), data, 0, self.implicit, True, True, False)

    def _plan(self, tag: BaseTag, raw_vr: str | None, root: bool) -> tuple[str, str, str]:
        """(action, name for the report, VR) for an element, from its tag and the VR it was read with."""
        if tag.is_private:
            return "-", "", raw_vr or ""
        group = tag.group
        if 0x5000 <= group <= 0x50FF or (0x6000 <= group <= 0x60FF and group % 2 == 0):
            # Curves and overlays go whole: an overlay plane can carry burned-in text.
            return "X", keyword_for_tag(tag) or _tag_name(tag), raw_vr or ""
        if tag.element == 0x0000 and group != 0x0002:
            return "-", "", raw_vr or ""
        if not dictionary_has_tag(tag):
            return "X", _tag_name(tag), raw_vr or ""
        keyword = keyword_for_tag(tag)
        vr = raw_vr if raw_vr not in (None, "UN") else dictionary_VR(tag)
        return self._action(root, keyword, vr), keyword, vr

    def _action(self, root: bool, keyword: str, vr: str) -> str:
        """What happens to one attribute, from its keyword and VR alone (no value is decoded for K, X, Z).

        ``K`` keep, ``X`` remove, ``Z`` empty, ``D`` dummy, ``U`` remap UID, ``C`` clean, ``S`` shift date,
        ``P`` subject code (Patient's Name/ID of the top-level dataset), ``R`` recurse into a sequence.
        """
        if root and keyword in ("PatientName", "PatientID"):
            return "P"
        action = resolve_action(keyword)
        if vr in _DATE_VRS and keyword not in _VERSION_DATETIMES:
            if self.shift_days is not None and keyword not in ("PatientBirthDate", "PatientBirthTime"):
                return "K" if vr == "TM" else "S"  # a whole-day shift leaves times of day as they are
            if action is None:  # a date or time the table does not list: removed as well, to be safe
                return "X"
        if self.clean_descriptors and keyword in _CLEANABLE_DESCRIPTORS:
            return "C"
        if action is not None:
            return action
        if vr == "UI" and _is_instance_uid(keyword):
            return "U"
        return "R" if vr == "SQ" else "K"

    def _apply(self, ds: Dataset, elem: DataElement, action: str) -> None:
        keyword = elem.keyword
        if action == "P":
            elem.value = self.subject_code
            self.replaced.add(keyword)
        elif action == "S":
            self._shift(ds, elem)
        elif action == "D":
            self._dummy(elem)
            self.replaced.add(keyword)
        elif action == "U":
            self._remap(elem)
        elif action == "C":
            self._clean(elem)
        elif action == "R":
            for item in elem.value:
                self.walk(item)

    def _remap(self, elem: DataElement) -> None:
        if elem.VR != "UI":  # e.g. a sequence with a U action in a later edition: clean its items instead
            if elem.VR == "SQ":
                for item in elem.value:
                    self.walk(item)
            return
        if elem.is_empty:
            return
        values = elem.value if elem.VM > 1 else [elem.value]
        new = [self.uid_map.map(v) for v in values]
        elem.value = new if elem.VM > 1 else new[0]
        self.remapped.add(elem.keyword)

    def _dummy(self, elem: DataElement) -> None:
        vr = elem.VR
        if vr == "SQ":
            elem.value = Sequence([Dataset()])
        elif vr == "UI":
            elem.value = self.uid_map.map(str(elem.value)) if not elem.is_empty else "2.25.0"
        elif vr in _DUMMY_BY_VR:
            elem.value = _DUMMY_BY_VR[vr]
        elif vr in _TEXT_VRS:
            elem.value = _DUMMY_TEXT
        elif vr in _BINARY_VRS:
            elem.value = b"\x00\x00"
        else:  # US, SS, UL, SL, FL, FD, AT, ...
            elem.value = 0

    def _shift(self, ds: Dataset, elem: DataElement) -> None:
        if elem.VR == "TM" or elem.is_empty:
            return  # a whole-day shift leaves the time of day unchanged
        values = elem.value if elem.VM > 1 else [elem.value]
        shifted = []
        for value in values:
            new = _shift_date_text(str(value), self.shift_days or 0, datetime=elem.VR == "DT")
            if new is None:  # unparseable or partial: cannot be shifted, so it goes
                del ds[elem.tag]
                self.removed.add(elem.keyword)
                return
            shifted.append(new)
        elem.value = shifted if elem.VM > 1 else shifted[0]
        self.shifted.add(elem.keyword)

    def _clean(self, elem: DataElement) -> None:
        elem.value = self._clean_text(str(elem.value or ""))
        self.cleaned.add(elem.keyword)

    def _clean_text(self, text: str) -> str:
        return _cleaned(text, self.identifiers)

    def _private(self, ds: Dataset) -> None:
        """Remove private attributes except the safe list; keep the creators the kept ones need."""
        private = [tag for tag in ds._dict if tag >> 16 & 1]  # odd groups
        creators: dict[tuple[int, int], str] = {}
        for tag in private:
            if 0x0010 <= tag & 0xFFFF <= 0x00FF:
                creators[(tag >> 16, tag & 0xFFFF)] = dicom_values.text(ds, tag).strip()
        kept_blocks: set[tuple[int, int]] = set()
        for tag in private:
            group, element = tag >> 16, tag & 0xFFFF
            if element <= 0x00FF:
                continue
            block = (group, element >> 8)
            creator = creators.get(block)
            if creator is not None and (group, creator, element & 0xFF) in SAFE_PRIVATE_ATTRIBUTES:
                kept_blocks.add(block)
                self.private_kept.add(_tag_name(tag))
                continue
            self.private_removed.add(_tag_name(tag))
            del ds[tag]
        for tag in private:
            group, element = tag >> 16, tag & 0xFFFF
            if element > 0x00FF or (group, element) in kept_blocks:
                continue  # a kept block's creator, or a private element dealt with above
            self.private_removed.add(_tag_name(tag))
            del ds[tag]


def _drop(ds: Dataset, tag: BaseTag) -> None:
    """``del ds[tag]`` for a public attribute other than pixel data (Dataset.__delitem__ also resets the caches
    of private blocks and decoded pixels, which such an attribute does not touch)."""
    if tag in _PIXEL_TAGS:
        del ds[tag]
    else:
        del ds._dict[tag]


def _set(ds: Dataset, tag: int, elem: RawDataElement | DataElement) -> None:
    if type(elem) is RawDataElement:
        ds._dict[elem.tag] = elem  # raw elements are immutable: one may be shared by many datasets
    else:
        ds[tag] = elem


@lru_cache(maxsize=4096)
def _cleaned(text: str, identifiers: tuple[str, ...]) -> str:
    """A descriptor without the identifying values found elsewhere in the dataset and long digit runs (the same
    descriptors recur in every file of a series)."""
    for pattern in _identifier_patterns(identifiers):
        text = pattern.sub("", text)
    text = _DIGIT_RUN.sub("", text)  # dates, record numbers, phone numbers
    return _SPACE_RUN.sub(" ", text).strip(" -_^,;")


@lru_cache(maxsize=64)
def _identifier_patterns(identifiers: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    """Case-insensitive patterns for the identifying values (the same for every file of a patient)."""
    return tuple(re.compile(re.escape(ident), re.IGNORECASE) for ident in identifiers)


def _is_instance_uid(keyword: str) -> bool:
    """UIDs the table does not list but that identify instances, series, studies or frames of reference."""
    return keyword.endswith("InstanceUID") or keyword.endswith("FrameOfReferenceUID")


_DA = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def _shift_date_text(value: str, days: int, *, datetime: bool) -> str | None:
    """Shift a DA value, or the date part of a DT value, by ``days``; None when it has no full date."""
    text = value.strip()
    if not datetime:
        text = text.replace(".", "")  # ACR-NEMA style "YYYY.MM.DD"
        head, tail = text, ""
    else:
        head, tail = text[:8], text[8:]
    match = _DA.match(head)
    if not match:
        return None
    try:
        day = dt.date(int(match[1]), int(match[2]), int(match[3]))
        return (day + dt.timedelta(days=days)).strftime("%Y%m%d") + tail
    except (ValueError, OverflowError):
        return None


def _identifying_strings(ds: Dataset) -> tuple[str, ...]:
    """Values that identify the patient, staff or site, used by the Clean Descriptors Option."""
    codec = dicom_values.text_codec(ds)
    elements = [ds._dict.get(tag) for _, tag in _IDENTIFYING_ATTRIBUTES]
    if codec is None or not all(e is None or type(e) is RawDataElement for e in elements):
        return _identifying(ds, codec)
    # as read from the file: the same bytes, in every file of a patient, give the same strings
    key = (codec, *(None if e is None else (e.VR, e.value, e.is_implicit_VR, e.is_little_endian) for e in elements))
    found = _identifying_cache.get(key)
    if found is None:
        if len(_identifying_cache) >= 1024:
            _identifying_cache.clear()
        found = _identifying_cache[key] = _identifying(ds, codec)
    return found


_identifying_cache: dict[tuple, tuple[str, ...]] = {}


def _identifying(ds: Dataset, codec: str | None) -> tuple[str, ...]:
    found: set[str] = set()
    for keyword, tag in _IDENTIFYING_ATTRIBUTES:
        for item in dicom_values.strings(ds, tag, codec) or ():
            text = item.strip()
            if len(text) >= 3:
                found.add(text)
            if keyword.endswith("Name"):
                found.update(p for p in re.split(r"[\^\s,]+", text) if len(p) >= 3)
    return tuple(sorted(found, key=len, reverse=True))


_IDENTIFYING_ATTRIBUTES: Final = (
    ("PatientName", 0x00100010),
    ("PatientID", 0x00100020),
    ("OtherPatientIDs", 0x00101000),
    ("AccessionNumber", 0x00080050),
    ("StudyID", 0x00200010),
    ("InstitutionName", 0x00080080),
    ("InstitutionAddress", 0x00080081),
    ("ReferringPhysicianName", 0x00080090),
    ("PerformingPhysicianName", 0x00081050),
    ("OperatorsName", 0x00081070),
    ("StationName", 0x00081010),
    ("PatientBirthDate", 0x00100030),
)
