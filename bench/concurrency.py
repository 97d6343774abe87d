"""Benchmark of ROI saves under load: 50 simulated readers moving an ROI every 200 ms, through the viewer's API.

Run from the repository root (venv active; PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379)::

    python bench/concurrency.py                    # 50 readers × 5 moves/s for 30 s, baseline first
    python bench/concurrency.py --seconds 10       # a shorter run
    python bench/concurrency.py --workers 2,3,5    # the load once per gunicorn worker count
    python bench/concurrency.py --active 10,20,30  # lighter loads: 10 readers moving = 50 saves/s offered
    python bench/concurrency.py --cprofile 50      # + 50 saves profiled in-process (where the time goes)
    python bench/concurrency.py --previous 4f75154 # + the same load on an earlier commit's code (the old save path)

What runs, as deployed (docker-compose.yml): ``gunicorn vbqsite.wsgi --preload --workers 3 --worker-class gthread
--threads 4 --keep-alive 5`` on a free loopback port, a scratch PostgreSQL database, a real ``celery -A vbqsite
worker --concurrency 2`` (prefork) on a private Redis queue (broker DB 11) and the throttle counts in Redis (DB 12,
``CACHE_URL``). The study: ``--cases`` VBQ phantoms imported through ``dicom_import_run`` (a quarter of them
controls), every reader × case × 2 reads planned, the six simulated ROIs on every read 1 (``bulk_create``) and
scored beforehand (``study_rescore``); each reader works on one read 1 (in progress; the others submitted).

Each simulated reader logs in like the browser (GET /login/ for the CSRF cookie, POST the form; then the session
cookie and ``X-CSRFToken`` on every write) and every 200 ms moves its L1 ROI (``--roi``) by a random step: like the
viewer's save queue, one save per ROI is in flight and moves made meanwhile coalesce into the next save, a PUT of
the whole ROI with the version of the last answer. Printed: moves offered, saves sent and served per second,
latency p50/p95/p99/max, 409s, other errors, lost writes (the stored geometry and version ≠ the last acknowledged),
and the time from the end of the load until scoring has caught up (every moved ROI measured at its stored version,
its read's VBQ/SNR computed from those inputs, checked with ``scoring.audit`` without pixels). Also the CPU each
save costs gunicorn, the Celery worker and the load client (/proc), and what the database's busy backends wait on
(pg_stat_activity sampled every 50 ms) — where the time goes when the target is missed.

Baseline in the same run: the same load (same client, same gunicorn flags) against a bare ``django-admin
startproject`` whose one view parses the JSON body and answers a small JSON object — no session, no database: the
ceiling of gunicorn + Django on this machine. Targets (issue #20): p95 < 100 ms at 250 offered saves/s, 0 lost.
Writes bench/results/concurrency.json.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

PASSWORD = "bench-concurrency-password-42"
BROKER_URL = os.environ.get("VBQ_BENCH_CONC_BROKER", "redis://127.0.0.1:6379/11")
CACHE_URL = os.environ.get("VBQ_BENCH_CONC_CACHE", "redis://127.0.0.1:6379/12")
GUNICORN = ["--preload", "--worker-class", "gthread", "--threads", "4", "--keep-alive", "5", "--timeout", "120"]
TARGET_P95_MS = 100.0


# ------------------------------------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_cpu_seconds(session_id: int) -> float:
    """User + system CPU seconds of the live processes of a session (a server and its workers; /proc, Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session_id:  # after "pid (comm)": state ppid pgrp session … utime(12) stime(13)
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def comm_cpu_seconds(comm: str) -> float:
    """User + system CPU seconds of the live processes named ``comm`` (e.g. every PostgreSQL backend; /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, rest = stat.read_text().rsplit(")", 1)
        except (OSError, ValueError):
            continue
        if head.split("(", 1)[1] == comm:
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (every core; /proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Gunicorn:
    """``gunicorn <app>`` with the deployment's flags on a free loopback port, in its own process group."""

    def __init__(self, app: str, cwd: Path, env: dict, workers: int, log: Path) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers)]
        self._log = open(log, "ab")
        self.proc = subprocess.Popen(
            cmd + GUNICORN, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {log}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not listen within 60 s; see {log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()


BARE_VIEW = """
import json
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

@csrf_exempt
def save(request, pk):
    body = json.loads(request.body or b"{}")
    return JsonResponse({"id": pk, "version": int(body.get("version", 0)) + 1, "points_px": body.get("points_px")})

urlpatterns = [path("rois/<int:pk>/", save)]
"""


def bare_project(folder: Path) -> Path:
    """A ``django-admin startproject`` whose URLconf is one JSON view (no session, no database)."""
    folder.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    subprocess.run([sys.executable, "-m", "django", "startproject", "barebench", str(folder)], check=True, env=env)
    (folder / "barebench" / "urls.py").write_text(BARE_VIEW)
    return folder


# ------------------------------------------------------------------------------------------------ the study


def build_study(phantom_dir: Path, subjects: list, geometries: dict, n_readers: int):
    """Import the phantoms, plan 2 reads per reader × case, draw and score the six ROIs of every read 1; each
    reader's working read (read 1 of case i mod n) in progress, the other reads 1 submitted."""
    from django.utils import timezone

    from scoring.services import study_rescore
    from studies.models import Case, Read
    from studies.services import reading

    study, pi, readers = C.bench_study(
        "bench concurrency",
        [f"reader{i + 1:02d}" for i in range(n_readers)],
        password=PASSWORD,
        randomisation_seed=20261207,
        washout_days=28,
    )
    C.import_phantoms(study, phantom_dir, subjects)
    codes = sorted(s.subject_code for s in subjects)
    Case.objects.filter(study=study, subject_code__in=codes[::4]).update(is_control=True)
    reading.reading_plan_build(study=study, user=pi)
    n_rois = C.draw_simulated_rois(study, Read.objects.filter(study=study, read_number=1), geometries, batch_size=1000)
    now = timezone.now()
    Read.objects.filter(study=study, read_number=1).update(status=Read.Status.SUBMITTED, submitted_at=now)
    work = []
    for i, reader in enumerate(readers):
        read = Read.objects.get(study=study, reader=reader, read_number=1, case__subject_code=codes[i % len(codes)])
        work.append(read.pk)
    Read.objects.filter(pk__in=work).update(status=Read.Status.IN_PROGRESS, submitted_at=None, last_activity_at=now)
    study_rescore(study_id=study.pk, force=True)
    return study, [(r.username, pk) for r, pk in zip(readers, work, strict=True)], n_rois


# ------------------------------------------------------------------------------------------------ the client


class Browser:
    """One reader's keep-alive connection with the session and CSRF cookies, as the viewer sends them."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port, self.timeout = port, timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError) as exc:
                self.conn.close()  # a fresh connection for the next request, whatever state this one is in
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                # the server closed an idle keep-alive connection: send once more; anything else is an error
                retry = http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError
                if attempt == 2 or not isinstance(exc, retry):
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data

    def login(self, username: str) -> None:
        status, page = self.request("GET", "/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
        form = f"username={username}&password={PASSWORD}&csrfmiddlewaretoken={token}".encode()
        status, _ = self.request(
            "POST", "/login/", form, {"Content-Type": "application/x-www-form-urlencoded", "Referer": "/login/"}
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login of {username} failed ({status})")

    def json(self, method: str, path: str, payload: dict | None = None):
        headers = {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers |= {"Content-Type": "application/json", "X-CSRFToken": self.cookies.get("csrftoken", "")}
        status, data = self.request(method, path, body, headers)
        return status, (json.loads(data) if data and data[:1] in (b"{", b"[") else None)


class Reader(threading.Thread):
    """Moves one ROI every ``period`` s until ``stop``; one save in flight, moves meanwhile coalesce (the viewer)."""

    def __init__(self, port: int, username: str | None, roi: dict, path: str, period: float, stop: threading.Event):
        super().__init__(daemon=True)
        self.browser, self.username, self.roi, self.path = Browser(port), username, dict(roi), path
        self.period, self.stop = period, stop
        self.rng = random.Random(hash(path))
        self.latencies: list[float] = []
        self.moves = self.conflicts = 0
        self.errors: list[str] = []
        self.acked: dict | None = None  # the last geometry and version the server acknowledged

    def _moved(self) -> list:
        dc, dr = self.rng.uniform(-1.5, 1.5), self.rng.uniform(-1.5, 1.5)
        return [[round(c + dc, 6), round(r + dr, 6)] for c, r in self.roi["points_px"]]

    def run(self) -> None:
        next_move = time.perf_counter()
        while not self.stop.is_set():
            now = time.perf_counter()
            if now < next_move:
                time.sleep(next_move - now)
                continue
            # every move that fell due while the last save was in flight counts; the save carries the latest
            while next_move <= time.perf_counter():
                self.moves += 1
                self.roi["points_px"] = self._moved()
                next_move += self.period
            body = {k: self.roi[k] for k in ("label", "shape", "points_px", "sop_instance_uid", "version")}
            body |= {"excluded": False, "exclusion_reason": "", "exclusion_note": ""}
            if self.roi.get("csf_level"):
                body["csf_level"] = self.roi["csf_level"]
            t0 = time.perf_counter()
            try:
                status, data = self.browser.json("PUT", self.path, body)
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            self.latencies.append(time.perf_counter() - t0)
            if status == 200:
                self.roi["version"] = data["version"]
                self.acked = {"points_px": body["points_px"], "version": data["version"]}
            elif status == 409:
                self.conflicts += 1
                current = (data or {}).get("current") or {}
                self.roi["version"] = current.get("version", self.roi["version"])
            else:
                self.errors.append(f"HTTP {status}: {str(data)[:120]}")


class WaitSampler(threading.Thread):
    """Samples what the database's busy backends wait on (pg_stat_activity, every 50 ms) while the load runs."""

    def __init__(self, database_url: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.counts, self.samples = database_url, stop, {}, 0

    def run(self) -> None:
        import psycopg

        sql = (
            "SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU'), count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid() GROUP BY 1"
        )
        with psycopg.connect(self.url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
            while not self.stop.is_set():
                for what, n in conn.execute(sql).fetchall():
                    self.counts[what] = self.counts.get(what, 0) + n
                self.samples += 1
                time.sleep(0.05)

    def summary(self) -> dict:
        """Average number of backends in each state (busy backends only), most first."""
        ordered = sorted(self.counts.items(), key=lambda kv: -kv[1])
        return {what: round(n / max(self.samples, 1), 2) for what, n in ordered[:8]}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def drive(readers: list[Reader], seconds: float, stop: threading.Event) -> dict:
    """Run the readers for ``seconds``; the served/latency summary."""
    t0 = time.perf_counter()
    for r in readers:
        r.start()
    time.sleep(seconds)
    stop.set()
    for r in readers:
        r.join(30)
    wall = time.perf_counter() - t0
    lat = [x for r in readers for x in r.latencies]
    served = sum(len(r.latencies) for r in readers) - sum(r.conflicts for r in readers)
    errors = [e for r in readers for e in r.errors]
    return {
        "readers": len(readers),
        "seconds": round(wall, 2),
        "moves_offered_per_s": round(sum(r.moves for r in readers) / wall, 1),
        "saves_sent_per_s": round(len(lat) / wall, 1),
        "saves_served_per_s": round(served / wall, 1),
        "p50_ms": round(pct(lat, 50) * 1000, 1),
        "p95_ms": round(pct(lat, 95) * 1000, 1),
        "p99_ms": round(pct(lat, 99) * 1000, 1),
        "max_ms": round(max(lat, default=float("nan")) * 1000, 1),
        "conflicts_409": sum(r.conflicts for r in readers),
        "errors": len(errors),
        "error_examples": errors[:3],
    }


def print_run(title: str, s: dict) -> None:
    print(f"  {title}")
    print(
        f"    {s['readers']} readers, {s['seconds']:.1f} s: moves offered {s['moves_offered_per_s']:.0f}/s, "
        f"saves sent {s['saves_sent_per_s']:.0f}/s, served {s['saves_served_per_s']:.0f}/s"
    )
    print(
        f"    latency p50 {s['p50_ms']:.1f} ms  p95 {s['p95_ms']:.1f} ms  p99 {s['p99_ms']:.1f} ms  "
        f"max {s['max_ms']:.0f} ms; 409s {s['conflicts_409']}; errors {s['errors']} {s['error_examples'] or ''}"
    )
    for key in (
        "cpu_ms_per_save",
        "db_backends_waiting_on",
        "lost_writes",
        "scoring_catch_up_s",
        "scores_exact",
        "score_differences",
    ):
        if key in s:
            print(f"    {key.replace('_', ' ')}: {s[key]}")
    if s.get("machine_cpu_ms_per_save"):
        per_save = s["machine_cpu_ms_per_save"]
        # a model, not a measurement: the saves/s the machine's CPU allows, and the cores 250 saves/s would keep
        # at most 70 % busy (queueing keeps p95 low only below roughly that utilisation)
        print(
            f"    machine: {s['cores_busy']:.2f} of {s['cores']} cores busy, {per_save:.1f} ms of CPU per save "
            f"→ CPU-bound ceiling ≈ {1000 * s['cores'] / per_save:.0f} saves/s here; 250 saves/s at ≤ 70 % "
            f"busy needs ≈ {250 * per_save / 1000 / 0.7:.1f} cores"
        )


# ------------------------------------------------------------------------------------------------ checks


def lost_writes(readers: list[Reader]) -> int:
    """Readers whose stored ROI differs from the last geometry and version the server acknowledged."""
    from studies.models import Roi

    lost = 0
    for r in readers:
        stored = Roi.objects.get(pk=r.roi["id"])
        if r.acked is not None and (stored.version, stored.points_px) != (r.acked["version"], r.acked["points_px"]):
            lost += 1
    return lost


def caught_up(roi_ids: list[int]) -> bool:
    """Every moved ROI measured at its stored version and its read's score computed from those inputs."""
    from django.db.models import F

    from scoring.models import ReadScore, RoiScore
    from scoring.services import _input_rows, _read_inputs
    from studies.models import Read

    if RoiScore.objects.filter(roi_id__in=roi_ids, roi_version=F("roi__version")).count() < len(roi_ids):
        return False
    reads = Read.objects.filter(rois__pk__in=roi_ids).select_related("study").distinct()
    digests = dict(ReadScore.objects.filter(read__in=reads).values_list("read_id", "inputs_digest"))
    return all(_read_inputs(read, _input_rows(read=read))[1] == digests.get(read.pk) for read in reads)


def wait_caught_up(roi_ids: list[int], timeout: float) -> float | None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if caught_up(roi_ids):
            return round(time.perf_counter() - t0, 2)
        time.sleep(0.1)
    return None


def profile_saves(username: str, read_id: int, roi: dict, n: int) -> dict:
    """cProfile ``n`` saves through Django's test client in this process (no HTTP server)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client(enforce_csrf_checks=False)
    client.force_login(get_user_model().objects.get(username=username))
    url = f"/api/reads/{read_id}/rois/{roi['id']}/"
    version = roi["version"]
    profiler = cProfile.Profile()
    for i in range(-5, n):  # five warm-up saves (first-use imports, connection) are not profiled
        points = [[c + 0.01 * (i % 7), r] for c, r in roi["points_px"]]
        body = {k: roi[k] for k in ("label", "shape", "sop_instance_uid")} | {"points_px": points, "version": version}
        if i >= 0:
            profiler.enable()
        response = client.put(url, json.dumps(body), content_type="application/json")
        profiler.disable()
        version = response.json()["version"]
    return {"cumulative": C.profile_top(profiler, n=30), "own": C.profile_top(profiler, n=20, sort="tottime")}


# ------------------------------------------------------------------------------------------------ main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--readers", type=int, default=50)
    ap.add_argument("--period", type=float, default=0.2, help="seconds between a reader's moves")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each loaded run")
    ap.add_argument("--cases", type=int, default=12, help="phantom cases (each reader reads every case twice)")
    ap.add_argument("--workers", default="3", help="gunicorn worker counts to run (comma-separated; 3 as deployed)")
    ap.add_argument(
        "--active",
        default="",
        help="readers moving at once, comma-separated (lighter offered loads: 10 = 50 saves/s); default all",
    )
    ap.add_argument("--roi", default="L1", help="the label each reader moves")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument(
        "--previous", metavar="REF", help="also run the load on this git commit's code (e.g. the save path before)"
    )
    ap.add_argument("--cprofile", type=int, default=0, metavar="N", help="profile N saves in-process")
    ap.add_argument("--catch-up-timeout", type=float, default=300.0)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if not (C.redis_available(BROKER_URL) and C.postgres_available()):
        print("needs Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432", file=sys.stderr)
        return 2
    return C.run_in_scratch("concurrency", lambda tmp, url: _run(args, tmp, url), postgres=True, keep=args.keep)


def _run(args, tmp: Path, database_url: str) -> int:
    load_start = os.getloadavg()
    subjects = C.phantom_subjects(args.cases, "CONC")  # the demo's VBQ-cohort phantoms, new codes
    print(f"Generating {len(subjects)} phantom series…", flush=True)
    geoms = C.make_phantoms(subjects, tmp / "phantoms")
    geometries = {g.subject_code: g for g in geoms}

    queue = f"vbq-bench-conc-{uuid.uuid4().hex[:8]}"
    (tmp / "conc_settings.py").write_text(
        "import os\nfrom vbqsite.settings import *  # noqa: F403\n"
        "CELERY_TASK_DEFAULT_QUEUE = os.environ['VBQ_BENCH_QUEUE']\n"
    )
    os.environ.update({"VBQ_BENCH_SETTINGS": "conc_settings", "VBQ_BENCH_QUEUE": queue, "CACHE_URL": CACHE_URL})
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(tmp), os.environ.get("PYTHONPATH", "")) if p)
    sys.path.insert(0, str(tmp))
    env = C.setup_django(tmp / "var", database_url=database_url, broker_url=BROKER_URL, queue=queue)
    env |= {"VBQ_BENCH_QUEUE": queue, "CACHE_URL": CACHE_URL, "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    print(f"Database: {C.database_label()}; broker {BROKER_URL}, queue {queue}; cache {CACHE_URL}")

    print("Building the study (import, plan, ROIs, scores)…", flush=True)
    t0 = time.perf_counter()
    study, work, n_rois = build_study(tmp / "phantoms", subjects, geometries, args.readers)
    from studies.models import Read, Roi

    n_reads = Read.objects.filter(study=study).count()
    print(f"  {n_reads} reads, {n_rois} ROIs in {time.perf_counter() - t0:.1f} s")
    rois = {}
    for username, read_id in work:
        roi = Roi.objects.get(read_id=read_id, label=args.roi)
        rois[username] = (
            read_id,
            {
                f: getattr(roi, f)
                for f in ("id", "label", "shape", "points_px", "sop_instance_uid", "csf_level", "version")
            },
        )
    results: dict = {
        "machine": C.machine(),
        "load_before": load_start,
        "database": C.database_label(),
        "study": {"reads": n_reads, "rois": n_rois, "readers": args.readers, "cases": args.cases},
        "offered_saves_per_s": round(args.readers / args.period, 1),
        "gunicorn": GUNICORN,
        "runs": {},
    }
    worker = C.Worker(env, queue, "prefork", 2, tmp / "worker.log").start()
    full_env = os.environ | env | {"DJANGO_SETTINGS_MODULE": "conc_settings"}
    try:
        if not args.no_baseline:
            folder = bare_project(tmp / "bare-project")
            for workers in [int(w) for w in args.workers.split(",")]:
                bare_env = os.environ | {"PYTHONPATH": str(folder), "DJANGO_SETTINGS_MODULE": "barebench.settings"}
                server = Gunicorn("barebench.wsgi", folder, bare_env, workers, tmp / "bare.log")
                try:
                    stop = threading.Event()
                    readers = [
                        Reader(server.port, None, roi, f"/rois/{roi['id']}/", args.period, stop)
                        for _, roi in rois.values()
                    ]
                    cpu0 = session_cpu_seconds(server.proc.pid)
                    summary = drive(readers, args.seconds, stop)
                    saves = summary["saves_sent_per_s"] * summary["seconds"]
                    summary["cpu_ms_per_save"] = {
                        "gunicorn": round(1000 * (session_cpu_seconds(server.proc.pid) - cpu0) / saves, 1)
                    }
                finally:
                    server.stop()
                results["runs"][f"bare Django view, {workers} workers"] = summary
                print_run(f"Baseline: bare Django JSON view, gunicorn --workers {workers} (same flags)", summary)
        codes = [("VBQ Reader", C.ROOT)]
        if args.previous:  # the same load on an earlier commit's code, same database, worker and flags
            folder = tmp / "previous"
            folder.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(C.ROOT), "archive", args.previous], check=True, capture_output=True
            )
            subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
            codes.insert(0, (f"VBQ Reader at {args.previous}", folder))
        actives = [int(a) for a in args.active.split(",") if a] or [args.readers]
        for (name, code), workers, active in [
            (c, int(w), a) for c in codes for w in args.workers.split(",") for a in actives
        ]:
            code_env = full_env | {"PYTHONPATH": os.pathsep.join((str(tmp), str(code)))}
            server = Gunicorn("vbqsite.wsgi", code, code_env, workers, tmp / "gunicorn.log")
            try:
                readers = []
                stop = threading.Event()
                for username, (read_id, roi) in list(rois.items())[:active]:
                    roi = {**roi, "version": Roi.objects.get(pk=roi["id"]).version}
                    reader = Reader(
                        server.port, username, roi, f"/api/reads/{read_id}/rois/{roi['id']}/", args.period, stop
                    )
                    readers.append(reader)
                # log in 4 at a time (a password hash each: not what is measured), each with its own connection
                t0 = time.perf_counter()
                for batch in range(0, len(readers), 4):
                    threads = [
                        threading.Thread(target=r.browser.login, args=(r.username,)) for r in readers[batch : batch + 4]
                    ]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                missing = [r.username for r in readers if "sessionid" not in r.browser.cookies]
                if missing:
                    raise RuntimeError(f"login failed for {missing}")
                print(f"    {len(readers)} readers logged in ({time.perf_counter() - t0:.1f} s)", flush=True)
                cpu0 = (session_cpu_seconds(server.proc.pid), session_cpu_seconds(worker.proc.pid), os.times())
                other0 = (comm_cpu_seconds("postgres"), comm_cpu_seconds("redis-server"), machine_busy_seconds())
                sampler = WaitSampler(database_url, stop)
                sampler.start()
                summary = drive(readers, args.seconds, stop)
                summary["db_backends_waiting_on"] = sampler.summary()
                cpu1 = (session_cpu_seconds(server.proc.pid), session_cpu_seconds(worker.proc.pid), os.times())
                other1 = (comm_cpu_seconds("postgres"), comm_cpu_seconds("redis-server"), machine_busy_seconds())
                saves = summary["saves_sent_per_s"] * summary["seconds"]
                client = (cpu1[2].user + cpu1[2].system) - (cpu0[2].user + cpu0[2].system)
                summary["cpu_ms_per_save"] = {
                    "gunicorn": round(1000 * (cpu1[0] - cpu0[0]) / saves, 1),
                    "celery worker (during the load)": round(1000 * (cpu1[1] - cpu0[1]) / saves, 1),
                    "load client": round(1000 * client / saves, 1),
                    # every backend of the server, this run's and any other's: exact only on a quiet machine
                    "postgresql": round(1000 * (other1[0] - other0[0]) / saves, 1),
                    "redis": round(1000 * (other1[1] - other0[1]) / saves, 1),
                }
                busy = other1[2] - other0[2]
                summary["machine_cpu_ms_per_save"] = round(1000 * busy / saves, 1)
                summary["cores_busy"] = round(busy / summary["seconds"], 2)
                summary["cores"] = os.cpu_count()
                summary["lost_writes"] = lost_writes(readers)
                summary["scoring_catch_up_s"] = wait_caught_up([r.roi["id"] for r in readers], args.catch_up_timeout)
                from scoring.audit import study_scores_audit

                differences = study_scores_audit(study_id=study.pk, pixels=False).differences
                summary["scores_exact"] = not differences
                summary["score_differences"] = [str(d) for d in differences[:5]]
            finally:
                server.stop()
            load = "" if active == args.readers else f", {active} readers moving"
            results["runs"][f"{name} saves, {workers} workers{load}"] = summary
            print_run(f"{name}: PUT /api/reads/<r>/rois/<id>/, gunicorn --workers {workers}{load}", summary)
            if summary["p95_ms"] >= TARGET_P95_MS or summary["lost_writes"]:
                print(f"    target missed (p95 < {TARGET_P95_MS:.0f} ms, 0 lost)")
    finally:
        worker.stop()
        C.drop_queue(queue, BROKER_URL)
    if args.cprofile:
        username, (read_id, roi) = next(iter(rois.items()))
        roi = {**roi, "version": Roi.objects.get(pk=roi["id"]).version}
        top = profile_saves(username, read_id, roi, args.cprofile)
        results["profile"] = top
        title = f"cProfile of {args.cprofile} saves in-process (Django test client, no HTTP server)"
        C.print_profile(top["cumulative"], title + ", by cumulative time")
        C.print_profile(top["own"], title + ", by own time")
    results["load_after"] = os.getloadavg()
    print(f"Load average before {load_start[0]:.2f}, after {results['load_after'][0]:.2f}")
    print(f"Wrote {C.write_json('concurrency', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
