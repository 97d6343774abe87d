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
import mmap
import multiprocessing
import os
import signal
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import Final

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from studies.dicom import deid
from studies.dicom.encode import part10_parts
from studies.dicom.guard import describe, is_fatal
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
#: Worker processes an import may replace (each death costs at most the file being worked on) before it gives
#: up: more deaths than this mean something else is wrong (e.g. the server is out of memory).
MAX_RESTARTS: Final = 32


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

    def __init__(self, uid_secret: bytes, write: Callable[[str, list], str], current: mmap.mmap | None = None) -> None:
        self.uid_map = deid.UidMapper(uid_secret)
        self.write = write
        self.kept: dict[int, _Kept] = {}
        self.deid_memo: dict = {}  # see deid.deidentify: values rewritten for earlier files of this import
        self.current = current  # shared with the importing process: the index of the file being worked on

    def mark(self, index: int) -> None:
        """Say which file is being worked on (-1: none), so that if this process dies the import knows."""
        if self.current is not None:
            struct.pack_into("q", self.current, 0, index)

    def inspect(self, files: Iterable[tuple[int, str, str]]) -> list[tuple[int, InspectResult]]:
        """(index, path, name) → (index, verdict without the dataset, with the facts of accepted files)."""
        out = []
        for index, path, name in files:
            self.mark(index)
            out.append((index, self._inspect(index, path, name)))
        return out

    def _inspect(self, index: int, path: str, name: str) -> InspectResult:
        try:
            before = os.stat(path)
        except OSError:
            before = None
        result = inspect_file(path, name=name)
        if result.accepted:
            self.kept[index] = _keep(result, path, before)
            result = replace(result, dataset=None, source=None, originals=None)
        return result

    def store(
        self, requests: Iterable[StoreRequest], reread: dict[int, tuple[str, str]] | None = None
    ) -> list[StoredFile]:
        """De-identify, encode and write each requested file; a failure is reported, never raised.

        ``reread`` maps files another (dead) worker inspected to their (path, name): they are inspected again.
        """
        out = []
        for request in requests:
            self.mark(request.index)
            if request.index not in self.kept and reread and request.index in reread:
                path, name = reread[request.index]
                result = self._inspect(request.index, path, name)
                if not result.accepted:
                    out.append(StoredFile(request.index, error=f"the file changed during the import ({result.code})"))
                    continue
            kept = self.kept.pop(request.index, None)
            if kept is None:
                out.append(StoredFile(request.index, error="the file was not inspected by this worker"))
                continue
            try:
                out.append(self._store(request, kept))
            except BaseException as exc:  # native code may raise BaseException subclasses (e.g. a Rust panic)
                if is_fatal(exc):
                    raise
                out.append(StoredFile(request.index, error=describe(exc)))
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
            requests, reread = payload  # type: ignore[misc]
            return self.store(requests, reread)
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


def _serve(conn: Connection, work: FileWork, importer: int | None = None, inherited: Iterable[Connection] = ()) -> None:
    gc.disable()  # see the module docstring; the process exits when the import ends
    # The importer's ends of the pipes (this worker's and those of the workers forked before it) came with the
    # fork: closed here, so that a reply to an importer that is gone fails instead of filling a pipe nobody reads.
    for end in inherited:
        try:
            end.close()
        except OSError:
            pass
    while True:
        # An importing process that is killed (SIGKILL, out of memory) closes no pipe the workers forked after this
        # one would let go of; so while idle this process checks once a second that its parent is still the
        # importer, and exits when it is not (the identified headers of the files it keeps must not outlive the
        # import).
        while importer is not None and not conn.poll(1.0):
            if os.getppid() != importer:
                return
        try:
            message = conn.recv()
        except EOFError:  # the importing process is gone
            return
        if message is None:
            return
        command, payload = message
        reply = work.handle(command, payload)
        work.mark(-1)
        if command != "drop":  # nothing to wait for: the import goes on at once
            try:
                conn.send(reply)
            except OSError:  # the importing process is gone
                return


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
    """Worker processes kept dying (more than :data:`MAX_RESTARTS`): killed again and again, or out of memory."""


#: Code and reason of a file whose inspection ended the worker process reading it.
CRASHED_CODE: Final = "decoder_crashed"


@dataclass(frozen=True)
class _Dead:
    """A worker process that ended: how, and the file it was working on (-1: none)."""

    how: str
    current: int


def _how(code: int | None) -> str:
    if code is None:
        return "it stopped responding"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class FileWorkers:
    """``processes`` forked workers (or the calling process when 0), each with its own :class:`FileWork`.

    Use as a context manager; :meth:`inspect`, then :meth:`store` for the files to keep and :meth:`drop` for the
    rest. The import keeps its database connection: children are forked with it open but never touch it.

    A worker that dies (a native decoder aborting the process, a kill) costs the file it was working on, never
    the import: during :meth:`inspect` that file is rejected (:data:`CRASHED_CODE`) and the rest of the worker's
    files are inspected again by a new worker in its place; during :meth:`store` the files it had been sent come
    back with an error (their series are not stored) and the files it had kept are read again by the new worker
    when they are stored. Only after :data:`MAX_RESTARTS` deaths does the import stop (:class:`WorkerStopped`).
    """

    def __init__(self, processes: int, uid_secret: bytes, write: Callable[[str, list], str]) -> None:
        self.processes = max(0, processes)
        self.secret, self.write = uid_secret, write
        self.local: FileWork | None = None
        self.conns: list[Connection] = []
        self.procs: list[multiprocessing.process.BaseProcess] = []
        self.marks: list[mmap.mmap] = []  # per worker: the index of the file it is working on
        self.owner: dict[int, int] = {}  # file index -> worker
        self.paths: dict[int, tuple[str, str]] = {}  # file index -> (path, name)
        self.kept_by: dict[int, set[int]] = {}  # worker -> accepted files it keeps (not yet sent to store/drop)
        self.lost: set[int] = set()  # kept files of dead workers: their new worker inspects them again
        self.restarts = 0
        self.abandoned: set[int] = set()  # files a worker died storing (what it wrote of them is not recorded)
        self.context = None

    def __enter__(self) -> FileWorkers:
        if self.processes == 0:
            self.local = FileWork(self.secret, self.write)
            return self
        self.context = _fork_context()
        try:
            for worker in range(self.processes):
                self.conns.append(None)  # type: ignore[arg-type]
                self.procs.append(None)  # type: ignore[arg-type]
                self.marks.append(None)  # type: ignore[arg-type]
                self.kept_by[worker] = set()
                self._start(worker)
        except (OSError, AssertionError, ValueError):  # cannot fork here (e.g. inside a daemonic process)
            self._stop()
            self.local = FileWork(self.secret, self.write)
        return self

    def _start(self, worker: int) -> None:
        mark = mmap.mmap(-1, 8)  # anonymous and shared: the forked child writes, this process reads
        struct.pack_into("q", mark, 0, -1)
        parent, child = self.context.Pipe()
        work = FileWork(self.secret, self.write, mark)
        inherited = [parent, *(c for c in self.conns if c is not None)]
        proc = self.context.Process(target=_serve, args=(child, work, os.getpid(), inherited), daemon=True)
        proc.start()
        child.close()
        self.conns[worker], self.procs[worker], self.marks[worker] = parent, proc, mark

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        for conn in self.conns:
            try:
                if conn is not None:
                    conn.send(None)
            except OSError:
                pass
        for proc in self.procs:
            if proc is None:
                continue
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self.conns:
            if conn is not None:
                conn.close()
        self.conns, self.procs, self.marks = [], [], []

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
        sent: dict[int, deque[list[tuple[int, str, str]]]] = {w: deque() for w in pending}

        def top_up(worker: int) -> None:
            while batches and pending[worker] < IN_FLIGHT:
                batch = batches.popleft()
                for index, path, name in batch:
                    self.owner[index] = worker
                    self.paths[index] = (path, name)
                sent[worker].append(batch)
                self._send(worker, ("inspect", batch))
                pending[worker] += 1

        for worker in pending:
            top_up(worker)
        while any(pending.values()):
            for worker, reply in self._replies(pending):
                if isinstance(reply, _Dead):
                    unanswered = [item for batch in sent[worker] for item in batch]
                    sent[worker].clear()
                    pending[worker] = 0
                    rest = [item for item in unanswered if item[0] != reply.current]
                    if rest:
                        batches.appendleft(rest)  # inspected again, by the new worker or another one
                    for index, _, name in unanswered:
                        if index == reply.current:
                            yield index, _crashed(name, reply.how)
                else:
                    sent[worker].popleft()
                    pending[worker] -= 1
                    for index, result in reply:  # type: ignore[attr-defined]
                        if result.accepted:
                            self.kept_by[worker].add(index)
                    yield from reply  # type: ignore[misc]
                top_up(worker)
                for other in pending:  # a dead worker's files may have been given back to the queue
                    top_up(other)

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
        sent: dict[int, deque[list[StoreRequest]]] = {w: deque() for w in pending}
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
                reread = {r.index: self.paths[r.index] for r in part if r.index in self.lost}
                self.lost.difference_update(reread)
                self.kept_by[worker].difference_update(r.index for r in part)
                sent[worker].append(part)
                self._send(worker, ("store", (part, reread)))
                pending[worker] += 1
                ahead[worker] += len(part)
            waiting.append((key, dict.fromkeys(by_worker)))
            return True

        def settle(worker: int, reply: list[StoredFile]) -> None:
            pending[worker] -= 1
            ahead[worker] -= len(reply)
            for _, parts in waiting:  # replies come back in the order each worker was sent its parts
                if worker in parts and parts[worker] is None:
                    parts[worker] = reply
                    break

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
                if isinstance(reply, _Dead):
                    error = f"the import worker process storing it stopped ({reply.how})"
                    while sent[worker]:
                        part = sent[worker].popleft()
                        self.abandoned.update(r.index for r in part)
                        settle(worker, [StoredFile(r.index, error=error) for r in part])
                else:
                    sent[worker].popleft()
                    settle(worker, reply)  # type: ignore[arg-type]

    def drop(self, indexes: Iterable[int]) -> None:
        """Forget inspected files that will not be stored (rejected, duplicate or already imported)."""
        indexes = list(indexes)
        if self.local is not None:
            self.local.drop(indexes)
            return
        by_worker: dict[int, list[int]] = {}
        for index in indexes:
            if index in self.lost:  # its worker died: nothing to forget
                self.lost.discard(index)
                continue
            by_worker.setdefault(self.owner[index], []).append(index)
        for worker, part in by_worker.items():
            self.kept_by[worker].difference_update(part)
            self._send(worker, ("drop", part))

    def _replies(self, pending: dict[int, int]) -> list[tuple[int, object]]:
        """Wait for at least one reply from the workers with messages pending; a dead worker answers
        :class:`_Dead` (and is replaced)."""
        busy = {self.conns[w]: w for w, n in pending.items() if n}
        ready = wait(list(busy))
        return [(busy[conn], self._reply(busy[conn])) for conn in ready]  # type: ignore[index]

    def _send(self, worker: int, message: tuple) -> None:
        try:
            self.conns[worker].send(message)
        except OSError:  # a broken pipe: the worker is gone, which waiting for its reply finds out
            pass

    def _reply(self, worker: int) -> object:
        try:
            return self.conns[worker].recv()
        except (EOFError, OSError):
            return self._replace(worker)

    def _replace(self, worker: int) -> _Dead:
        """Start a new worker in place of a dead one; say how it died and what it was working on."""
        proc = self.procs[worker]
        proc.join(timeout=1)
        if proc.is_alive():
            proc.kill()
            proc.join()
        dead = _Dead(_how(proc.exitcode), struct.unpack_from("q", self.marks[worker], 0)[0])
        self.conns[worker].close()
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise WorkerStopped(
                f"import worker processes stopped unexpectedly {self.restarts} times (the last: {dead.how})"
            )
        self.lost.update(self.kept_by[worker])
        self.kept_by[worker] = set()
        self._start(worker)
        return dead


def _crashed(name: str, how: str) -> InspectResult:
    return InspectResult(
        status="rejected",
        code=CRASHED_CODE,
        reason=(
            f"Reading this file stopped the process decoding it ({how}): its data are probably corrupt and "
            "crashed the decoder. Upload the original file again, or export it uncompressed."
        ),
        name=name,
    )


def default_processes() -> int:
    """Worker processes for an import: one per CPU this process may use, at most 8; 0 on a single CPU."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return 0 if cpus < 2 else min(cpus, 8)
