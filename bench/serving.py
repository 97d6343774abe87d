"""Pixel serving beside Orthanc: requests/s and p50/p99 latency for the same DICOM files, same client, same run.

    python bench/serving.py                    # SQLite, 8 connections, 2 rounds of 8 s per server
    python bench/serving.py --postgres         # a scratch PostgreSQL database (as deployed)
    python bench/serving.py --checked          # + the per-request checked URL /dicom/instances/<id>/file
    python bench/serving.py --cprofile         # + where a granted request's time goes in a gunicorn worker

Builds a study of phantom series (``bench/_common.py``: ``--subjects`` × 13 slices, imported by the app:
de-identified files under MEDIA_ROOT), a reader with a read of each case and a login session. Then serves them:

  - **gunicorn**: the deployment's command from ``docker-compose.yml`` (``--preload --workers 3``), on a free
    loopback port; the viewer's links (pixel grants, from ``/dicom/series/<id>/`` with the session cookie),
    the file sent by Django (FileResponse → gunicorn's sendfile);
  - **nginx → gunicorn**: ``deploy/nginx.conf`` in front (``deploy/nginx_local.py``), the file sent by nginx
    through X-Accel-Redirect after Django checked the grant;
  - **nginx secure_link**: the same nginx and gunicorn with the pixel-link secret (``VBQ_PIXEL_LINK_SECRET``, as
    docker-compose runs them): the viewer's links from ``/dicom/series/<id>/`` are pixel links
    (``studies/pixel_links.py``) that nginx checks and sends itself — no request reaches gunicorn;
  - **Orthanc** (the Debian ``/usr/sbin/Orthanc``): private config and storage, HTTP on a free loopback port,
    DICOM off, HTTP basic authentication on (as a viewer would reach it); the same stored files uploaded, fetched
    at ``/instances/<id>/file``.

The client (:func:`load`) is the same for all: asyncio, ``--connections`` HTTP/1.1 keep-alive connections (a new
one when the server closes: gunicorn's sync workers close after each answer), each fetching the series' files in
turn for ``--seconds`` after a 1 s warm-up; every answer is checked (200, the file's length). It runs on the same
2 cores as the servers, so it takes its share of the CPU from each of them.

Target (issue #20): ≥ 1.0× Orthanc's requests/s with p99 ≤ Orthanc's. Writes bench/results/serving.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import shlex
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C

ORTHANC = "/usr/sbin/Orthanc"


# ------------------------------------------------------------------------------------------------ the client


async def _fetch_loop(port: int, targets: list[tuple[str, int]], headers: str, deadline: float, out: dict) -> None:
    reader = writer = None
    i = secrets.randbelow(len(targets))
    while time.perf_counter() < deadline:
        path, size = targets[i % len(targets)]
        i += 1
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.perf_counter()
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode("latin-1"))
        status_line = await reader.readline()
        length, close, chunked = None, False, False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.lower() == "close"
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
        if chunked:
            body = 0
            while (n := int((await reader.readline()).split(b";")[0], 16)) > 0:
                body += len(await reader.readexactly(n + 2)) - 2
            await reader.readline()
        elif length is not None:
            body = len(await reader.readexactly(length))
        else:
            body, close = len(await reader.read()), True
        elapsed = time.perf_counter() - started
        status = int(status_line.split()[1]) if status_line else 0
        if status == 200 and body == size:
            out["latencies"].append(elapsed)
        else:
            out["errors"] += 1
            out.setdefault("first_error", f"{path}: {status_line!r} body {body} bytes, expected {size}")
        if close:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


def tree_cpu_seconds(roots: list[int]) -> float:
    """User + system CPU seconds of the processes ``roots`` and all their descendants (from /proc)."""
    parent, times = {}, {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    wanted, total = set(roots), 0.0
    changed = True
    while changed:
        grown = {pid for pid, ppid in parent.items() if ppid in wanted} - wanted
        changed = bool(grown)
        wanted |= grown
    for pid in wanted:
        total += times.get(pid, 0.0)
    return total


def load(
    port: int,
    targets: list[tuple[str, int]],
    *,
    headers: dict,
    connections: int,
    seconds: float,
    server_pids: list[int] = (),
) -> dict:
    """``connections`` keep-alive clients fetching ``targets`` (path, expected size) round-robin for ``seconds``;
    with ``server_pids``, also the server's CPU time per request (its processes and their children)."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())

    async def run(duration: float) -> dict:
        out = {"latencies": [], "errors": 0}
        deadline = time.perf_counter() + duration
        await asyncio.gather(*(_fetch_loop(port, targets, head, deadline, out) for _ in range(connections)))
        return out

    asyncio.run(run(1.0))  # warm-up: connections, caches, each gunicorn worker's first request
    server0 = tree_cpu_seconds(list(server_pids)) if server_pids else 0.0
    cpu0, t0 = time.process_time(), time.perf_counter()
    out = asyncio.run(run(seconds))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    server_cpu = tree_cpu_seconds(list(server_pids)) - server0 if server_pids else None
    lat = sorted(out["latencies"])
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [lat[0] if lat else 0.0] * 99
    return {
        "requests": len(lat),
        "errors": out["errors"],
        "first_error": out.get("first_error"),
        "rps": len(lat) / wall,
        "p50_ms": 1000 * q[49],
        "p99_ms": 1000 * q[98],
        "client_cpu_share": cpu / wall,
        "client_cpu_us_per_request": 1e6 * cpu / max(1, len(lat)),
        "server_cpu_us_per_request": 1e6 * server_cpu / max(1, len(lat)) if server_cpu is not None else None,
    }


# ------------------------------------------------------------------------------------------------ the servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}); see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout:.0f} s; see {log}")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def gunicorn_command(port: int) -> list[str]:
    """The web service's command in docker-compose.yml, bound to a loopback port."""
    import yaml

    command = yaml.safe_load((C.ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"]
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    assert argv[0] == "gunicorn", argv
    return [sys.executable, "-m", "gunicorn", *[f"127.0.0.1:{port}" if a == "0.0.0.0:8000" else a for a in argv[1:]]]


def start_gunicorn(env: dict, tmp: Path, *, accel: bool, link_secret: str = "") -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = tmp / f"gunicorn-{port}.log"
    extra = {"ALLOWED_HOSTS": "127.0.0.1,localhost", "DEBUG": "0", "VBQ_PIXEL_LINK_SECRET": link_secret}
    if accel:
        extra |= {"VBQ_PIXEL_ACCEL_REDIRECT": "/_media/", "BEHIND_PROXY": "true"}
    proc = subprocess.Popen(
        gunicorn_command(port),
        cwd=C.ROOT,
        env=os.environ | env | extra,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_listening(port, proc, log)
    return proc, port


def start_orthanc(tmp: Path, password: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    folder = tmp / "orthanc"
    folder.mkdir()
    config = {
        "Name": "vbq-bench",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "DicomPort": free_port(),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {"bench": password},
        "StorageCompression": False,
        "HttpCompressionEnabled": False,
        "KeepAlive": True,
        "Plugins": [],
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = folder / "orthanc.log"
    proc = subprocess.Popen(
        [ORTHANC, str(folder / "orthanc.json")],
        cwd=folder,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_listening(port, proc, log)
    return proc, port


def orthanc_upload(port: int, auth: str, files: list[Path]) -> list[tuple[str, int]]:
    targets = []
    for path in files:
        data = path.read_bytes()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/instances",
            data=data,
            headers={"Authorization": auth, "Content-Type": "application/dicom"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            targets.append((f"/instances/{json.load(response)['ID']}/file", len(data)))
    return targets


# ------------------------------------------------------------------------------------------------ the study


def build_study(tmp: Path, subjects: int):
    """Phantom series imported into a study; a reader with a read of each case; the reader's session cookie."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from studies.models import Case, Membership, Read, Series
    from studies.services.dicom_import import dicom_import_run
    from studies.services.membership import study_create

    source = tmp / "phantoms"
    C.make_phantoms(C.phantom_subjects(subjects, "SRV"), source)
    users = get_user_model().objects
    pi = users.create_user("bench-pi", password=secrets.token_urlsafe(12))
    reader = users.create_user("bench-reader", password=secrets.token_urlsafe(12))
    study = study_create(name="Serving bench", created_by=pi)
    Membership.objects.create(study=study, user=reader, role=Membership.Role.READER)
    dicom_import_run(study=study, source=source)
    for case in Case.objects.filter(study=study):
        Read.objects.create(study=study, case=case, reader=reader, read_number=1)
    client = Client()
    client.force_login(reader)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return list(Series.objects.filter(case__study=study).order_by("pk")), cookie


def granted_targets(port: int, series: list, cookie: str) -> list[tuple[str, int]]:
    """The viewer's links, as the viewer gets them: /dicom/series/<id>/ with the reader's session."""
    from studies.models import Instance

    targets = []
    for s in series:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/dicom/series/{s.pk}/", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=30) as response:
            for item in json.load(response)["instances"]:
                targets.append((item["url"], Instance.objects.get(pk=item["id"]).size))
    return targets


def profile_gunicorn(env: dict, tmp: Path, targets: list, headers: dict, seconds: float) -> list[dict]:
    """The deployment's gunicorn with one worker and one request thread, each request under cProfile
    (bench/_gunicorn_profile.py), loaded by the same client: where a granted request's time goes in the worker."""
    import pstats

    folder = tmp / "profile"
    folder.mkdir()
    port = free_port()
    log = tmp / "gunicorn-profile.log"
    argv = gunicorn_command(port)
    for flag, value in (("--workers", "1"), ("--threads", "1")):
        argv[argv.index(flag) + 1] = value
    argv += ["-c", str(Path(__file__).resolve().parent / "_gunicorn_profile.py")]
    proc = subprocess.Popen(
        argv,
        cwd=C.ROOT,
        env=os.environ | env | {"ALLOWED_HOSTS": "127.0.0.1", "VBQ_BENCH_PROFILE_DIR": str(folder)},
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_listening(port, proc, log)
        r = load(port, targets, headers=headers, connections=2, seconds=seconds)
    finally:
        stop(proc)
    (prof,) = folder.glob("*.prof")
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in pstats.Stats(str(prof)).stats.values())
    print(
        f"  profiled worker (1 worker, 1 thread, under cProfile): {r['rps']:.0f} req/s; "
        f"{1e6 * total / max(1, r['requests']):.0f} µs of request-thread CPU per request (profiler included)"
    )
    return C.profile_top(str(prof), n=25, sort="tottime")


# ------------------------------------------------------------------------------------------------ main


def run(args, tmp: Path, database_url: str | None) -> int:
    env = C.setup_django(tmp / "var", database_url=database_url, broker_url=None, queue=None)
    from deploy.nginx_local import NGINX, LocalNginx

    started = time.perf_counter()
    series, cookie = build_study(tmp, args.subjects)
    from django.conf import settings

    from studies.models import Instance

    instances = list(Instance.objects.filter(series__in=series).order_by("pk"))
    files = [Path(i.file.path) for i in instances]
    sizes = sorted(i.size for i in instances)
    print(
        f"{len(files)} instances ({len(series)} series), {sizes[len(sizes) // 2] / 1000:.0f} kB median; "
        f"database: {C.database_label()}; set up in {time.perf_counter() - started:.0f} s"
    )
    password = secrets.token_urlsafe(16)
    orthanc_auth = "Basic " + base64.b64encode(f"bench:{password}".encode()).decode()
    procs: list[subprocess.Popen] = []
    results: dict[str, list[dict]] = {}
    try:
        gunicorn, g_port = start_gunicorn(env, tmp, accel=False)
        procs.append(gunicorn)
        # behind nginx, as compose runs it: grants answered with X-Accel-Redirect, pixel links issued
        link_secret = secrets.token_urlsafe(32)
        accel, a_port = start_gunicorn(env, tmp, accel=True, link_secret=link_secret)
        procs.append(accel)
        granted = granted_targets(g_port, series, cookie)
        servers: dict[str, tuple[int, list, dict, list[int]]] = {
            "gunicorn (sendfile)": (g_port, granted, {"Cookie": cookie}, [gunicorn.pid])
        }
        nginx_cm = None
        if NGINX:
            nginx_cm = LocalNginx(
                upstream=f"127.0.0.1:{a_port}",
                media_root=Path(settings.MEDIA_ROOT),
                workdir=tmp / "nginx",
                workers=args.nginx_workers or os.cpu_count() or 1,  # the nginx image's "worker_processes auto"
                link_secret=link_secret,
                grant_minutes=settings.PIXEL_GRANT_SECONDS // 60,
            ).__enter__()
            servers["nginx → gunicorn (X-Accel-Redirect)"] = (
                nginx_cm.port,
                granted,
                {"Cookie": cookie},
                [nginx_cm.proc.pid, accel.pid],
            )
            linked = granted_targets(nginx_cm.port, series, cookie)
            assert all(path.startswith("/dicom/s/") for path, _size in linked), linked[:1]
            servers["nginx secure_link (no Python)"] = (
                nginx_cm.port,
                linked,
                {"Cookie": cookie},
                [nginx_cm.proc.pid, accel.pid],
            )
        else:
            print("nginx not installed: the deployment's nginx front is not measured (apt-get install nginx)")
        if args.checked:
            checked = [(f"/dicom/instances/{i.pk}/file", i.size) for i in instances]
            servers["gunicorn, checked per request"] = (g_port, checked, {"Cookie": cookie}, [gunicorn.pid])
        if Path(ORTHANC).exists():
            orthanc, o_port = start_orthanc(tmp, password)
            procs.append(orthanc)
            servers["Orthanc"] = (
                o_port,
                orthanc_upload(o_port, orthanc_auth, files),
                {"Authorization": orthanc_auth},
                [orthanc.pid],
            )
        else:
            print(f"{ORTHANC} not found (apt-get install orthanc): no peer in this run")
        print(f"client: {args.connections} keep-alive connections, {args.seconds:g} s per server per round")
        for round_ in range(1, args.rounds + 1):
            for name, (port, targets, headers, pids) in servers.items():
                r = load(
                    port, targets, headers=headers, connections=args.connections, seconds=args.seconds, server_pids=pids
                )
                results.setdefault(name, []).append(r)
                print(
                    f"  round {round_}  {name:38s} {r['rps']:7.0f} req/s  p50 {r['p50_ms']:6.1f} ms  "
                    f"p99 {r['p99_ms']:6.1f} ms  errors {r['errors']}  CPU per request: server "
                    f"{r['server_cpu_us_per_request']:.0f} µs, client {r['client_cpu_us_per_request']:.0f} µs"
                )
                if r["errors"]:
                    print(f"    first error: {r['first_error']}")
        if args.cprofile:
            rows = profile_gunicorn(env, tmp, granted, {"Cookie": cookie}, args.seconds)
            C.print_profile(rows, "granted requests in a gunicorn worker, top by own time")
            results["profile"] = rows
    finally:
        if NGINX and "nginx_cm" in locals() and nginx_cm is not None:
            nginx_cm.__exit__(None, None, None)
        for proc in procs:
            stop(proc)

    def best(name: str) -> dict:  # the round with the most requests/s (the machine is shared and noisy)
        return max(results[name], key=lambda r: r["rps"])

    summary = {name: best(name) for name in servers}
    print("\nbest round of each:")
    peer = summary.get("Orthanc")
    for name, r in summary.items():
        ratio = f"  {r['rps'] / peer['rps']:.2f}× Orthanc's req/s" if peer and name != "Orthanc" else ""
        print(
            f"  {name:38s} {r['rps']:7.0f} req/s  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
            f"server CPU {r['server_cpu_us_per_request']:.0f} µs/request{ratio}"
        )
    if peer:
        print("ratio to Orthanc in the same round (median of rounds; the machine is shared, rounds differ):")
        for name in servers:
            if name != "Orthanc":
                pairs = zip(results[name], results["Orthanc"], strict=True)
                ratios = [r["rps"] / o["rps"] for r, o in pairs]
                each = ", ".join(f"{x:.2f}" for x in ratios)
                print(f"  {name:38s} {statistics.median(ratios):.2f}×  (rounds: {each})")
        print("median of rounds (p99 on a shared machine is mostly scheduling stalls: compared round by round):")
        for name in servers:
            rs = results[name]
            below = sum(r["p99_ms"] <= o["p99_ms"] for r, o in zip(rs, results["Orthanc"], strict=True))
            print(
                f"  {name:38s} {statistics.median(r['rps'] for r in rs):7.0f} req/s  "
                f"p50 {statistics.median(r['p50_ms'] for r in rs):6.1f} ms  "
                f"p99 {statistics.median(r['p99_ms'] for r in rs):6.1f} ms"
                + (f"  p99 ≤ Orthanc's in {below}/{len(rs)} rounds" if name != "Orthanc" else "")
            )
    if peer:
        for name, r in summary.items():
            if name != "Orthanc":
                met = r["rps"] >= peer["rps"] and r["p99_ms"] <= peer["p99_ms"]
                print(f"  target (≥ 1.0× req/s, p99 ≤ Orthanc's) {name}: {'met' if met else 'NOT met'}")
    path = C.write_json(
        "serving",
        {
            "instances": len(files),
            "median_size": sizes[len(sizes) // 2],
            "database": C.database_label(),
            "connections": args.connections,
            "seconds": args.seconds,
            "rounds": results,
            "best": summary,
            "machine": C.machine(),
        },
    )
    print(f"results: {path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=2, help="phantom series of 13 slices (default 2)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database (default SQLite)")
    parser.add_argument("--checked", action="store_true", help="also the per-request checked instance URL")
    parser.add_argument("--cprofile", action="store_true", help="profile granted requests in-process")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--nginx-workers", type=int, default=0, help="nginx worker processes (default: one per CPU, as the image)"
    )
    args = parser.parse_args()
    if args.postgres and not C.postgres_available():
        print("PostgreSQL is not reachable at", C.POSTGRES_ADMIN_URL)
        return 1
    return C.run_in_scratch("serving", lambda tmp, url: run(args, tmp, url), postgres=args.postgres, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
