"""The files of a DICOM import: the upload (a folder or a zip) listed, the de-identified files written.

Django only for its storage API and the ``ValidationError`` a bad upload raises. :class:`_Source` lists the
files under a folder, or under a zip extracted to a temporary folder (refusing unsafe paths); :func:`_write_file`
writes one de-identified file, straight to a new file on the local file system (through the storage API
anywhere else).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage
from django.utils.translation import gettext

from studies import job_messages as msg

#: Members of at most this many bytes are not held to the compression ratio limit (headers, tiny files).
RATIO_FREE_BYTES = 1024 * 1024
_CHUNK = 1024 * 1024


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def human_size(n: int) -> str:
    """``n`` bytes for a message: "4 GB", "1.5 MB", "512 bytes" (powers of 1024, at most one decimal)."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def upload_too_large(size: int | None) -> str | None:
    """The message refusing an import upload of ``size`` bytes, or None when it is within UPLOAD_MAX_BYTES."""
    limit = _limit("UPLOAD_MAX_BYTES", 4 * 1024**3)
    if size is None or size <= limit:
        return None
    return gettext(
        "The upload is %(size)s; the largest upload accepted is %(limit)s. Split the images "
        "into several zip files, or ask the administrator to import the folder with manage.py import_dicom."
    ) % {"size": human_size(size), "limit": human_size(limit)}


def _is_link(member: zipfile.ZipInfo) -> bool:
    return member.create_system == 3 and stat.S_ISLNK(member.external_attr >> 16)  # made on Unix


def _safe_extract(zip_path: Path, target: Path, tick: Callable[[], None] | None = None) -> None:
    """Extract a zip, refusing absolute paths, '..' (zip-slip), links, and archives that expand too much.

    The limits (IMPORT_ZIP_MAX_FILES, IMPORT_ZIP_MAX_BYTES, IMPORT_ZIP_MAX_RATIO) are checked on the bytes as
    they are written, never on the sizes the archive claims: a refused archive stops at once, having written
    no more than the limit. ``tick()`` is called after every chunk written (the job's heartbeat).
    """
    max_files = _limit("IMPORT_ZIP_MAX_FILES", 200_000)
    max_bytes = _limit("IMPORT_ZIP_MAX_BYTES", 32 * 1024**3)
    max_ratio = _limit("IMPORT_ZIP_MAX_RATIO", 200)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        # stored English in the job's error; shown translated (studies.job_messages.import_error_shown)
        raise ValidationError(msg.ZIP_INVALID) from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if not members:
            raise ValidationError(msg.ZIP_EMPTY)
        if len(members) > max_files:
            raise ValidationError(msg.ZIP_TOO_MANY_FILES % {"max": max_files, "n": len(members)})
        root = target.resolve()
        for member in members:
            if _is_link(member):
                raise ValidationError(msg.ZIP_LINK % {"name": repr(member.filename)})
            dest = (target / member.filename).resolve()
            if root not in dest.parents:
                raise ValidationError(msg.ZIP_UNSAFE_PATH % {"name": repr(member.filename)})
        written = 0
        for member in members:
            dest = (target / member.filename).resolve()
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(dest, "wb") as out:
                    size = 0
                    while chunk := src.read(_CHUNK):
                        size += len(chunk)
                        if written + size > max_bytes:
                            raise ValidationError(msg.ZIP_TOO_LARGE % {"size": human_size(max_bytes)})
                        if size > RATIO_FREE_BYTES and size > max_ratio * max(member.compress_size, 1):
                            raise ValidationError(msg.ZIP_RATIO % {"name": repr(member.filename), "ratio": max_ratio})
                        out.write(chunk)
                        if tick is not None:
                            tick()
                    written += size
            except ValidationError:
                raise
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise ValidationError(msg.ZIP_DAMAGED % {"name": repr(member.filename), "error": exc}) from exc
            except (NotImplementedError, RuntimeError) as exc:  # an unknown compression method, encryption
                raise ValidationError(msg.ZIP_UNSUPPORTED % {"name": repr(member.filename), "error": exc}) from exc
            except OSError as exc:  # e.g. a file and a folder of the same name
                raise ValidationError(
                    msg.ZIP_CLASH % {"name": repr(member.filename), "error": exc.strerror or exc}
                ) from exc


def _files_under(folder: Path) -> list[tuple[str, str]]:
    """(name relative to ``folder``, path) of every file under it but hidden files and macOS resource folders,
    in path order (by component)."""
    root = os.fspath(folder)
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith("__MACOSX")]
        relative = os.path.relpath(dirpath, root)
        prefix = "" if relative == os.curdir else relative + os.sep
        files.extend((prefix + f, os.path.join(dirpath, f)) for f in filenames if not f.startswith("."))
    files.sort(key=lambda file: file[0].split(os.sep))
    return files


#: Prefix of the temporary folders zips are extracted to. A running import touches its folder as it works; the
#: import sweep removes one left untouched for longer than JOB_HEARTBEAT_TIMEOUT_SECONDS (its process is gone).
TEMP_PREFIX = "vbq-import-"


class _Source:
    """Context manager yielding (display name, path) for every file of a folder or zip."""

    def __init__(self, source: Path, tick: Callable[[], None] | None = None) -> None:
        self.source = Path(source)
        self.tmp: str | None = None
        self.tick = tick
        self.touched = 0.0

    def __enter__(self) -> list[tuple[str, str]]:
        if not self.source.exists():
            raise ValidationError(msg.NOTHING_AT % {"source": self.source})
        if self.source.is_dir():
            return _files_under(self.source)
        self.tmp = tempfile.mkdtemp(prefix=TEMP_PREFIX)
        try:  # the context is not entered if this raises: nothing extracted (identified) may stay behind
            _safe_extract(self.source, Path(self.tmp), self._extracting)
            files = _files_under(Path(self.tmp))
            if not files:
                raise ValidationError(msg.ZIP_EMPTY)
        except BaseException:
            self.__exit__()
            raise
        return files

    def __exit__(self, *exc) -> None:
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _extracting(self) -> None:
        """Called per chunk extracted: the job's heartbeat, and the folder marked in use (at most once a second;
        the import sweep removes a folder left untouched for longer than JOB_HEARTBEAT_TIMEOUT_SECONDS)."""
        if self.tick is not None:
            self.tick()
        now = time.monotonic()
        if now - self.touched >= 1.0:
            self.touched = now
            self.touch()

    def touch(self) -> None:
        """Mark the temporary folder as in use (its modification time), for the import sweep."""
        if self.tmp:
            try:
                os.utime(self.tmp)
            except OSError:
                pass


def _write_file(storage: Storage, name: str, data: bytes | list[bytes | memoryview]) -> str:
    """Store one de-identified file (bytes, or buffers to write one after another) as ``name``; return the name
    it got.

    On the local file system the bytes are written straight to a new file (never over an existing one);
    a name that is taken, or any other storage, goes through the storage API, which picks a free name.
    """
    buffers = [data] if isinstance(data, bytes) else data
    if not isinstance(storage, FileSystemStorage):
        return storage.save(name, ContentFile(b"".join(buffers)))
    path = storage.path(name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        try:
            fd = os.open(path, flags, 0o666)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, flags, 0o666)
    except FileExistsError:
        return storage.save(name, ContentFile(b"".join(buffers)))
    try:
        _write_all(fd, buffers)
    finally:
        os.close(fd)
    if storage.file_permissions_mode is not None:
        os.chmod(path, storage.file_permissions_mode)
    return name


def _write_all(fd: int, buffers: list) -> None:
    """Write every buffer, in order (``os.writev`` may write less than asked)."""
    pending = [memoryview(b).cast("B") for b in buffers if len(b)]
    while pending:
        written = os.writev(fd, pending[:1024])  # IOV_MAX
        while written and pending:
            if written >= len(pending[0]):
                written -= len(pending.pop(0))
            else:
                pending[0] = pending[0][written:]
                written = 0
