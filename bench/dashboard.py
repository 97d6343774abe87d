"""Benchmark of the analytics dashboard on a 1,000-case study: full recompute time and page render p95.

Run from the repository root (venv active)::

    python bench/dashboard.py                  # 1,000 cases, 3 readers x 2 reads, SQLite, 50 requests per page
    python bench/dashboard.py --postgres       # a scratch PostgreSQL database instead
    python bench/dashboard.py --cases 200 --requests 10     # a smoke run

Builds a synthetic scored study (``analytics.synthetic``: bulk inserts of 1,000 cases with QCT reference data,
6,000 submitted reads, 36,000 ROIs with their statistics and the read scores) in an isolated temporary
directory and database (``bench/_common.py``), then, in one run:

  (a) the full recompute of every dashboard section, as the Celery task does it (in-process), and per section;
      the input checks: the exact digest (the job) and the aggregate fingerprint (every page view);
  (b) the first drawing of every figure (SVG), the analysis snapshot (CSVs + figures in three formats) and the
      three CSV exports;
  (c) the headline — page rendering with cached analytics through Django's test client (session login, the
      whole middleware and template stack): ``--requests`` requests to each dashboard page after one warm-up,
      p50 / p95 / max; beside it, the same for the study's own PI page (the baseline, same load).

Target (issue 7): dashboard page render p95 < 300 ms with cached analytics; the full recompute is reported.
Writes bench/results/dashboard.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

TARGET_P95_MS = 300.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def _time_requests(client, url: str, n: int) -> list[float]:
    response = client.get(url)  # warm-up, and proof that the analytics are cached (nothing is computing)
    assert response.status_code == 200, (url, response.status_code)
    assert b"Computing" not in response.content, url
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url)
        times.append(1000 * (time.perf_counter() - started))
        assert response.status_code == 200
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--readers", type=int, default=3)
    ap.add_argument("--reads", type=int, default=2, help="reads per reader")
    ap.add_argument("--requests", type=int, default=50, help="timed requests per page")
    ap.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database instead of SQLite")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if args.postgres and not C.postgres_available():
        print(f"PostgreSQL is not reachable at {C.POSTGRES_ADMIN_URL}", file=sys.stderr)
        return 2
    return C.run_in_scratch("dashboard", lambda tmp, url: _run(args, tmp, url), postgres=args.postgres, keep=args.keep)


def _run(args, tmp: Path, database_url: str | None) -> int:
    load_start = os.getloadavg()
    C.setup_django(tmp / "var", database_url=database_url, broker_url=None, queue=None)
    from django.test import Client
    from django.urls import reverse

    from analytics import digests, figure_cache, services
    from analytics.datasets import study_data
    from analytics.models import AnalysisCache
    from analytics.sections import compute_section
    from analytics.sections import exports as export
    from analytics.sections.common import CACHED_SECTIONS
    from analytics.snapshot import study_snapshot_build
    from analytics.synthetic import synthetic_study

    print(f"Database: {C.database_label()}; tasks in-process")
    t0 = time.perf_counter()
    syn = synthetic_study(n_cases=args.cases, n_readers=args.readers, reads_per_reader=args.reads, seed=1000)
    build_s = time.perf_counter() - t0
    study = syn.study
    print(f"Built {syn.n_cases} cases, {syn.n_reads} reads, {syn.n_rois} ROIs (bulk inserts) in {build_s:.1f} s")

    # ---------------------------------------------------------------- (a) recompute
    AnalysisCache.objects.filter(study=study).delete()
    recompute_s, outcome = C.timed(services.study_analytics_refresh, study_id=study.pk)
    assert not outcome["failed"], outcome
    print(f"Full recompute of all {len(outcome['computed'])} sections (the job's work): {recompute_s:.2f} s")
    load_s, data = C.timed(study_data, study)
    print(f"  load tidy data          {1000 * load_s:7.0f} ms")
    section_ms = {}
    for section in CACHED_SECTIONS:
        seconds, _ = C.timed(compute_section, section, data)
        section_ms[section] = 1000 * seconds
        print(f"  {section:<23} {section_ms[section]:7.0f} ms")
    digest_s, _ = C.timed(lambda: [digests.Digests(study).section(s) for s in CACHED_SECTIONS])
    print_s, _ = C.timed(lambda: [digests.Fingerprints(study).section(s) for s in CACHED_SECTIONS])
    print(f"  exact input digests, all sections (job)        {1000 * digest_s:6.0f} ms")
    print(f"  aggregate fingerprints, all sections (pages)   {1000 * print_s:6.0f} ms")

    # ---------------------------------------------------------------- (b) figures, snapshot, CSV
    figure_ms = {}
    for section in CACHED_SECTIONS:
        for name in AnalysisCache.objects.get(study=study, section=section).result.get("figures", {}):
            seconds, _ = C.timed(figure_cache.figure_get, study, name, "svg", section=section)
            figure_ms[name] = 1000 * seconds
    print(f"First drawing of {len(figure_ms)} figures (SVG): {sum(figure_ms.values()) / 1000:.2f} s")
    snapshot_s, snapshot = C.timed(study_snapshot_build, study_id=study.pk)
    print(f"Analysis snapshot ({snapshot['size'] / 1e6:.1f} MB zip; PNG + PDF drawn here): {snapshot_s:.2f} s")
    exports = {}
    for kind, builder in export.EXPORTS.items():
        seconds, content = C.timed(builder, study)
        exports[kind] = {"ms": 1000 * seconds, "bytes": len(content)}
        print(f"  {kind + '.csv':<22} {1000 * seconds:7.0f} ms  {len(content) / 1e6:5.1f} MB")

    # ---------------------------------------------------------------- (c) page renders
    client = Client()
    client.force_login(syn.pi)
    kw = {"study_id": study.pk}
    pages = {
        "overview (progress)": reverse("analytics-overview", kwargs=kw),
        "agreement": reverse("analytics-agreement", kwargs=kw),
        "table1": reverse("analytics-table1", kwargs=kw),
        "groups": reverse("analytics-groups", kwargs=kw),
        "roc": reverse("analytics-roc", kwargs=kw),
        "roc ?outcome=op_vs_rest": reverse("analytics-roc", kwargs=kw) + "?outcome=op_vs_rest",
        "correlation": reverse("analytics-correlation", kwargs=kw),
        "exports": reverse("analytics-exports", kwargs=kw),
    }
    extra = {
        "figure ba-vbq.svg (cached)": reverse("analytics-figure", kwargs=kw | {"name": "ba-vbq", "fmt": "svg"}),
        "api: agreement JSON": reverse("api-analytics-section", kwargs=kw | {"section": "agreement"}),
        "baseline: study PI page": reverse("study-detail", kwargs=kw),
    }
    render = {}
    dashboard_times: list[float] = []
    print(f"Page render with cached analytics ({args.requests} requests each, after one warm-up):")
    for label, url in {**pages, **extra}.items():
        times = _time_requests(client, url, args.requests)
        if label in pages:
            dashboard_times += times
        render[label] = {
            "p50_ms": statistics.median(times),
            "p95_ms": _percentile(times, 0.95),
            "max_ms": max(times),
        }
        r = render[label]
        print(f"  {label:<28} p50 {r['p50_ms']:6.1f}   p95 {r['p95_ms']:6.1f}   max {r['max_ms']:6.1f} ms")
    p95 = _percentile(dashboard_times, 0.95)
    worst = max(render[label]["p95_ms"] for label in pages)
    baseline = render["baseline: study PI page"]["p95_ms"]
    ok = worst < TARGET_P95_MS
    print(
        f"Dashboard pages: p95 over all requests {p95:.1f} ms, worst page p95 {worst:.1f} ms "
        f"({worst / baseline:.1f}x the study page's p95 {baseline:.1f} ms); target < {TARGET_P95_MS:.0f} ms: "
        + ("OK" if ok else "MISSED")
    )
    path = C.write_json(
        "dashboard",
        {
            "machine": C.machine(),
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
            "database": C.database_label(),
            "cases": syn.n_cases,
            "reads": syn.n_reads,
            "rois": syn.n_rois,
            "build_seconds": build_s,
            "full_recompute_seconds": recompute_s,
            "load_data_ms": 1000 * load_s,
            "section_ms": section_ms,
            "digest_ms": 1000 * digest_s,
            "fingerprint_ms": 1000 * print_s,
            "figure_first_draw_ms": figure_ms,
            "snapshot_seconds": snapshot_s,
            "snapshot_bytes": snapshot["size"],
            "exports": exports,
            "requests_per_page": args.requests,
            "render": render,
            "dashboard_render_p95_ms": p95,
            "worst_page_p95_ms": worst,
            "baseline_p95_ms": baseline,
            "target_p95_ms": TARGET_P95_MS,
            "target_met": ok,
        },
    )
    print(f"Wrote {path.relative_to(C.ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
