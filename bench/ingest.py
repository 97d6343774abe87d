"""Benchmark of DICOM ingest: ``dicom_import_run`` beside a bare ``pydicom.dcmread`` of the same files.

Run from the repository root (venv active)::

    python bench/ingest.py                  # 2,000 instances (154 phantom subjects × 13 slices), SQLite
    python bench/ingest.py --postgres       # same, into a scratch PostgreSQL database (created and dropped)
    python bench/ingest.py --cprofile       # + a second import under cProfile (top functions)
    python bench/ingest.py --instances 260  # a smoke run

In one run: generates the phantom series (``studies.demo.phantom``, demo-cohort subjects with new codes and
IDs, in parallel), then times

  (a) the baseline — ``pydicom.dcmread`` of every file, and ``dcmread`` + ``.pixel_array`` (``--repeat``
      passes, plus one dcmread pass right before each import; warm page cache, as for the import);
  (b) the import — ``dicom_import_run`` into a fresh study: validation, de-identification, storage and
      database rows — with cheap per-phase timers (inspect, series checks, de-identify, serialise, file
      write, SQL) wrapped around the functions the import calls.

Prints files/s and MB/s of each and the ratio import / bare read (best pass of each: the machine is shared
and noisy; each import's ratio to the dcmread pass just before it is printed too). Target (issue 3): ≥ 0.5×
the bare ``dcmread`` rate. Writes bench/results/ingest.json. Everything lives in a temporary directory (removed
unless ``--keep``) made under the repository's var/ (``--tmp`` elsewhere): the import writes its files where
the application would; the developer's own database and images are never touched.

Nothing is deleted until the timing is over: on ext4, creating files soon after thousands were deleted costs
up to ~1 ms each (see :func:`creation_probe`, whose figure is printed). Runs made back to back therefore slow
each other down; leave five minutes between them.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import os
import resource
import shutil
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

TARGET_RATIO = 0.5
#: Creating an empty file slower than this (ms) means ext4 is still skipping recently deleted inodes.
SLOW_CREATE_MS = 0.2
RECENTLY_DELETED_S = 300
SLICES_PER_SUBJECT = 13


# ------------------------------------------------------------------------------------------------ baseline


def settle() -> None:
    """Start a timed pass with no dirty pages left by the one before (each import writes ~0.4 GB)."""
    os.sync()


def bare_read(paths: list[Path], *, pixels: bool) -> float:
    import pydicom

    settle()
    t0 = time.perf_counter()
    for p in paths:
        ds = pydicom.dcmread(p)
        if pixels:
            ds.pixel_array  # noqa: B018 - decode
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------------ phase timers


class Phases:
    """Accumulated wall time per phase, from wrappers around what ``dicom_import_run`` calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.sql_seconds, self.sql_calls = 0.0, 0

    def wrap(self, phase: str, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - t0
                self.calls[phase] += 1

        wrapper.__wrapped__ = fn
        return wrapper

    def sql(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.sql_seconds += time.perf_counter() - t0
            self.sql_calls += 1


@contextmanager
def instrumented(phases: Phases):
    """Patch the import's collaborators with timers (restored afterwards). SQL timed via execute_wrapper.

    Only meaningful with the work in one process (``IMPORT_PROCESSES=0``): worker processes are not timed.
    """
    from django.db import connection

    from studies.dicom import series as dicom_series
    from studies.services import dicom_import, import_cases, import_workers

    # dicom_import and import_cases import the series checks when they run (start-up, issue #20 point 4), so
    # the timers go on studies.dicom.series itself.
    patches = [
        (import_workers, "inspect_file", "inspect (read + parse + validate)"),
        (dicom_series, "check_series_geometry", "series checks"),
        (dicom_series, "classify_series", "series checks"),
        (import_workers.deid, "deidentify", "de-identify"),
        (import_workers, "_restore", "re-read file (pixel data)"),
        (import_workers, "part10_parts", "serialise (part10_parts)"),
        (dicom_import, "_write_file", "write file (storage)"),
        (import_cases, "_commit_batch", "database rows (ORM + SQL)"),
    ]
    saved = []
    for owner, attr, phase in patches:
        original = getattr(owner, attr)
        saved.append((owner, attr, original))
        setattr(owner, attr, phases.wrap(phase, original))
    try:
        with connection.execute_wrapper(phases.sql):
            yield phases
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)


@contextmanager
def processes(n: int | None):
    """Run imports with ``n`` worker processes (None: the default, one per CPU)."""
    from django.conf import settings

    saved = settings.IMPORT_PROCESSES, settings.IMPORT_PARALLEL_MIN_FILES
    settings.IMPORT_PROCESSES, settings.IMPORT_PARALLEL_MIN_FILES = n, 1
    try:
        yield
    finally:
        settings.IMPORT_PROCESSES, settings.IMPORT_PARALLEL_MIN_FILES = saved


# ------------------------------------------------------------------------------------------------ import


def fresh_study(label: str):
    from django.contrib.auth import get_user_model

    from studies.services.membership import study_create

    user, _ = get_user_model().objects.get_or_create(username="bench-pi")
    return study_create(name=f"bench ingest {label}", created_by=user)


def run_import(source: Path, label: str, phases: Phases | None = None, profiler=None):
    from studies.models import Instance
    from studies.services.dicom_import import dicom_import_run

    study = fresh_study(label)
    settle()
    r0 = cpu_times()
    t0 = time.perf_counter()
    if phases is not None:
        with instrumented(phases):
            outcome = dicom_import_run(study=study, source=source)
    elif profiler is not None:
        profiler.enable()
        outcome = dicom_import_run(study=study, source=source)
        profiler.disable()
    else:
        outcome = dicom_import_run(study=study, source=source)
    seconds = time.perf_counter() - t0
    cpu = {k: round(v - r0[k], 3) for k, v in cpu_times().items()}
    stored = Instance.objects.filter(series__case__study=study).count()
    return seconds, outcome, stored, study, cpu


def cpu_times() -> dict[str, float]:
    """CPU seconds (user, system) of this process and of its finished child processes (the import's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"main_user": me.ru_utime, "main_sys": me.ru_stime, "workers_user": kids.ru_utime,
            "workers_sys": kids.ru_stime, "main_faults": me.ru_minflt, "workers_faults": kids.ru_minflt}  # fmt: skip


def creation_probe(directory: Path, n: int = 300) -> float:
    """Milliseconds to create one empty file in ``directory`` (the files are left until the run ends).

    On ext4 this is normally tens of microseconds, but for a few minutes after thousands of files were deleted
    nearby, each new inode costs up to ~1 ms of kernel time (``find_inode_bit`` skips inodes deleted less than
    60–300 s ago: ``recently_deleted`` in fs/ext4/ialloc.c). The benchmark therefore deletes nothing until it has
    finished timing, and prints this figure so that a run made right after another can be recognised.
    """
    probe = directory / "creation-probe"
    probe.mkdir(parents=True, exist_ok=True)
    start = len(list(probe.iterdir()))
    t0 = time.perf_counter()
    for i in range(start, start + n):
        os.close(os.open(probe / f"{i}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    return 1000 * (time.perf_counter() - t0) / n


def rate(n_files: int, n_bytes: int, seconds: float) -> dict:
    return {
        "seconds": round(seconds, 4),
        "files_per_s": round(n_files / seconds, 1),
        "mb_per_s": round(n_bytes / 1e6 / seconds, 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", type=int, default=2000, help="instances to import (13 per subject)")
    ap.add_argument("--repeat", type=int, default=3, help="passes of the bare read (best reported)")
    ap.add_argument("--import-repeat", type=int, default=3, help="imports, each into a fresh study (best reported)")
    ap.add_argument("--processes", type=int, help="worker processes (default: one per CPU, as for users)")
    ap.add_argument("--postgres", action="store_true", help="scratch PostgreSQL database instead of SQLite")
    ap.add_argument("--cprofile", action="store_true", help="also import once more under cProfile")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument(
        "--tmp", type=Path, help="where the scratch database and stored images go (default: the repository's var/)"
    )
    ap.add_argument("--phantoms", type=Path, help="reuse (or create and keep) the phantom files in this directory")
    args = ap.parse_args()

    # The import writes where the application stores images (MEDIA_ROOT under var/ by default), so the
    # scratch directory goes there too; see bench/README.md for what /tmp costs on some machines.
    base = args.tmp or C.ROOT / "var"
    base.mkdir(parents=True, exist_ok=True)
    return C.run_in_scratch(
        "ingest", lambda tmp, url: _run(args, tmp, url), postgres=args.postgres, keep=args.keep, base=base
    )


def _run(args, tmp: Path, database_url: str | None) -> int:
    n_subjects = math.ceil(args.instances / SLICES_PER_SUBJECT)
    phantom_dir = args.phantoms or tmp / "phantoms"
    paths = C.files_under(phantom_dir) if phantom_dir.is_dir() else []
    gen_s = 0.0
    if len(paths) != n_subjects * SLICES_PER_SUBJECT:
        shutil.rmtree(phantom_dir, ignore_errors=True)
        print(f"Generating {n_subjects} phantom series ({n_subjects * SLICES_PER_SUBJECT} instances)…", flush=True)
        gen_s, _ = C.timed(C.make_phantoms, C.phantom_subjects(n_subjects, "ING"), phantom_dir)
        paths = C.files_under(phantom_dir)
    else:
        print(f"Reusing the phantom files in {phantom_dir}")
    n_files, n_bytes = len(paths), sum(p.stat().st_size for p in paths)
    print(f"  {n_files} files, {n_bytes / 1e6:.1f} MB in {gen_s:.1f} s")

    # Django after the generator pool (no forking of a process holding DB connections).
    C.setup_django(tmp / "var", database_url=database_url, broker_url=None, queue=None)
    print(f"Database: {C.database_label()}")

    # (a) baseline: dcmread passes (median), and one more right before each import (paired ratio)
    print(f"Baseline: pydicom.dcmread of the same files ({args.repeat} passes)…", flush=True)
    bare_read(paths[:50], pixels=True)  # imports / warm-up
    dcm = [bare_read(paths, pixels=False) for _ in range(args.repeat)]
    pix = [bare_read(paths, pixels=True) for _ in range(args.repeat)]

    # (b) the import into a fresh study each time, as it runs for users (worker processes)
    from django.conf import settings

    from studies.services.import_workers import default_processes

    n_procs = default_processes() if args.processes is None else args.processes
    media = Path(settings.MEDIA_ROOT)
    create_ms = [creation_probe(media)]
    print(f"Creating a file in the storage directory: {create_ms[0]:.3f} ms", flush=True)
    if create_ms[0] > SLOW_CREATE_MS:
        print(
            f"  (slow: ext4 is skipping inodes deleted in the last minutes; wait {RECENTLY_DELETED_S} s after "
            "deleting many files, e.g. a previous run's, for representative figures)"
        )
    runs = []
    for k in range(max(1, args.import_repeat)):
        before = bare_read(paths, pixels=False)
        dcm.append(before)
        print(f"Import {k + 1}: dicom_import_run into a fresh study, {n_procs} worker processes…", flush=True)
        with processes(n_procs):
            imp_s, outcome, stored, _study, cpu = run_import(phantom_dir, f"timed {k + 1}")
        ok = outcome.accepted == n_files and outcome.rejected == 0 and stored == n_files
        runs.append(
            {"seconds": imp_s, "bare_before": before, "ratio": before / imp_s, "ok": ok, "outcome": outcome,
             "stored": stored, "cpu": cpu}
        )  # fmt: skip
        print(f"  {imp_s:.2f} s ({n_files / imp_s:.0f} files/s); dcmread just before: {before:.2f} s")
        print("  CPU s: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    create_ms.append(creation_probe(media))
    best = min(runs, key=lambda r: r["seconds"])
    imp_s, outcome, stored = best["seconds"], best["outcome"], best["stored"]
    ok = all(r["ok"] for r in runs)

    # (c) once more in one process with phase timers: what each file costs, and where
    print("Import in one process with phase timers (where the time goes)…", flush=True)
    phases = Phases()
    with processes(0):
        one_s, one_outcome, one_stored, _study, _cpu = run_import(phantom_dir, "phases", phases=phases)
    ok = ok and one_outcome.accepted == n_files and one_stored == n_files

    # Best of N on both sides: the least-disturbed pass of each on a shared, noisy machine.
    bare, bare_px = rate(n_files, n_bytes, min(dcm)), rate(n_files, n_bytes, min(pix))
    imp = rate(n_files, n_bytes, imp_s)
    one = rate(n_files, n_bytes, one_s)
    ratio = bare["seconds"] / imp_s
    ratio_px = bare_px["seconds"] / imp_s

    print()
    print(f"{'':44}{'seconds':>9}{'files/s':>10}{'MB/s':>9}")
    for label, r in (
        ("bare pydicom.dcmread (best)", bare),
        ("bare dcmread + .pixel_array (best)", bare_px),
        (f"dicom_import_run, {n_procs} processes (best)", imp),
        ("dicom_import_run, one process (timed)", one),
    ):
        print(f"{label:44}{r['seconds']:9.2f}{r['files_per_s']:10.1f}{r['mb_per_s']:9.1f}")
    print(f"  (dcmread passes: {', '.join(f'{s:.2f}' for s in dcm)} s)")
    print(f"  (creating an empty file in the storage directory: {create_ms[0]:.3f} ms before the imports, "
          f"{create_ms[1]:.3f} ms after)")  # fmt: skip
    shown = ", ".join(f"{r['seconds']:.2f} s = {r['ratio']:.3f}× its paired dcmread" for r in runs)
    print(f"  (imports: {shown})")
    print()
    print(
        f"import / bare dcmread rate = {ratio:.3f}×   (target ≥ {TARGET_RATIO}×: "
        f"{'MET' if ratio >= TARGET_RATIO else 'MISSED'})"
    )
    print(f"import / bare dcmread+pixel_array rate = {ratio_px:.3f}×")
    print(f"one-process import / bare dcmread rate = {bare['seconds'] / one_s:.3f}×")
    print(
        f"outcome: {outcome.accepted} accepted, {outcome.skipped} skipped, {outcome.rejected} rejected; "
        f"{stored} Instance rows {'(OK)' if ok else '(MISMATCH)'}"
    )

    accounted = sum(phases.seconds.values())
    phase_rows = [
        {
            "phase": k,
            "seconds": round(v, 4),
            "ms_per_file": round(1000 * v / n_files, 3),
            "share": round(v / one_s, 4),
            "calls": phases.calls[k],
        }
        for k, v in sorted(phases.seconds.items(), key=lambda kv: -kv[1])
    ]
    phase_rows.append(
        {
            "phase": "other (python glue, hashing, planning, walk)",
            "seconds": round(one_s - accounted, 4),
            "ms_per_file": round(1000 * (one_s - accounted) / n_files, 3),
            "share": round((one_s - accounted) / one_s, 4),
            "calls": 0,
        }
    )
    print("\nWhere a one-process import's time goes (wall time, phases do not overlap):")
    print(f"  {'phase':58}{'s':>8}{'ms/file':>9}{'share':>8}{'calls':>8}")
    for r in phase_rows:
        print(f"  {r['phase']:58}{r['seconds']:8.2f}{r['ms_per_file']:9.2f}{r['share']:8.1%}{r['calls']:8d}")
    print(f"  (SQL, part of the rows above: {phases.sql_seconds:.2f} s in {phases.sql_calls} statements)")
    bare_ms = 1000 * bare["seconds"] / n_files
    print(f"  (bare dcmread: {bare_ms:.2f} ms/file; the ratio target allows {bare_ms / TARGET_RATIO:.2f} ms/file)")

    profile = None
    if args.cprofile:
        print("\ncProfile of one more import (fresh study; cProfile inflates Python-heavy code):", flush=True)
        prof = cProfile.Profile()
        prof_s, _, _, _, _ = run_import(phantom_dir, "profiled", profiler=prof)
        profile = {
            "seconds_under_profiler": round(prof_s, 3),
            "cumulative": C.profile_top(prof, 30, "cumulative"),
            "tottime": C.profile_top(prof, 25, "tottime"),
        }
        C.print_profile(profile["cumulative"], f"top by cumulative time ({prof_s:.1f} s under the profiler)")
        C.print_profile(profile["tottime"], "top by own time")

    payload = {
        "benchmark": "ingest",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": C.machine() | {"loadavg_end": os.getloadavg()},
        "database": C.database_label(),
        "storage_dir": str(tmp),
        "file_creation_ms": {"before_imports": round(create_ms[0], 4), "after_imports": round(create_ms[1], 4)},
        "files": n_files,
        "subjects": n_subjects,
        "bytes": n_bytes,
        "generation_seconds": round(gen_s, 2),
        "baseline": {
            "dcmread": bare | {"runs_seconds": [round(s, 4) for s in dcm]},
            "dcmread_pixel_array": bare_px | {"runs_seconds": [round(s, 4) for s in pix]},
        },
        "processes": n_procs,
        "import_one_process": one,
        "import": imp
        | {
            "accepted": outcome.accepted,
            "skipped": outcome.skipped,
            "rejected": outcome.rejected,
            "stored": stored,
            "runs": [
                {
                    "seconds": round(r["seconds"], 3),
                    "bare_before": round(r["bare_before"], 4),
                    "ratio": round(r["ratio"], 4),
                    "cpu_seconds": r["cpu"],
                }
                for r in runs
            ],
        },
        "ratio_import_vs_dcmread": round(ratio, 4),
        "ratio_import_vs_dcmread_pixel_array": round(ratio_px, 4),
        "target_ratio": TARGET_RATIO,
        "target_met": ratio >= TARGET_RATIO,
        "phases": phase_rows,
        "cprofile": profile,
    }
    path = C.write_json("ingest", payload)
    print(f"\nwrote {path.relative_to(C.ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
