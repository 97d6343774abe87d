"""Decoding a stored DICOM slice to values (pure: pydicom + numpy, no Django).

Values are in stored-value units after the DICOM modality LUT (Rescale Slope / Intercept), see
:func:`decode_pixels`; the pixel size comes from *Pixel Spacing* (:func:`pixel_spacing`). Decoded slices are
memoised per file and frame in a small LRU (:class:`SliceCache`), so a job measuring several ROIs on one slice
decodes it once.

A multi-frame (enhanced MR) file is read one frame at a time (``frame``, 1-based): the frame's stored values,
rescaled with the Rescale Slope / Intercept of its functional groups, and its Pixel Spacing
(:func:`studies.dicom.frames.frame_dataset`) — the same computation as for a single-frame file holding that
frame, so the values, and every score measured on them, are identical.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, get_decoder

from .frames import frame_dataset
from .guard import DecodeFailed, decode_with_plugins, describe, is_fatal

__all__ = ["PixelError", "PixelSlice", "SliceCache", "decode_pixels", "load_pixels", "pixel_spacing"]


class PixelError(ValueError):
    """The pixel data of a DICOM file cannot be turned into a 2-D array of values (user-readable message)."""


def decode_pixels(ds: Dataset, frame: int | None = None) -> np.ndarray:
    """Decode a single-frame greyscale DICOM image, or frame ``frame`` (1-based) of a multi-frame one, to float64
    values after the modality LUT.

    Parameters
    ----------
    ds : pydicom.Dataset
        A dataset with *Pixel Data* and a ``file_meta.TransferSyntaxUID``. Every transfer syntax pydicom can
        decode with the installed plugins works: implicit / explicit VR little endian, explicit big endian,
        deflate, RLE, JPEG baseline, JPEG lossless, JPEG-LS and JPEG 2000 (pylibjpeg, pyjpegls or GDCM).

    Returns
    -------
    numpy.ndarray
        ``(Rows, Columns)`` float64 array: stored values passed through
        :func:`pydicom.pixels.apply_modality_lut` (``value * RescaleSlope + RescaleIntercept`` where present,
        or the Modality LUT Sequence). Signedness follows *Pixel Representation*. For a frame of a multi-frame
        file the rescale is the frame's, from its Pixel Value Transformation functional group.

    Raises
    ------
    PixelError
        No pixel data, more than one frame and no ``frame`` (or a frame the file does not have), a colour
        image, an incomplete rescale, a transfer syntax without an installed decoder (the message names it), or
        data the decoder rejects.
    """
    if "PixelData" not in ds:
        kind = (
            "floating-point pixel data, which is not a stored MR image"
            if ("FloatPixelData" in ds or "DoubleFloatPixelData" in ds)
            else "no pixel data"
        )
        raise PixelError(f"The DICOM file has {kind}; it cannot be measured.")

    frames = _int_or_none(ds.get("NumberOfFrames"))
    if frame is None and frames is not None and frames > 1:
        raise PixelError(
            f"The DICOM file is a multi-frame image ({frames} frames) and no frame was named; it cannot be measured."
        )
    if frame is not None and not 1 <= frame <= (frames or 1):
        raise PixelError(f"The DICOM file has {frames or 1} frame(s); frame {frame} does not exist.")
    samples = _int_or_none(ds.get("SamplesPerPixel"))
    if samples is not None and samples != 1:
        raise PixelError(
            f"The DICOM file is a colour image ({samples} samples per pixel, "
            f"{ds.get('PhotometricInterpretation', 'unknown')}); only greyscale MR images can be measured."
        )

    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is None:
        raise PixelError("The DICOM file has no Transfer Syntax UID in its file meta information.")
    ts = pydicom.uid.UID(ts)
    ts_text = f"{ts.name} ({ts})" if ts.name != str(ts) else str(ts)
    if not ts.is_transfer_syntax:
        raise PixelError(f"The DICOM file's transfer syntax {ts_text} is not a known transfer syntax.")
    if ts.is_compressed:
        try:
            decoder = get_decoder(ts)
        except NotImplementedError as exc:
            raise PixelError(f"No decoder exists for the transfer syntax {ts_text}.") from exc
        if not decoder.is_available:
            missing = "; ".join(decoder.missing_dependencies)
            raise PixelError(
                f"No decoder is installed for the transfer syntax {ts_text}"
                + (f" (missing: {missing})" if missing else "")
                + "."
            )

    lut = ds if frame is None else frame_dataset(ds, frame)  # the frame's rescale, from its functional groups
    _check_rescale(lut)
    try:
        stored = _decode_stored(ds, get_decoder(ts) if ts.is_compressed else None, ts, frame)
    except DecodeFailed as exc:
        raise PixelError(f"The compressed pixel data are corrupt ({exc}); the file cannot be measured.") from exc
    except BaseException as exc:  # pydicom/plugins raise many types (native panics too); one clear message
        if is_fatal(exc):
            raise
        raise PixelError(f"The pixel data could not be decoded ({ts_text}): {describe(exc)}") from exc
    if stored.ndim != 2:
        raise PixelError(f"The decoded pixel data has shape {stored.shape}; a single 2-D greyscale slice is required.")
    try:
        values = apply_modality_lut(stored, lut)
    except Exception as exc:
        raise PixelError(f"The modality LUT / rescale could not be applied: {exc}") from exc
    return np.asarray(values, dtype=np.float64)


def _decode_stored(ds: Dataset, decoder, ts: str, frame: int | None = None) -> np.ndarray:
    """The stored values of the image, or of frame ``frame`` (uncompressed: that frame alone is decoded)."""
    if decoder is None:
        if frame is None:
            return ds.pixel_array
        ds.pixel_array_options(index=frame - 1)
        try:
            return ds.pixel_array
        finally:
            ds.pixel_array_options()  # the caller's dataset decodes all its frames again
    stored = decode_with_plugins(ds, decoder, ts)
    return stored[frame - 1] if frame is not None and stored.ndim == 3 else stored


def _int_or_none(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _check_rescale(ds: Dataset) -> None:
    """Rescale Slope and Intercept come as a pair (PS3.3 C.11.1); refuse a half or empty pair, not guess."""
    if ds.get("ModalityLUTSequence"):
        return
    present = {k: ds.get(k) for k in ("RescaleSlope", "RescaleIntercept") if k in ds}
    if not present:
        return
    if len(present) == 1 or any(v is None or v == "" for v in present.values()):
        raise PixelError(
            "The DICOM file has an incomplete rescale (Rescale Slope and Rescale Intercept must both be "
            f"present and non-empty; found {', '.join(f'{k}={v!r}' for k, v in present.items())})."
        )
    for key, value in present.items():
        if not math.isfinite(float(value)):
            raise PixelError(f"The DICOM file's {key} is not a finite number ({value!r}).")


def pixel_spacing(ds: Dataset) -> tuple[float, float]:
    """``(row_spacing, col_spacing)`` in mm from *Pixel Spacing*.

    DICOM *Pixel Spacing* is "adjacent row spacing \\ adjacent column spacing": the first value is the
    distance between the centres of two adjacent rows (the vertical pixel size), the second between two
    adjacent columns (the horizontal pixel size).
    """
    spacing = ds.get("PixelSpacing")
    if spacing is None or len(spacing) != 2:
        raise PixelError(
            "The DICOM file has no valid Pixel Spacing (two values in mm), so ROI areas cannot be computed."
        )
    try:
        row_spacing, col_spacing = (float(v) for v in spacing)
    except (TypeError, ValueError) as exc:
        raise PixelError(f"The DICOM file's Pixel Spacing {list(spacing)!r} is not numeric.") from exc
    if not (math.isfinite(row_spacing) and math.isfinite(col_spacing) and row_spacing > 0 and col_spacing > 0):
        raise PixelError(f"The DICOM file's Pixel Spacing {[row_spacing, col_spacing]!r} must be positive.")
    return row_spacing, col_spacing


@dataclass(frozen=True, eq=False)
class PixelSlice:
    """One decoded slice: read-only float64 ``values`` (rows × cols) and the pixel size in mm."""

    values: np.ndarray
    row_spacing: float
    col_spacing: float
    rows: int
    cols: int

    @classmethod
    def from_dataset(cls, ds: Dataset, frame: int | None = None) -> PixelSlice:
        values = decode_pixels(ds) if frame is None else decode_pixels(ds, frame)
        row_spacing, col_spacing = pixel_spacing(ds if frame is None else frame_dataset(ds, frame))
        values.flags.writeable = False  # shared through the cache
        return cls(values, row_spacing, col_spacing, int(values.shape[0]), int(values.shape[1]))


class SliceCache:
    """Small thread-safe LRU cache of decoded slices keyed by ``(path, mtime_ns, size, frame)``.

    A scoring job measures several ROIs on the same slice; each slice is decoded once. A file rewritten in
    place gets a new key (its mtime/size change), so stale pixels are never served. The frames of a multi-frame
    file are decoded one by one from one parse of the file (the last multi-frame file read is kept parsed).
    """

    def __init__(self, maxsize: int = 16) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[tuple[str, int, int, int | None], PixelSlice] = OrderedDict()
        self._lock = threading.Lock()
        self._file_lock = threading.Lock()
        self._file: tuple[tuple[str, int, int], Dataset] | None = None

    def get(self, path: str | os.PathLike[str], frame: int | None = None) -> PixelSlice:
        resolved = os.path.realpath(os.fspath(path))
        try:
            st = os.stat(resolved)
        except OSError as exc:
            raise PixelError(f"The DICOM file {os.fspath(path)!r} cannot be read: {exc.strerror}.") from exc
        key = (resolved, st.st_mtime_ns, st.st_size, frame)
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                self.hits += 1
                return hit
            self.misses += 1
        slice_ = self._read(resolved, key, frame)  # decode outside the lock: other threads keep going
        with self._lock:
            for old in [k for k in self._data if k[0] == resolved and k[1:3] != key[1:3]]:  # an older version
                del self._data[old]
            self._data[key] = slice_
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return slice_

    def _read(self, path: str, key: tuple, frame: int | None) -> PixelSlice:
        if frame is None:
            return _read_slice(path)
        with self._file_lock:  # one parse of the file for all its frames (the dataset's decode options change)
            if self._file is None or self._file[0] != key[:3]:
                self._file = None
                self._file = (key[:3], _read_dataset(path))
            return PixelSlice.from_dataset(self._file[1], frame)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0
        with self._file_lock:
            self._file = None

    def __len__(self) -> int:
        return len(self._data)


def _read_dataset(path: str) -> Dataset:
    try:
        return pydicom.dcmread(path)
    except BaseException as exc:  # InvalidDicomError, OSError, struct errors on truncated files ...
        if is_fatal(exc):
            raise
        raise PixelError(f"The file {Path(path).name!r} is not a readable DICOM file: {exc}") from exc


def _read_slice(path: str, frame: int | None = None) -> PixelSlice:
    return PixelSlice.from_dataset(_read_dataset(path), frame)


_DEFAULT_CACHE = SliceCache()


def load_pixels(
    path: str | os.PathLike[str], *, cache: SliceCache | None = None, frame: int | None = None
) -> PixelSlice:
    """Read and decode a DICOM slice — frame ``frame`` (1-based) of a multi-frame file — memoised in ``cache``
    (default: a process-wide :class:`SliceCache`)."""
    return (_DEFAULT_CACHE if cache is None else cache).get(path, frame)
