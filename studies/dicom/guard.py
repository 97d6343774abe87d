"""Running third-party pixel decoders so that nothing they raise escapes (pure: pydicom, no Django).

The decoding plugins are native code (Rust, C, C++). Besides ordinary exceptions they can raise
``BaseException`` subclasses an ``except Exception`` does not catch: pylibjpeg-rle, for one, turns a Rust panic
on corrupt RLE data into ``pyo3_runtime.PanicException``. :func:`decode_with_plugins` catches everything but
:data:`FATAL` (the exceptions that ask the process to stop) and answers with a :class:`DecodeFailed` that names
the codec. A decoder that aborts the whole process (python-gdcm on a corrupt JPEG 2000 stream) cannot be caught
in-process: the plugins in :data:`ISOLATED` (GDCM, used only when no other decoder handles the transfer syntax)
run in a short-lived child process (a fork), so that an abort there costs the file, not the caller — an
in-process import, a web request, or the Celery worker scoring ROIs.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from typing import Final

import numpy as np
from pydicom import uid
from pydicom.dataset import Dataset

__all__ = [
    "FATAL",
    "ISOLATED",
    "PLUGIN_ORDER",
    "DecodeFailed",
    "DecoderCrashed",
    "IsolatedDecodeError",
    "codec_name",
    "decode_with_plugins",
    "describe",
    "is_fatal",
]

#: Exceptions that are never swallowed: they stop the process, not a file.
FATAL: Final = (KeyboardInterrupt, SystemExit, GeneratorExit)

#: Decoding plugins tried in this order. python-gdcm comes last and only when nothing else can decode the
#: transfer syntax: on a corrupt JPEG 2000 stream it aborts the whole process (an uncaught C++ exception)
#: instead of raising.
PLUGIN_ORDER: Final = ("pylibjpeg", "pydicom", "pillow", "pyjpegls")
#: Plugins run in a child process (:func:`_decode_isolated`): an abort there must not take the caller down.
ISOLATED: Final = frozenset({"gdcm"})
#: Seconds an isolated decode may take before its process is killed (a hung decoder rejects the file too).
ISOLATED_TIMEOUT_SECONDS = 60.0

_CODECS: Final = {
    uid.RLELossless: "RLE",
    uid.JPEGBaseline8Bit: "JPEG baseline",
    uid.JPEGExtended12Bit: "JPEG extended",
    uid.JPEGLossless: "JPEG lossless",
    uid.JPEGLosslessSV1: "JPEG lossless",
    uid.JPEGLSLossless: "JPEG-LS",
    uid.JPEGLSNearLossless: "JPEG-LS",
    uid.JPEG2000Lossless: "JPEG 2000",
    uid.JPEG2000: "JPEG 2000",
    uid.DeflatedExplicitVRLittleEndian: "deflate",
}


def is_fatal(exc: BaseException) -> bool:
    return isinstance(exc, FATAL)


def describe(exc: BaseException) -> str:
    """``TypeName: first line of the message`` (at most 120 characters), for a reason shown to a user."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


def codec_name(ts: str) -> str:
    """A short name for the compression of transfer syntax ``ts`` (e.g. "RLE", "JPEG 2000")."""
    name = _CODECS.get(uid.UID(ts))
    return name or uid.UID(ts).name


class DecodeFailed(ValueError):
    """No plugin could decode the pixel data; ``errors`` holds what each one said."""

    def __init__(self, ts: str, errors: list[str]) -> None:
        self.ts, self.errors = str(ts), errors
        super().__init__(f"{codec_name(ts)} decoder failed: {'; '.join(errors) or 'no decoder'}")

    @property
    def reason(self) -> str:
        """A sentence for the person who uploaded the file."""
        return (
            f"The compressed pixel data are corrupt ({self}); the file may be damaged. Upload the original file again."
        )


def decode_with_plugins(ds: Dataset, decoder, ts: str) -> np.ndarray:
    """Decode ``ds`` with the first plugin of ``decoder`` that succeeds (in :data:`PLUGIN_ORDER`) and leave that
    plugin as the dataset's ``pixel_array`` option.

    Raises :class:`DecodeFailed` when none does; a plugin that panics (a ``BaseException`` that is not an
    ``Exception``) ends the search: its data broke the decoder's own checks, the others are not tried on it.
    """
    available = tuple(decoder.available_plugins)
    plugins = [p for p in PLUGIN_ORDER if p in available] or list(available)
    errors = []
    for plugin in plugins:
        try:
            if plugin in ISOLATED:
                return _decode_isolated(ds, plugin)
            ds.pixel_array_options(decoding_plugin=plugin)
            return ds.pixel_array
        except BaseException as exc:
            if is_fatal(exc):
                raise
            errors.append(f"{plugin}: {exc if isinstance(exc, IsolatedDecodeError) else describe(exc)}")
            if not isinstance(exc, Exception):
                break
    ds.pixel_array_options(decoding_plugin="")
    raise DecodeFailed(ts, errors)


class IsolatedDecodeError(RuntimeError):
    """An isolated plugin failed in its child process (the message says how, for a user)."""


class DecoderCrashed(IsolatedDecodeError):
    """The child process decoding with an isolated plugin ended without an answer (aborted, killed)."""


def _decode_isolated(ds: Dataset, plugin: str) -> np.ndarray:
    """``ds.pixel_array`` decoded by ``plugin`` in a forked child process; the array is cached on ``ds`` (so that
    ``ds.pixel_array`` does not decode again in this process).

    The child sends back the array or the exception's description through a pipe and ends with ``os._exit``
    (nothing of this process is cleaned up twice). An exception in the child is raised here with its
    description, a child that dies (``abort()``, a signal) or does not answer within
    :data:`ISOLATED_TIMEOUT_SECONDS` (it is then killed) as a :class:`DecoderCrashed` (both
    :class:`IsolatedDecodeError`).
    """
    from pydicom.pixels.utils import get_image_pixel_ids

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: decode, answer, exit at once
        try:
            os.close(read_fd)
            try:
                ds.pixel_array_options(decoding_plugin=plugin)
                answer: tuple = ("ok", ds.pixel_array)
            except BaseException as exc:
                answer = ("error", describe(exc))
            with os.fdopen(write_fd, "wb") as out:
                out.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks: list[bytes] = []
    answered = False
    deadline = time.monotonic() + ISOLATED_TIMEOUT_SECONDS
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            if select.select([read_fd], [], [], remaining)[0]:
                chunk = os.read(read_fd, 1 << 20)
                if not chunk:
                    answered = True  # the child closed the pipe: it has answered, or died
                    break
                chunks.append(chunk)
    finally:
        os.close(read_fd)
        if not answered:  # timed out, or this process was interrupted: the child must not outlive the call
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(pid, 0)
    if not answered:
        raise DecoderCrashed(
            f"the decoder did not answer within {ISOLATED_TIMEOUT_SECONDS:g} s (its process was stopped)"
        )
    data = b"".join(chunks)
    if not data:
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            try:
                how = f"by {signal.Signals(number).name}"
            except ValueError:
                how = f"by signal {number}"
        else:
            how = f"with exit status {os.waitstatus_to_exitcode(status)}"
        raise DecoderCrashed(f"the decoder crashed (its process ended {how})")
    kind, value = pickle.loads(data)
    if kind != "ok":
        raise IsolatedDecodeError(value)
    ds.pixel_array_options(decoding_plugin="")
    ds._pixel_array, ds._pixel_id = value, get_image_pixel_ids(ds)
    return value
