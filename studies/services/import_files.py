"""The files of a DICOM import: the upload (a folder or a zip) listed, the de-identified files written.

Django only for its storage API and the ``ValidationError`` a bad upload raises. :class:`_Source` lists the
files under a folder, or under a zip extracted to a temporary folder (refusing unsafe paths); :func:`_write_file`
writes one de-identified file, straight to a new file on the local file system (through the storage API
anywhere else).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage

MAX_ZIP_MEMBERS = 200_000


def _safe_extract(zip_path: Path, target: Path) -> None:
    """Extract a zip, refusing absolute paths and '..' (zip-slip) and absurd member counts."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile as exc:
        raise ValidationError("The upload is not a valid zip file.") from exc
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            raise ValidationError(f"The zip holds {len(members)} files; the limit is {MAX_ZIP_MEMBERS}.")
        root = target.resolve()
        for member in members:
            dest = (target / member.filename).resolve()
            if root not in dest.parents:
                raise ValidationError(f"The zip contains an unsafe path: {member.filename!r}.")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)


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


class _Source:
    """Context manager yielding (display name, path) for every file of a folder or zip."""

    def __init__(self, source: Path) -> None:
        self.source = Path(source)
        self.tmp: str | None = None

    def __enter__(self) -> list[tuple[str, str]]:
        if not self.source.exists():
            raise ValidationError(f"Nothing to import at {self.source}.")
        if self.source.is_dir():
            root = self.source
        else:
            self.tmp = tempfile.mkdtemp(prefix="vbq-import-")
            _safe_extract(self.source, Path(self.tmp))
            root = Path(self.tmp)
        return _files_under(root)

    def __exit__(self, *exc) -> None:
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


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
