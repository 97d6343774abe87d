"""The per-file half of the import in worker processes: same verdicts and bytes as in one process, failures reported."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import pydicom
import pytest

from studies.demo import phantom
from studies.services import import_workers
from studies.services.import_workers import FileWorkers, StoreRequest, WorkerStopped

SECRET = b"k" * 32


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> list[tuple[str, str]]:
    """One phantom series (13 slices) and the bad-file corpus, as (name, path) in name order."""
    root = tmp_path_factory.mktemp("workers-src")
    subject = phantom.demo_cohort()[0]
    phantom.make_phantom_series(subject, out_dir=root / "series", rng_seed=5)
    phantom.make_bad_files(root / "bad")
    return [(str(p.relative_to(root)), str(p)) for p in sorted(root.rglob("*")) if p.is_file()]


def _writer(out: Path):
    def write(name: str, parts: list) -> str:
        if "refuse" in name:
            raise OSError(28, "No space left on device")
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as fh:
            fh.writelines(parts)
        return name

    return write


def _run(files, processes: int, out: Path, *, offset: int | None = 400):
    """Inspect everything, store every accepted file; (verdicts by index, stored files by index)."""
    with FileWorkers(processes, SECRET, _writer(out)) as workers:
        verdicts = dict(workers.inspect(files))
        accepted = [i for i, r in sorted(verdicts.items()) if r.accepted]
        requests = [StoreRequest(i, "S007", offset, f"{i:04d}.dcm") for i in accepted]
        groups = [(k, requests[k : k + 5]) for k in range(0, len(requests), 5)]
        stored = {f.index: f for _, part in workers.store(groups) for f in part}
        return verdicts, stored, workers.parallel


def test_two_workers_give_the_verdicts_and_bytes_of_one_process(source, tmp_path):
    one_verdicts, one_stored, one_parallel = _run(source, 0, tmp_path / "one")
    two_verdicts, two_stored, two_parallel = _run(source, 2, tmp_path / "two")
    assert (one_parallel, two_parallel) == (False, True)
    assert [(r.status, r.code, r.reason) for _, r in sorted(one_verdicts.items())] == [
        (r.status, r.code, r.reason) for _, r in sorted(two_verdicts.items())
    ]
    assert {r.code for r in one_verdicts.values()} >= {"accepted", "truncated", "not_dicom", "empty_file"}
    accepted = sorted(i for i, r in one_verdicts.items() if r.accepted)
    assert len(accepted) == 13 + 2  # the series, good_mr.dcm and its copy (duplicates are the import's call)
    assert sorted(one_stored) == sorted(two_stored) == accepted
    for index in accepted:
        a, b = one_stored[index], two_stored[index]
        assert not a.error and not b.error
        assert (a.sha256, a.size) == (b.sha256, b.size)
        assert (tmp_path / "one" / a.name).read_bytes() == (tmp_path / "two" / b.name).read_bytes()
    # facts travel back to the importing process in place of the dataset
    facts = one_verdicts[accepted[0]].facts
    assert facts["Rows"] and len(facts["ImagePositionPatient"]) == 3 and facts["PatientID"]
    assert one_verdicts[accepted[0]].dataset is None and two_verdicts[accepted[0]].dataset is None


def test_stored_files_are_deidentified_with_pixels_bit_identical(source, tmp_path):
    _, stored, _ = _run(source, 2, tmp_path)
    names = dict(source)
    for index, file in stored.items():
        name = source[index][0]
        original = pydicom.dcmread(names[name])
        written = pydicom.dcmread(tmp_path / file.name)
        assert written.PixelData == original.PixelData  # taken out while waiting, put back byte for byte
        assert written.PatientID == "S007" and written.PatientIdentityRemoved == "YES"
        assert written.SOPInstanceUID != original.SOPInstanceUID
        assert written.StudyDate != original.StudyDate  # shifted by 400 days


def test_only_files_asked_for_are_written_and_dropped_ones_are_forgotten(source, tmp_path):
    files = [f for f in source if f[0].startswith("series/")]
    with FileWorkers(2, SECRET, _writer(tmp_path)) as workers:
        verdicts = dict(workers.inspect(files))
        workers.drop(i for i in verdicts if i % 2)
        requests = [StoreRequest(i, "S001", None, f"{i}.dcm") for i in sorted(verdicts)]
        stored = {f.index: f for _, part in workers.store([("all", requests)]) for f in part}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{i}.dcm" for i in verdicts if not i % 2)
    for i, f in stored.items():
        assert bool(f.error) == bool(i % 2)
        if i % 2:
            assert "not inspected" in f.error


def test_a_file_changed_after_inspection_is_not_stored(source, tmp_path):
    copy = tmp_path / "copy.dcm"
    copy.write_bytes(Path(dict(source)["series/" + Path(source[-1][1]).name]).read_bytes())
    out = tmp_path / "out"
    with FileWorkers(2, SECRET, _writer(out)) as workers:
        [(index, verdict)] = list(workers.inspect([("copy.dcm", copy)]))
        assert verdict.accepted
        with open(copy, "ab") as fh:  # someone edits the source folder during the import
            fh.write(b"\x00" * 2)
        [(_, [stored])] = list(workers.store([("g", [StoreRequest(index, "S001", None, "x.dcm")])]))
    assert "changed" in stored.error and not stored.name
    assert not out.exists()


def test_a_storage_failure_is_reported_for_that_file_only(source, tmp_path):
    files = [f for f in source if f[0].startswith("series/")][:3]
    with FileWorkers(2, SECRET, _writer(tmp_path)) as workers:
        indexes = [i for i, _ in workers.inspect(files)]
        requests = [StoreRequest(i, "S001", None, f"{'refuse' if i == 1 else 'ok'}-{i}.dcm") for i in indexes]
        stored = {f.index: f for _, part in workers.store([("g", requests)]) for f in part}
    assert "No space left" in stored[1].error
    assert not stored[0].error and not stored[2].error and stored[0].sha256


def test_workers_start_inside_a_celery_prefork_pool_process(source, tmp_path):
    """Celery runs tasks in daemonic pool processes; the import's workers must start there too."""
    from billiard import Pool

    with Pool(1) as pool:
        parallel, count = pool.apply(_inspect_in_pool, ([f for f in source if f[0].startswith("series/")],))
    assert parallel and count == 13


def _inspect_in_pool(files) -> tuple[bool, int]:
    with FileWorkers(2, SECRET, lambda name, data: name) as workers:
        return workers.parallel, sum(r.accepted for _, r in workers.inspect(files))


def test_a_worker_that_dies_costs_only_the_files_it_was_storing(source, tmp_path):
    """Its files being stored come back with an error; a new worker takes its place and reads its other files
    again when they are stored."""
    files = [f for f in source if f[0].startswith("series/")]
    with FileWorkers(2, SECRET, _writer(tmp_path)) as workers:
        verdicts = dict(workers.inspect(files))
        dead = workers.procs[0]
        os.kill(dead.pid, signal.SIGKILL)
        dead.join()
        on_dead = {i for i in verdicts if workers.owner[i] == 0}
        first = [StoreRequest(i, "S001", None, f"{i}.dcm") for i in sorted(verdicts)[:6]]
        later = [StoreRequest(i, "S001", None, f"{i}.dcm") for i in sorted(verdicts)[6:]]
        stored = {f.index: f for _, part in workers.store([("a", first)]) for f in part}
        for request in first:
            if request.index in on_dead:
                assert "worker process storing it stopped (killed by SIGKILL)" in stored[request.index].error
            else:
                assert stored[request.index].name and not stored[request.index].error
        assert workers.procs[0] is not dead and workers.procs[0].is_alive() and workers.restarts == 1
        assert workers.abandoned == {r.index for r in first} & on_dead
        stored = {f.index: f for _, part in workers.store([("b", later)]) for f in part}
        assert all(f.name and not f.error for f in stored.values()), stored
        assert on_dead & set(stored)  # read again by the new worker


def test_workers_that_keep_dying_stop_the_import_with_a_clear_error(source, tmp_path, monkeypatch):
    from studies.services import import_workers

    monkeypatch.setattr(import_workers, "MAX_RESTARTS", 0)
    files = [f for f in source if f[0].startswith("series/")]
    with FileWorkers(2, SECRET, _writer(tmp_path)) as workers:
        verdicts = dict(workers.inspect(files))
        os.kill(workers.procs[0].pid, signal.SIGKILL)
        workers.procs[0].join()
        requests = [StoreRequest(i, "S001", None, f"{i}.dcm") for i in sorted(verdicts)]
        with pytest.raises(WorkerStopped, match="stopped unexpectedly"):
            list(workers.store([("g", requests)]))


def test_where_processes_cannot_be_started_the_work_runs_in_this_process(source, tmp_path, monkeypatch):
    class Refusing:
        Pipe = staticmethod(multiprocessing.Pipe)

        class Process:
            def __init__(self, *args, **kwargs) -> None:
                pass

            def start(self) -> None:
                raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(import_workers, "_fork_context", lambda: Refusing)
    _, stored, parallel = _run(source, 2, tmp_path)
    assert not parallel
    assert stored and all(not f.error for f in stored.values())
