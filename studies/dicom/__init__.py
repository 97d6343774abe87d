"""DICOM engines, pure: pydicom, numpy and the standard library, never Django (a test checks every module).

- :mod:`~studies.dicom.read`: bytes → pydicom dataset, with a fast path for Explicit VR Little Endian files.
- :mod:`~studies.dicom.values`: top-level values read from the raw bytes without decoding elements.
- :mod:`~studies.dicom.validate`: one file's verdict (accepted, or rejected with a stable code and reason).
- :mod:`~studies.dicom.series`: a series' geometry checks, slice order and classification (plane, T1/T2).
- :mod:`~studies.dicom.frames`: enhanced (multi-frame) MR: each frame's geometry and rescale from the functional
  groups, the reasons an inconsistent file is rejected, a frame's key among the slices.
- :mod:`~studies.dicom.deid`: PS3.15 Basic Profile de-identification; its table is data
  (``profiles/ps3_15_basic_profile.csv``, loaded by :mod:`~studies.dicom.deid_profile`).
  Its keyed UID remapping and date shifts are :mod:`~studies.dicom.deid_keyed`.
- :mod:`~studies.dicom.encode`: a dataset back to Part 10 bytes, copying what was never decoded.
- :mod:`~studies.dicom.pixels`: a stored slice decoded to values (modality LUT applied) and its pixel spacing.

The Django side (what an import stores, cases, jobs) is in :mod:`studies.services`.
"""
