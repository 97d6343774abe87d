"""Benchmark of the DICOM SR export (#19 point 4): the whole-study SR zip, streamed, at the demo study's shape.

Run from the repository root (venv active)::

    python bench/sr_export.py                 # 20 phantom subjects × 3 readers × 2 reads = 120 reads, SQLite
    python bench/sr_export.py --subjects 61   # the demo scale: 366 reads
    python bench/sr_export.py --postgres      # a scratch PostgreSQL database instead

Builds the study as ``bench/scoring.py`` does (phantoms imported through ``dicom_import_run``, the reading plan,
the demo's simulated ROIs, every read submitted), scores it (``study_rescore``), then times, best of ``--runs``:

  (a) the whole-study zip as the API streams it (``sr_export.sr_zip_stream``), with its query
      count and the peak Python memory while streaming (tracemalloc, a separate run);
  (b) the part of (a) that is highdicom building the documents (``dicom_sr.read_sr`` per read, in memory);

and checks the zip: one SR per read, each read back by highdicom with the stored VBQ. Writes
bench/results/sr_export.json. No target in the issue; the bar is that memory stays flat (one SR at a time).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

READERS = ("reader1", "reader2", "reader3")


def build(tmp: Path, n_subjects: int):
    from django.utils import timezone

    from scoring.services import study_rescore
    from studies.models import Read
    from studies.services import reading

    subjects = C.phantom_subjects(n_subjects, "SRB")
    geometries = {g.subject_code: g for g in C.make_phantoms(subjects, tmp / "phantoms")}
    study, pi, _ = C.bench_study("bench SR export", READERS, randomisation_seed=20261123)
    C.import_phantoms(study, tmp / "phantoms", subjects)
    reading.reading_plan_build(study=study, user=pi)
    C.draw_simulated_rois(study, Read.objects.filter(study=study), geometries)
    Read.objects.filter(study=study).update(status=Read.Status.SUBMITTED, submitted_at=timezone.now())
    study_rescore(study_id=study.pk)
    return study


def run(tmp: Path, database_url: str | None, args) -> int:
    C.setup_django(tmp / "var", database_url=database_url, broker_url=None, queue=None)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from scoring import dicom_sr, sr_export
    from scoring.models import ReadScore
    from studies.models import Read

    t0 = time.perf_counter()
    study = build(tmp, args.subjects)
    build_s = time.perf_counter() - t0

    def zip_once() -> tuple[bytes, int]:
        with CaptureQueriesContext(connection) as queries:
            reads = sr_export.reads_for_sr(study=study, status=Read.Status.SUBMITTED)
            data = b"".join(sr_export.sr_zip_stream(reads, folders=True))
        return data, len(queries.captured_queries)

    times, data, n_queries = [], b"", 0
    for _ in range(args.runs):
        start = time.perf_counter()
        data, n_queries = zip_once()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    zip_once()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    reads = sr_export.reads_for_sr(study=study, status=Read.Status.SUBMITTED)
    builder = sr_export.SrBuilder(reads)
    plain = [builder.sr_read(r) for r in reads]
    build_times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        for item in plain:
            dicom_sr.read_sr(item)
        build_times.append(time.perf_counter() - start)

    archive = zipfile.ZipFile(io.BytesIO(data))
    files = [n for n in archive.namelist() if n.endswith(".dcm")]
    vbq = dict(ReadScore.objects.filter(read__study=study).values_list("read_id", "vbq"))
    by_name = {f"{sr_export.safe_name(r.case.subject_code)}/{sr_export.sr_file_name(r)}": r.pk for r in reads}
    ok = len(files) == len(reads) and all(
        dicom_sr.sr_values(archive.read(n))["SCORES"].get("vbq") == vbq[by_name[n]] for n in files
    )
    n = len(reads)
    result = {
        "reads": n,
        "database": C.database_label(),
        "build_study_s": round(build_s, 1),
        "zip_s_best": round(min(times), 3),
        "zip_ms_per_read": round(min(times) / n * 1000, 1),
        "highdicom_build_s_best": round(min(build_times), 3),
        "highdicom_share": round(min(build_times) / min(times), 2),
        "zip_bytes": len(data),
        "sr_bytes_mean": round(sum(archive.getinfo(f).file_size for f in files) / len(files)),
        "queries": n_queries,
        "peak_python_memory_mb": round(peak / 1e6, 1),
        "checked": ok,
        "machine": C.machine(),
    }
    for key, value in result.items():
        if key != "machine":
            print(f"{key:>24}: {value}")
    C.write_json("sr_export", result)
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    return C.run_in_scratch("sr", lambda tmp, url: run(tmp, url, args), postgres=args.postgres, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
