"""Shared plumbing of the benchmarks: an isolated Django (temp var dir, throwaway SQLite or a scratch
PostgreSQL database), phantom generation in parallel, the benches' study (users, phantoms imported, the demo's
simulated ROIs), a real Celery worker subprocess, JSON output.

Nothing here touches the developer's ``var/`` or their database: ``DATABASE_URL``, ``CELERY_BROKER_URL``,
``MEDIA_ROOT`` and ``VBQ_VAR_DIR`` are always set explicitly before Django starts.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REDIS_URL = os.environ.get("VBQ_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
POSTGRES_ADMIN_URL = os.environ.get("VBQ_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


# ------------------------------------------------------------------------------------------------ database


class ScratchPostgres:
    """CREATE a throwaway database on the loopback server; DROP it (WITH FORCE) on exit."""

    def __init__(self, admin_url: str = POSTGRES_ADMIN_URL) -> None:
        self.admin_url = admin_url
        self.name = f"vbq_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    def _admin(self):
        import psycopg

        return psycopg.connect(self.admin_url.replace("postgres://", "postgresql://", 1), autocommit=True)

    @property
    def url(self) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{self.name}"

    def __enter__(self) -> ScratchPostgres:
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc) -> None:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def run_in_scratch(
    name: str,
    run: Callable[[Path, str | None], int],
    *,
    postgres: bool,
    keep: bool,
    base: Path | None = None,
) -> int:
    """``run(tmp, database_url)`` in a new temporary directory (under ``base``, else the system's), with a
    scratch PostgreSQL database when ``postgres`` (else ``database_url`` is None: SQLite under ``tmp``).
    The directory is removed afterwards unless ``keep``."""
    tmp = Path(tempfile.mkdtemp(prefix=f"vbq-bench-{name}-", dir=base))
    try:
        if postgres:
            with ScratchPostgres() as pg:
                return run(tmp, pg.url)
        return run(tmp, None)
    finally:
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def postgres_available(admin_url: str = POSTGRES_ADMIN_URL) -> bool:
    try:
        import psycopg

        psycopg.connect(admin_url.replace("postgres://", "postgresql://", 1), connect_timeout=3).close()
        return True
    except Exception:
        return False


def setup_django(var_dir: Path, *, database_url: str | None, broker_url: str | None, queue: str | None) -> dict:
    """Point this process at an isolated var dir / database / broker, start Django and migrate.

    Returns the environment a worker subprocess needs to see the same database and media.
    """
    var_dir = Path(var_dir)
    media = var_dir / "media"
    extra_path = os.environ.get("PYTHONPATH", "")
    env = {
        # VBQ_BENCH_SETTINGS: try a settings variant (e.g. a module on PYTHONPATH that star-imports
        # vbqsite.settings and changes one thing) without touching the project.
        "DJANGO_SETTINGS_MODULE": os.environ.get("VBQ_BENCH_SETTINGS", "vbqsite.settings"),
        "VBQ_VAR_DIR": str(var_dir),
        "MEDIA_ROOT": str(media),
        "DATABASE_URL": database_url or f"sqlite:///{var_dir / 'bench.sqlite3'}",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "0",
        "VBQ_DEV_SECRETS": "true",  # a benchmark, not a deployment: embedded development secrets
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), extra_path) if p),
    }
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
    else:
        os.environ.pop("CELERY_BROKER_URL", None)  # in-process (eager) tasks
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    if queue:
        from vbqsite.celery import app

        app.conf.task_default_queue = queue
    return env


def database_label() -> str:
    from django.db import connection

    return f"{connection.vendor} ({connection.settings_dict['NAME']})"


# ------------------------------------------------------------------------------------------------ phantoms


def phantom_subjects(n: int, prefix: str) -> list:
    """``n`` distinct VBQ-cohort phantom subjects: demo_cohort subjects cycled, with new codes and IDs.

    The subject code seeds the pixels and the Patient ID seeds the UIDs, so every series is distinct.
    """
    from studies.demo.phantom import demo_cohort

    base = [s for s in demo_cohort() if s.cohort == "VBQ"]
    return [
        replace(
            base[i % len(base)],
            subject_code=f"{prefix}-{i + 1:04d}",
            patient_id=f"{prefix}PID{i + 1:06d}",
            patient_name=f"{base[i % len(base)].patient_name}{i + 1}",
        )
        for i in range(n)
    ]


def _make_one(args):
    from studies.demo.phantom import make_phantom_series

    subject, out_dir = args
    return make_phantom_series(subject, out_dir=Path(out_dir) / subject.subject_code, rng_seed=1)


def make_phantoms(subjects: Iterable, out_dir: Path, workers: int | None = None) -> list:
    """Write each subject's 13-slice series under ``out_dir/<subject_code>/`` in parallel; geometries in order."""
    jobs = [(s, str(out_dir)) for s in subjects]
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        return list(pool.map(_make_one, jobs, chunksize=4))


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*.dcm") if p.is_file())


# ------------------------------------------------------------------------------------------------ the study


def bench_study(name: str, readers: Iterable[str], *, password: str | None = None, **settings) -> tuple:
    """A study ``name`` (``settings``: study settings) of a PI ``bench-pi``, with one reader per username of
    ``readers``; the users log in with ``password`` (None: they cannot). Returns (study, pi, reader users)."""
    from django.contrib.auth import get_user_model

    from studies.models import Membership
    from studies.services.membership import study_create

    users = get_user_model().objects
    pi = users.create_user(username="bench-pi", password=password)
    reader_users = [users.create_user(username=name, password=password) for name in readers]
    study = study_create(name=name, created_by=pi, **settings)
    Membership.objects.bulk_create(Membership(study=study, user=u, role=Membership.Role.READER) for u in reader_users)
    return study, pi, reader_users


def import_phantoms(study, phantom_dir: Path, subjects: Iterable):
    """``dicom_import_run`` of ``phantom_dir`` into ``study``, each subject's Patient ID given its subject code;
    the outcome. RuntimeError when a file is rejected: a phantom always imports, so the bench would be wrong."""
    from studies.services.dicom_import import dicom_import_run

    outcome = dicom_import_run(
        study=study, source=phantom_dir, subject_codes={s.patient_id: s.subject_code for s in subjects}
    )
    if outcome.rejected:
        raise RuntimeError(f"{outcome.rejected} phantom files rejected: {outcome.report[:3]}")
    return outcome


def draw_simulated_rois(study, reads, geometries: dict, *, batch_size: int = 500) -> int:
    """The demo's six simulated ROIs (``simulate.simulated_rois``) on each read of ``reads`` (a queryset of the
    study's reads), on the mid slice of its case as the demo command picks it (instances along the slice
    normal). Stored with ``bulk_create``, not the services, so nothing is queued or scored. The number of ROIs.

    ``geometries``: subject code -> the phantom's geometry (what :func:`make_phantoms` returns, by code).
    """
    from studies.demo import simulate
    from studies.models import Instance, Roi

    by_case: dict[str, list] = {}
    for code, sop in (
        Instance.objects.filter(series__case__study=study)
        .order_by("series__case__subject_code", "slice_position", "id")
        .values_list("series__case__subject_code", "sop_instance_uid")
    ):
        by_case.setdefault(code, []).append(sop)
    rois = []
    for read in reads.select_related("case", "reader"):
        geometry = geometries[read.case.subject_code]
        sop = by_case[read.case.subject_code][geometry.mid_slice_index]
        for p in simulate.simulated_rois(geometry, reader=read.reader.username, read_number=read.read_number):
            rois.append(
                Roi(
                    read=read,
                    label=p["label"],
                    shape=p["shape"],
                    points_px=[[float(c), float(r)] for c, r in p["points_px"]],
                    sop_instance_uid=sop,
                    csf_level=p.get("csf_level", "L3" if p["label"] == "CSF" else ""),
                )
            )
    Roi.objects.bulk_create(rois, batch_size=batch_size)
    return len(rois)


# ------------------------------------------------------------------------------------------------ worker


class Worker:
    """A real ``celery -A vbqsite worker`` subprocess on a private queue (as tests/integration/conftest.py)."""

    def __init__(self, env: dict, queue: str, pool: str, concurrency: int, log_path: Path) -> None:
        self.env, self.queue, self.pool, self.concurrency, self.log_path = env, queue, pool, concurrency, log_path
        self.name = f"bench-{pool}{concurrency}-{uuid.uuid4().hex[:6]}@%h"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> Worker:
        cmd = [sys.executable, "-m", "celery", "-A", "vbqsite", "worker", "-P", self.pool, "-Q", self.queue]
        if self.pool != "solo":
            cmd += ["-c", str(self.concurrency)]
        cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO", "-n", self.name]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=os.environ | self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}; see {self.log_path}")
            if b" ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # our own session: the worker and its pool children
                self.proc.wait(10)
        if getattr(self, "_log", None):
            self._log.close()


def purge_queue(queue: str) -> None:
    from vbqsite.celery import app

    with app.connection_for_write() as conn:
        try:
            conn.default_channel.queue_purge(queue)
        except Exception:
            pass


def drop_queue(queue: str, url: str = REDIS_URL) -> None:
    """Remove the private queue and kombu's binding keys for it from the Redis DB (nothing else)."""
    try:
        import redis

        r = redis.Redis.from_url(url, socket_connect_timeout=2)
        r.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    except Exception:
        pass


def redis_available(url: str = REDIS_URL) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:
        return False


# ------------------------------------------------------------------------------------------------ timing/output


def timed(fn: Callable, *args, **kwargs) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def machine() -> dict:
    import numpy
    import pydicom

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "numpy": numpy.__version__,
        "pydicom": pydicom.__version__,
    }
    try:
        import django

        info["django"] = django.__version__
    except ImportError:  # pragma: no cover
        pass
    return info


def write_json(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def profile_top(profiler, n: int = 25, sort: str = "cumulative") -> list[dict]:
    """The top ``n`` functions of a cProfile run as dicts (file:line name, calls, tottime, cumtime)."""
    import pstats

    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        short = filename.replace(str(ROOT) + "/", "")
        if "site-packages/" in short:
            short = short.split("site-packages/", 1)[1]
        rows.append({"function": f"{short}:{line}({func})", "calls": nc, "tottime": tt, "cumtime": ct})
    key = "cumtime" if sort == "cumulative" else "tottime"
    rows.sort(key=lambda r: r[key], reverse=True)
    return rows[:n]


def print_profile(rows: list[dict], title: str) -> None:
    print(f"  {title}")
    print(f"    {'cumtime':>8} {'tottime':>8} {'calls':>8}  function")
    for r in rows:
        print(f"    {r['cumtime']:8.3f} {r['tottime']:8.3f} {r['calls']:8d}  {r['function']}")
