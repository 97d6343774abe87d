"""Benchmark of whole-study scoring: ``study_rescore`` through a real Celery worker, beside a bare numpy loop.

Run from the repository root (venv active; Redis on 127.0.0.1:6379)::

    python bench/scoring.py                   # scratch PostgreSQL DB if reachable (else SQLite); solo + prefork -c 2
    python bench/scoring.py --sqlite          # an SQLite file database under the temp dir instead
    python bench/scoring.py --pools solo      # one pool only
    python bench/scoring.py --fanout          # + one ``roi_score`` task per ROI on the prefork worker
    python bench/scoring.py --cprofile        # + the in-process rescore under cProfile (top functions)
    python bench/scoring.py --subjects 10     # a smoke run

Builds the demo study scale: the 61 VBQ-cohort phantoms imported through ``dicom_import_run``, 3 readers ×
2 reads (``reading_plan_build``) and the 6 simulated ROIs of every read (``simulate.simulated_rois``), stored
with ``bulk_create`` so nothing is scored while building: 61 × 3 × 2 × 6 = 2,196 ROIs. Then, in one run:

  (a) the baseline — a bare loop over the same ROIs: ``roi_mask`` + n/area/mean/median/SD(ddof 1)/min/max on
      slices decoded beforehand and held in memory (timed again right before every timed run below, so
      each run has a baseline taken under the same machine load; decode time reported apart);
  (b) the in-process service ``scoring.services.study_rescore(study_id=…, force=True)``, with its SQL time
      and query count;
  (c) the real thing — a ``celery -A vbqsite worker`` subprocess (``-P solo``, and ``-P prefork -c 2``) on
      Redis (DB 14, a private queue) sharing the database and MEDIA_ROOT: ``study_rescore.delay(id, True)``
      timed until every ROI has a RoiScore at its current version and every read a ReadScore (the DB is
      polled every ``--poll`` s, default 0.1), and until the RescoreJob says done (M-scores included).

Every timed run starts from the same state (the study's scores deleted), so each scores all 2,196 ROIs and
366 reads. The worker's results are checked against the bare loop (n exact, statistics to 1e-9).
Targets (issue 5): whole study ≤ 10 s on this 2-core machine and ≤ 3× the bare loop. Writes
bench/results/scoring.json.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

TARGET_SECONDS = 10.0
TARGET_RATIO = 3.0
READERS = ("reader1", "reader2", "reader3")


# ------------------------------------------------------------------------------------------------ build


def build_study(phantom_dir: Path, subjects: list, geometries: dict):
    from django.utils import timezone

    from studies.models import Read
    from studies.services import reading

    study, pi, _ = C.bench_study("bench scoring (VBQ demo scale)", READERS, randomisation_seed=20261123)
    t0 = time.perf_counter()
    outcome = C.import_phantoms(study, phantom_dir, subjects)
    import_s = time.perf_counter() - t0
    reading.reading_plan_build(study=study, user=pi)
    C.draw_simulated_rois(study, Read.objects.filter(study=study), geometries)  # nothing is queued or scored here
    Read.objects.filter(study=study).update(status=Read.Status.SUBMITTED, submitted_at=timezone.now())
    return study, import_s, outcome.accepted


def clear_scores(study_id: int) -> None:
    from scoring.models import ReadScore, RescoreJob, RoiScore

    RoiScore.objects.filter(roi__read__study_id=study_id).delete()
    ReadScore.objects.filter(read__study_id=study_id).delete()
    RescoreJob.objects.filter(study_id=study_id).delete()


def progress(study_id: int) -> tuple[int, int, bool]:
    """(ROIs scored at their current version, reads with a score, RescoreJob done)."""
    from django.db.models import F

    from scoring.models import ReadScore, RescoreJob, RoiScore

    rois = RoiScore.objects.filter(roi__read__study_id=study_id, roi_version=F("roi__version")).count()
    reads = ReadScore.objects.filter(read__study_id=study_id).count()
    done = RescoreJob.objects.filter(study_id=study_id, status=RescoreJob.Status.DONE).exists()
    return rois, reads, done


# ------------------------------------------------------------------------------------------------ baseline


def roi_inputs(study_id: int) -> list[tuple[int, str, list, str]]:
    from studies.models import Roi

    return list(
        Roi.objects.filter(read__study_id=study_id, excluded=False)
        .order_by("id")
        .values_list("id", "shape", "points_px", "sop_instance_uid")
    )


def predecode(study_id: int, sops: set[str]) -> dict:
    import pydicom

    from studies.dicom.pixels import decode_pixels, pixel_spacing
    from studies.models import Instance

    out = {}
    for inst in Instance.objects.filter(sop_instance_uid__in=sops):
        ds = pydicom.dcmread(inst.file.path)
        out[inst.sop_instance_uid] = (decode_pixels(ds), *pixel_spacing(ds))
    return out


def bare_loop(rois, slices) -> dict[int, tuple]:
    """The floor: mask + statistics per ROI with numpy on in-memory arrays, nothing else."""
    import numpy as np

    from studies.roi_geometry import roi_mask

    out = {}
    for roi_id, shape, points, sop in rois:
        values, rs, cs = slices[sop]
        mask = roi_mask(shape, points, values.shape[0], values.shape[1], rs, cs)
        inside = values[mask]
        n = inside.size
        out[roi_id] = (
            n,
            n * rs * cs,
            float(inside.mean()),
            float(np.median(inside)),
            float(inside.std(ddof=1)),
            float(inside.min()),
            float(inside.max()),
        )
    return out


def check_against(study_id: int, expected: dict[int, tuple]) -> dict:
    from scoring.models import ReadScore, RoiScore

    worst, missing, wrong_n = 0.0, 0, 0
    got = {
        r[0]: r[1:]
        for r in RoiScore.objects.filter(roi__read__study_id=study_id).values_list(
            "roi_id", "n", "area_mm2", "mean", "median", "sd", "min", "max"
        )
    }
    for roi_id, exp in expected.items():
        row = got.get(roi_id)
        if row is None or row[2] is None:
            missing += 1
            continue
        wrong_n += row[0] != exp[0]
        worst = max(worst, *(abs(a - b) / max(1.0, abs(b)) for a, b in zip(row[1:], exp[1:], strict=True)))
    vbq = ReadScore.objects.filter(read__study_id=study_id, vbq__isnull=False).count()
    return {"missing": missing, "wrong_n": wrong_n, "max_rel_diff": worst, "reads_with_vbq": vbq}


# ------------------------------------------------------------------------------------------------ timed paths


class SqlTimer:
    def __init__(self) -> None:
        self.seconds, self.count = 0.0, 0

    def __call__(self, execute, sql, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - t0
            self.count += 1


#: Functions of scoring.services timed inside the in-process rescore (wrapped only if they exist: the service
#: may be refactored). Label → attribute names. SQL time overlaps these phases and is reported apart.
SERVICE_PHASES = {
    "decode slices": ("_instance_pixels",),
    "mask + statistics": ("_measure",),
    "store ROI scores": ("_scores_upsert", "_roi_score_upsert"),
    "read scores": ("reads_score_bulk", "read_score_compute"),
    "M-scores": ("study_mscores_refresh",),
}


def _wrap_phases(services, seconds: dict) -> list:
    saved = []
    for label, names in SERVICE_PHASES.items():
        for name in names:
            fn = getattr(services, name, None)
            if fn is None:
                continue

            def wrapper(*a, _fn=fn, _label=label, **kw):
                t = time.perf_counter()
                try:
                    return _fn(*a, **kw)
                finally:
                    seconds[_label] = seconds.get(_label, 0.0) + time.perf_counter() - t

            saved.append((name, fn))
            setattr(services, name, wrapper)
    return saved


def in_process(study_id: int, profiler=None) -> dict:
    from django.db import connection

    from scoring import services

    clear_scores(study_id)
    phases: dict[str, float] = {}
    saved = _wrap_phases(services, phases) if profiler is None else []
    sql = SqlTimer()
    commits = {"seconds": 0.0, "count": 0}
    connection.ensure_connection()
    real_commit = connection.commit

    def timed_commit():  # transaction.atomic's COMMIT (not seen by execute_wrapper): an fsync on SQLite
        t = time.perf_counter()
        try:
            return real_commit()
        finally:
            commits["seconds"] += time.perf_counter() - t
            commits["count"] += 1

    connection.commit = timed_commit
    try:
        with connection.execute_wrapper(sql):
            t0 = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            out = services.study_rescore(study_id=study_id, force=True)
            if profiler is not None:
                profiler.disable()
            seconds = time.perf_counter() - t0
    finally:
        del connection.commit
        for name, fn in saved:
            setattr(services, name, fn)
    phases["other (loading ROIs, progress, job rows, glue)"] = seconds - sum(phases.values())
    return {
        "seconds": seconds,
        "phases": {k: round(v, 4) for k, v in phases.items()},
        "sql_seconds": sql.seconds,
        "queries": sql.count,
        "commit_seconds": commits["seconds"],
        "commits": commits["count"],
        "result": out,
    }


def wait_scored(study_id: int, n_rois: int, n_reads: int, t0: float, args, need_job: bool = True):
    scored_at = None
    while True:
        rois, reads, done = progress(study_id)
        now = time.perf_counter()
        if scored_at is None and rois >= n_rois and reads >= n_reads:
            scored_at = now - t0
        if scored_at is not None and (done or not need_job):
            return scored_at, now - t0
        if now - t0 > args.timeout:
            raise TimeoutError(
                f"after {args.timeout:.0f} s only {rois}/{n_rois} ROIs and {reads}/{n_reads} reads scored"
            )
        time.sleep(args.poll)


def through_worker(study_id: int, n_rois: int, n_reads: int, args) -> dict:
    from scoring import tasks
    from scoring.models import RescoreJob

    clear_scores(study_id)
    t0 = time.perf_counter()
    tasks.study_rescore.delay(study_id, True)
    scored, done = wait_scored(study_id, n_rois, n_reads, t0, args)
    job = RescoreJob.objects.filter(study_id=study_id).order_by("-id").first()
    inside = (job.finished_at - job.created_at).total_seconds()  # the task's own span, no polling
    return {"seconds_scored": round(scored, 3), "seconds_job_done": round(done, 3), "seconds_in_worker": inside}


def fanout(study_id: int, roi_ids: list[int], n_rois: int, n_reads: int, args) -> dict:
    """One roi_score task per ROI (what saving the ROIs one by one queues)."""
    from scoring import tasks

    clear_scores(study_id)
    t0 = time.perf_counter()
    for roi_id in roi_ids:
        tasks.roi_score.delay(roi_id)
    sent = time.perf_counter() - t0
    scored, _ = wait_scored(study_id, n_rois, n_reads, t0, args, need_job=False)
    return {"seconds_scored": round(scored, 3), "seconds_sending": round(sent, 3)}


# ------------------------------------------------------------------------------------------------ main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=61, help="VBQ-cohort subjects (61 = the demo study)")
    ap.add_argument(
        "--db",
        choices=("auto", "postgres", "sqlite"),
        default="auto",
        help="auto (default): a scratch PostgreSQL database when 127.0.0.1:5432 answers, else an SQLite file",
    )
    ap.add_argument("--postgres", dest="db", action="store_const", const="postgres", help="same as --db postgres")
    ap.add_argument("--sqlite", dest="db", action="store_const", const="sqlite", help="same as --db sqlite")
    ap.add_argument("--pools", default="solo,prefork", help="worker pools to time (comma-separated)")
    ap.add_argument("--concurrency", type=int, default=2, help="prefork processes")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each path (the best is reported)")
    ap.add_argument("--fanout", action="store_true", help="also time one roi_score task per ROI (prefork)")
    ap.add_argument("--cprofile", action="store_true", help="also profile the in-process rescore")
    ap.add_argument("--timeout", type=float, default=300.0, help="give up on a worker run after this long")
    ap.add_argument("--poll", type=float, default=0.1, help="seconds between DB polls while a worker runs")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if not C.redis_available():
        print(f"Redis is not reachable at {C.REDIS_URL}", file=sys.stderr)
        return 2

    use_pg = args.db == "postgres" or (args.db == "auto" and C.postgres_available())
    if args.db == "auto" and not use_pg:
        print("PostgreSQL not reachable at 127.0.0.1:5432: using an SQLite file database")
    return C.run_in_scratch("scoring", lambda tmp, url: _run(args, tmp, url), postgres=use_pg, keep=args.keep)


def _run(args, tmp: Path, database_url: str | None) -> int:
    from studies.demo.phantom import demo_cohort

    load_start = os.getloadavg()
    subjects = [s for s in demo_cohort() if s.cohort == "VBQ"][: args.subjects]
    phantom_dir = tmp / "phantoms"
    print(f"Generating {len(subjects)} VBQ phantom series…", flush=True)
    gen_s, geoms = C.timed(C.make_phantoms, subjects, phantom_dir)
    geometries = {g.subject_code: g for g in geoms}
    print(f"  {gen_s:.1f} s")

    queue = f"vbq-bench-{uuid.uuid4().hex[:8]}"
    env = C.setup_django(tmp / "var", database_url=database_url, broker_url=C.REDIS_URL, queue=queue)
    print(f"Database: {C.database_label()}; broker {C.REDIS_URL}, queue {queue}")

    print("Building the study (import, reading plan, bulk ROIs)…", flush=True)
    t0 = time.perf_counter()
    study, import_s, n_instances = build_study(phantom_dir, subjects, geometries)
    build_s = time.perf_counter() - t0
    from studies.models import Read

    rois = roi_inputs(study.pk)
    n_rois = len(rois)
    n_reads = Read.objects.filter(study=study, rois__isnull=False).distinct().count()
    print(f"  {n_instances} instances, {n_reads} reads, {n_rois} ROIs in {build_s:.1f} s (import {import_s:.1f} s)")

    # (a) baseline: decoded once, then the bare loop — repeated right before every timed run below, so each
    # timed run has a baseline measured under the same machine load.
    sops = {r[3] for r in rois}
    decode_s, slices = C.timed(predecode, study.pk, sops)
    bare_runs: list[float] = []
    expected: dict = {}

    def bare() -> float:
        nonlocal expected
        s, expected = C.timed(bare_loop, rois, slices)
        bare_runs.append(s)
        return s

    bare()  # warm-up pass (imports, allocator)
    bare_runs.clear()
    for _ in range(max(1, args.repeat)):
        bare()
    print(
        f"Baseline bare loop: {min(bare_runs):.3f} s for {n_rois} ROIs; decoding the {len(sops)} slices "
        f"beforehand {decode_s:.3f} s",
        flush=True,
    )

    def paired(run: dict, key: str, before: float) -> dict:
        return run | {"bare_before": round(before, 4), "ratio_vs_bare": round(run[key] / before, 2)}

    # (b) in-process service
    inproc_runs = []
    for _ in range(max(1, args.repeat)):
        b = bare()
        inproc_runs.append(paired(in_process(study.pk), "seconds", b))
    inproc = min(inproc_runs, key=lambda r: r["seconds"])
    print(
        "In-process study_rescore: "
        + ", ".join(f"{r['seconds']:.2f} s ({r['ratio_vs_bare']:.0f}× bare)" for r in inproc_runs)
        + f"; best: {inproc['queries']} queries, {inproc['sql_seconds']:.2f} s executing SQL, "
        f"{inproc['commits']} commits {inproc['commit_seconds']:.2f} s",
        flush=True,
    )
    checks = {"in_process": check_against(study.pk, expected)}

    # (c) real workers
    from django.db import connections

    connections.close_all()
    C.purge_queue(queue)
    workers: dict[str, dict] = {}
    fan = None
    for pool in [p.strip() for p in args.pools.split(",") if p.strip()]:
        log_path = tmp / f"worker-{pool}.log"
        w = C.Worker(env, queue, pool, args.concurrency, log_path)
        label = pool if pool == "solo" else f"{pool} -c {args.concurrency}"
        runs = []
        try:
            start_s, _ = C.timed(w.start)
            for _ in range(max(1, args.repeat)):
                b = bare()
                runs.append(paired(through_worker(study.pk, n_rois, n_reads, args), "seconds_job_done", b))
            checks[label] = check_against(study.pk, expected)
            if args.fanout and pool != "solo":
                b = bare()
                try:
                    fan = paired(fanout(study.pk, [r[0] for r in rois], n_rois, n_reads, args), "seconds_scored", b)
                    checks[f"fanout {label}"] = check_against(study.pk, expected)
                except TimeoutError as exc:  # e.g. SQLite "database is locked" in a task: it is not retried
                    locked = log_path.read_text(errors="replace").count("database is locked")
                    fan = {"failed": str(exc), "database_is_locked_errors_in_log": locked}
                    print(f"Fan-out FAILED: {exc} ({locked} 'database is locked' in the worker log)", flush=True)
                    C.purge_queue(queue)
                fan["pool"] = label
        except Exception:
            print(f"worker log ({log_path}):\n" + log_path.read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            w.stop()
        workers[label] = {"startup_seconds": round(start_s, 2), "runs": runs}
        print(
            f"Worker {label}: "
            + ", ".join(
                f"{r['seconds_job_done']:.2f} s ({r['ratio_vs_bare']:.0f}× bare; "
                f"in worker {r['seconds_in_worker']:.2f} s)"
                for r in runs
            )
            + f"   [start-up {start_s:.1f} s, not counted]",
            flush=True,
        )
    C.drop_queue(queue)
    if fan and "failed" not in fan:
        print(
            f"Fan-out ({fan['pool']}): {n_rois} roi_score tasks all scored in {fan['seconds_scored']:.2f} s "
            f"({fan['ratio_vs_bare']:.0f}× bare; sending took {fan['seconds_sending']:.2f} s)"
        )

    # summary — best of N on both sides (the least-disturbed run on a shared, noisy machine)
    bare_s = min(bare_runs)
    for info in workers.values():
        info["best"] = min(info["runs"], key=lambda r: r["seconds_job_done"])
    print()
    print(f"{'path (best run)':46}{'seconds':>9}{'ROIs/s':>9}{'× bare':>9}")
    rows = [
        ("bare numpy loop (pre-decoded)", bare_s),
        (f"bare loop + decoding the {len(sops)} slices", bare_s + decode_s),
        ("in-process services.study_rescore", inproc["seconds"]),
    ]
    for label, info in workers.items():
        rows.append((f"worker {label}: all scored", info["best"]["seconds_scored"]))
        rows.append((f"worker {label}: RescoreJob done", info["best"]["seconds_job_done"]))
    if fan and "failed" not in fan:
        rows.append((f"fan-out roi_score × {n_rois} ({fan['pool']})", fan["seconds_scored"]))
    for label, s in rows:
        print(f"{label:46}{s:9.2f}{n_rois / s:9.0f}{s / bare_s:9.1f}")
    print(f"  (best of {max(1, args.repeat)} runs each; × bare = ÷ the best bare loop. Paired ratios — each run")
    print("   against the bare loop timed just before it — are printed above and kept in the JSON.)")
    headline = None
    if workers:
        label = "solo" if "solo" in workers else next(iter(workers))
        best = workers[label]["best"]
        headline = best | {"worker": label, "ratio_vs_best_bare": round(best["seconds_job_done"] / bare_s, 2)}
        print(
            f"\nWhole study through a real worker ({label}, delay → RescoreJob done): "
            f"{headline['seconds_job_done']:.2f} s — target ≤ {TARGET_SECONDS:.0f} s: "
            f"{'MET' if headline['seconds_job_done'] <= TARGET_SECONDS else 'MISSED'}; "
            f"{headline['ratio_vs_best_bare']:.1f}× the bare loop — target ≤ {TARGET_RATIO:.0f}×: "
            f"{'MET' if headline['ratio_vs_best_bare'] <= TARGET_RATIO else 'MISSED'}"
        )
    print(
        f"In-process: {1000 * inproc['seconds'] / n_rois:.2f} ms/ROI; SQL execution "
        f"{1000 * inproc['sql_seconds'] / n_rois:.2f} ms/ROI ({inproc['queries'] / n_rois:.1f} queries/ROI), "
        f"COMMIT {1000 * inproc['commit_seconds'] / n_rois:.2f} ms/ROI ({inproc['commits']} commits); "
        f"bare loop {1000 * bare_s / n_rois:.3f} ms/ROI"
    )
    print(f"Where the in-process rescore's time goes (best run, {inproc['seconds']:.2f} s):")
    for label, sec in inproc["phases"].items():
        print(f"  {label:50}{sec:8.3f} s{sec / inproc['seconds']:8.1%}")
    print(f"  (SQL execution {inproc['sql_seconds']:.3f} s is spread over these phases)")
    bad = {k: v for k, v in checks.items() if v["missing"] or v["wrong_n"] or v["max_rel_diff"] > 1e-9}
    print(f"Results vs bare loop: {'all equal (n exact, stats ≤ 1e-9 rel.)' if not bad else bad}")

    profile = None
    if args.cprofile:
        prof = cProfile.Profile()
        r = in_process(study.pk, profiler=prof)
        profile = {
            "seconds_under_profiler": round(r["seconds"], 3),
            "cumulative": C.profile_top(prof, 30, "cumulative"),
            "tottime": C.profile_top(prof, 20, "tottime"),
        }
        print()
        C.print_profile(profile["cumulative"], f"in-process rescore under cProfile ({r['seconds']:.1f} s): cumulative")
        C.print_profile(profile["tottime"], "own time")

    payload = {
        "benchmark": "scoring",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": C.machine() | {"loadavg_start": load_start, "loadavg_end": os.getloadavg()},
        "database": C.database_label(),
        "broker": C.REDIS_URL,
        "poll_seconds": args.poll,
        "subjects": len(subjects),
        "instances": n_instances,
        "reads": n_reads,
        "rois": n_rois,
        "build_seconds": round(build_s, 2),
        "generation_seconds": round(gen_s, 2),
        "baseline": {
            "bare_loop_seconds_best": round(bare_s, 4),
            "bare_loop_runs": [round(s, 4) for s in bare_runs],
            "rois_per_s": round(n_rois / bare_s, 1),
            "predecode_seconds": round(decode_s, 4),
            "slices": len(sops),
        },
        "in_process": {"best": inproc, "runs": inproc_runs},
        "workers": workers,
        "fanout": fan,
        "headline": headline,
        "targets": {"seconds": TARGET_SECONDS, "ratio_vs_bare": TARGET_RATIO},
        "targets_met": None
        if headline is None
        else {
            "seconds": headline["seconds_job_done"] <= TARGET_SECONDS,
            "ratio": headline["ratio_vs_best_bare"] <= TARGET_RATIO,
        },
        "checks": checks,
        "cprofile": profile,
    }
    path = C.write_json("scoring", payload)
    print(f"\nwrote {path.relative_to(C.ROOT)}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
