"""The per-file half of a DICOM import, run in worker processes: inspect; later de-identify, encode and write.

Pure module (the standard library, pydicom through :mod:`studies.dicom`; no Django). The import
(:mod:`studies.services.dicom_import`) does the database work and decides, series by series, what is stored;
everything done to one file happens here, in :class:`FileWork`:

1. ``inspect`` reads and validates a file (:func:`~studies.dicom.validate.inspect_file`), keeps the
   parsed dataset without its pixel data (read again from the file when it is stored), and answers with the
   verdict and the file's :func:`image_facts` only;
2. ``store`` de-identifies a kept file for its subject (:func:`~studies.dicom.deid.deidentify`), encodes it
   (:func:`~studies.dicom.encode.part10_bytes`) and writes it under the name the import chose,
   answering with its SHA-256 and size; ``drop`` forgets files that will not be stored.

:class:`FileWorkers` runs one ``FileWork`` per forked worker process and routes each file's ``store`` to the
process that inspected it, so a file is read and parsed once; with ``processes=0`` the same ``FileWork`` runs in
the calling process. Parsing DICOM is CPU-bound Python, so processes (not threads) are what use more cores.
Workers run with the cyclic garbage collector off: they hold thousands of parsed datasets, which it would
otherwise traverse over and over; they exit when the import ends, which frees everything.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import Final

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from studies.dicom import deid
from studies.dicom.encode import part10_parts
from studies.dicom.validate import InspectResult, inspect_file

__all__ = ["FileWork", "FileWorkers", "StoreRequest", "StoredFile"]

#: Files per inspect message: large enough that messaging costs little, small enough to share work evenly.
INSPECT_BATCH: Final = 16
_PIXEL_DATA: Final = 0x7FE00010
#: Inspect messages a worker may have waiting: keeps both directions of every pipe far below its buffer size.
IN_FLIGHT: Final = 3
#: Files a worker may have waiting to be stored: about a tenth of a second of work, which keeps it busy while
#: the importing process records what was written (requests and replies stay far below a pipe's buffer size).
STORE_AHEAD: Final = 96


@dataclass(frozen=True)
class StoreRequest:
    """Store inspected file ``index`` for subject ``subject_code`` under storage name ``name``."""

    index: int
    subject_code: str
    date_offset_days: int | None
    name: str


@dataclass(frozen=True)
class StoredFile:
    """What became of a :class:`StoreRequest`: the name the file got, or why it could not be stored."""

    index: int
    name: str = ""
    sha256: str = ""
    size: int = 0
    burned_in_annotation: bool = False
    error: str = ""


class FileWork:
    """Everything done to single files, with the inspected files it keeps until they are stored or dropped.

    ``write(name, parts)`` stores the concatenated bytes (a list of buffers) and returns the name they got.
    """

    def __init__(self, uid_secret: bytes, write: Callable[[str, list], str]) -> None:
        self.uid_map = deid.UidMapper(uid_secret)
        self.write = write
        self.kept: dict[int, _Kept] = {}
        self.deid_memo: dict = {}  # see deid.deidentify: values rewritten for earlier files of this import

    def inspect(self, files: Iterable[tuple[int, str, str]]) -> list[tuple[int, InspectResult]]:
        """(index, path, name) → (index, verdict without the dataset, with the facts of accepted files)."""
        out = []
        for index, path, name in files:
            try:
                before = os.stat(path)
            except OSError:
                before = None
            result = inspect_file(path, name=name)
            if result.accepted:
                self.kept[index] = _keep(result, path, before)
                result = replace(result, dataset=None, source=None, originals=None)
            out.append((index, result))
        return out

    def store(self, requests: Iterable[StoreRequest]) -> list[StoredFile]:
        """De-identify, encode and write each requested file; a failure is reported, never raised."""
        out = []
        for request in requests:
            kept = self.kept.pop(request.index, None)
            if kept is None:
                out.append(StoredFile(request.index, error="the file was not inspected by this worker"))
                continue
            try:
                out.append(self._store(request, kept))
            except Exception as exc:
                out.append(StoredFile(request.index, error=f"{type(exc).__name__}: {exc}"))
        return out

    def _store(self, request: StoreRequest, kept: _Kept) -> StoredFile:
        ds, source, originals = _restore(kept)
        unchanged: set[int] = set()
        offset = request.date_offset_days
        report = deid.deidentify(
            ds,
            subject_code=request.subject_code,
            uid_map=self.uid_map,
            date_offset_days=offset,
            keep_dates=offset is not None,
            clean_descriptors=True,
            unchanged=unchanged,
            memo=self.deid_memo,
        )
        parts = part10_parts(ds, source, originals=originals, unchanged=unchanged)
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part)
        name = self.write(request.name, parts)
        size = sum(len(part) for part in parts)
        return StoredFile(request.index, name, digest.hexdigest(), size, report.burned_in_annotation)

    def drop(self, indexes: Iterable[int]) -> None:
        for index in indexes:
            self.kept.pop(index, None)

    def handle(self, command: str, payload: object) -> object:
        if command == "inspect":
            return self.inspect(payload)  # type: ignore[arg-type]
        if command == "store":
            return self.store(payload)  # type: ignore[arg-type]
        if command == "drop":
            self.drop(payload)  # type: ignore[arg-type]
            return None
        raise ValueError(f"unknown command {command!r}")


@dataclass(frozen=True)
class _Kept:
    """An inspected file between inspect and store: its dataset without the pixel data, and where to find it.

    Holding thousands of files' bytes would cost more in memory traffic than reading each file once more
    (from the page cache) when it is stored; the size and modification time make sure it is the same file.
    """

    dataset: Dataset
    originals: dict
    path: str
    size: int
    mtime_ns: int | None
    pixel_length: int | None  # length of the (raw) Pixel Data value taken out, None if it was left in


def _keep(result: InspectResult, path: str, stat: os.stat_result | None) -> _Kept:
    ds, originals = result.dataset, result.originals
    pixel = originals.get(_PIXEL_DATA)
    size = len(result.source)
    if stat is None or stat.st_size != size or not isinstance(pixel, RawDataElement) or pixel.value_tell is None:
        return _Kept(ds, originals, path, size, None, None)  # keep everything: the bytes cannot be re-read
    light = pixel._replace(value=b"")
    originals[_PIXEL_DATA] = light
    if ds._dict.get(_PIXEL_DATA) is pixel or getattr(ds._dict.get(_PIXEL_DATA), "value", None) is pixel.value:
        ds._dict[_PIXEL_DATA] = light
    for cached in ("_pixel_array", "_pixel_id"):  # decoded pixels of a compressed file (validation)
        ds.__dict__.pop(cached, None)
    if getattr(ds, "buffer", None) is not None:
        ds.buffer = None  # the in-memory file pydicom read from, i.e. the whole file again
    return _Kept(ds, originals, path, size, stat.st_mtime_ns, len(pixel.value))


def _restore(kept: _Kept) -> tuple[Dataset, bytes, dict]:
    """The dataset with its pixel data back, the file's bytes and the elements as read."""
    with open(kept.path, "rb") as fh:
        source = fh.read()
        mtime_ns = os.fstat(fh.fileno()).st_mtime_ns
    if len(source) != kept.size or (kept.mtime_ns is not None and mtime_ns != kept.mtime_ns):
        raise OSError("the file changed on disk during the import")
    ds, originals = kept.dataset, kept.originals
    if kept.pixel_length is not None:
        light = originals[_PIXEL_DATA]
        # a view, not a copy: only its length is used, the bytes are copied from ``source`` when written
        full = light._replace(value=memoryview(source)[light.value_tell : light.value_tell + kept.pixel_length])
        originals[_PIXEL_DATA] = full
        if ds._dict.get(_PIXEL_DATA) is light:
            ds._dict[_PIXEL_DATA] = full
    return ds, source, originals


def _serve(conn: Connection, work: FileWork) -> None:
    gc.disable()  # see the module docstring; the process exits when the import ends
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the importing process is gone
            return
        if message is None:
            return
        command, payload = message
        reply = work.handle(command, payload)
        if command != "drop":  # nothing to wait for: the import goes on at once
            conn.send(reply)


def _fork_context():
    """billiard's fork context (Celery's own multiprocessing), which may start processes from a daemonic one.

    A Celery prefork pool runs each task in a daemonic process, where the standard library refuses to start
    children; billiard does not. Outside Celery's stack, the standard library's fork context.
    """
    try:
        import billiard
    except ImportError:  # pragma: no cover - billiard comes with Celery
        return multiprocessing.get_context("fork")
    return billiard.get_context("fork")


class WorkerStopped(RuntimeError):
    """A worker process ended before the import did (killed, or out of memory)."""


class FileWorkers:
    """``processes`` forked workers (or the calling process when 0), each with its own :class:`FileWork`.

    Use as a context manager; :meth:`inspect`, then :meth:`store` for the files to keep and :meth:`drop` for the
    rest. The import keeps its database connection: children are forked with it open but never touch it.
    """

    def __init__(self, processes: int, uid_secret: bytes, write: Callable[[str, list], str]) -> None:
        self.processes = max(0, processes)
        self.secret, self.write = uid_secret, write
        self.local: FileWork | None = None
        self.conns: list[Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        self.owner: dict[int, int] = {}  # file index -> worker

    def __enter__(self) -> FileWorkers:
        if self.processes == 0:
            self.local = FileWork(self.secret, self.write)
            return self
        context = _fork_context()
        try:
            for _ in range(self.processes):
                parent, child = context.Pipe()
                proc = context.Process(target=_serve, args=(child, FileWork(self.secret, self.write)), daemon=True)
                proc.start()
                child.close()
                self.conns.append(parent)
                self.procs.append(proc)
        except (OSError, AssertionError, ValueError):  # cannot fork here (e.g. inside a daemonic process)
            self._stop()
            self.local = FileWork(self.secret, self.write)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        for conn in self.conns:
            try:
                conn.send(None)
            except OSError:
                pass
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self.conns:
            conn.close()
        self.conns, self.procs = [], []

    @property
    def parallel(self) -> bool:
        return self.local is None

    # -------------------------------------------------------------------------------------------------------------

    def inspect(self, files: list[tuple[str, str]]) -> Iterator[tuple[int, InspectResult]]:
        """Inspect (name, path) pairs; yields (index into ``files``, verdict) as each batch is done."""
        batches = deque(
            [(i, str(path), name) for i, (name, path) in enumerate(files[start : start + INSPECT_BATCH], start)]
            for start in range(0, len(files), INSPECT_BATCH)
        )
        if self.local is not None:
            while batches:
                yield from self.local.inspect(batches.popleft())
            return
        pending: dict[int, int] = dict.fromkeys(range(len(self.conns)), 0)

        def top_up(worker: int) -> None:
            while batches and pending[worker] < IN_FLIGHT:
                batch = batches.popleft()
                for index, _, _ in batch:
                    self.owner[index] = worker
                self._send(worker, ("inspect", batch))
                pending[worker] += 1

        for worker in pending:
            top_up(worker)
        while any(pending.values()):
            for worker, reply in self._replies(pending):
                pending[worker] -= 1
                top_up(worker)
                yield from reply

    def store(self, groups: Iterable[tuple[object, list[StoreRequest]]]) -> Iterator[tuple[object, list[StoredFile]]]:
        """Store each group's files (a group = one series); yields (key, stored files) per finished group.

        Groups finish in the order given; workers go on with later groups while the caller handles a finished one.
        """
        if self.local is not None:
            for key, requests in groups:
                yield key, self.local.store(requests)
            return
        upcoming = iter(groups)
        queued: deque[tuple[object, list[StoreRequest]]] = deque()  # at most one group taken and not yet sent
        pending: dict[int, int] = dict.fromkeys(range(len(self.conns)), 0)  # messages
        ahead: dict[int, int] = dict.fromkeys(range(len(self.conns)), 0)  # files
        waiting: deque[tuple[object, dict[int, list[StoredFile] | None]]] = deque()

        def send_next() -> bool:
            """Send the next group if none of its workers is full; False when it has to wait or none is left."""
            if not queued:
                group = next(upcoming, None)  # groups are made as they are needed (the caller plans lazily)
                if group is None:
                    return False
                queued.append(group)
            key, requests = queued[0]
            by_worker: dict[int, list[StoreRequest]] = {}
            for request in requests:
                by_worker.setdefault(self.owner[request.index], []).append(request)
            if any(ahead[w] and ahead[w] + len(part) > STORE_AHEAD for w, part in by_worker.items()):
                return False
            queued.popleft()
            for worker, part in by_worker.items():
                self._send(worker, ("store", part))
                pending[worker] += 1
                ahead[worker] += len(part)
            waiting.append((key, dict.fromkeys(by_worker)))
            return True

        while True:
            while send_next():
                pass
            if not queued and not waiting:
                return
            if waiting and all(v is not None for v in waiting[0][1].values()):
                key, parts = waiting.popleft()
                yield key, [stored for part in parts.values() for stored in part]  # type: ignore[union-attr]
                continue
            for worker, reply in self._replies(pending):
                pending[worker] -= 1
                ahead[worker] -= len(reply)  # type: ignore[arg-type]
                for _, parts in waiting:  # replies come back in the order each worker was sent its parts
                    if worker in parts and parts[worker] is None:
                        parts[worker] = reply
                        break

    def drop(self, indexes: Iterable[int]) -> None:
        """Forget inspected files that will not be stored (rejected, duplicate or already imported)."""
        indexes = list(indexes)
        if self.local is not None:
            self.local.drop(indexes)
            return
        by_worker: dict[int, list[int]] = {}
        for index in indexes:
            by_worker.setdefault(self.owner[index], []).append(index)
        for worker, part in by_worker.items():
            self._send(worker, ("drop", part))

    def _replies(self, pending: dict[int, int]) -> list[tuple[int, object]]:
        """Wait for at least one reply from the workers with messages pending."""
        busy = {self.conns[w]: w for w, n in pending.items() if n}
        ready = wait(list(busy))
        return [(busy[conn], self._reply(busy[conn])) for conn in ready]  # type: ignore[index]

    def _send(self, worker: int, message: tuple) -> None:
        try:
            self.conns[worker].send(message)
        except OSError as exc:  # a broken pipe: the worker is gone
            raise self._stopped(worker) from exc

    def _reply(self, worker: int) -> object:
        try:
            return self.conns[worker].recv()
        except (EOFError, OSError) as exc:
            raise self._stopped(worker) from exc

    def _stopped(self, worker: int) -> WorkerStopped:
        self.procs[worker].join(timeout=1)
        code = self.procs[worker].exitcode
        return WorkerStopped(f"an import worker process stopped unexpectedly (exit code {code})")


def default_processes() -> int:
    """Worker processes for an import: one per CPU this process may use, at most 8; 0 on a single CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return 0 if cpus < 2 else min(cpus, 8)
