"""docker-compose.yml as written, run as separate processes on this machine (no Docker engine here).

The web (gunicorn), worker and beat commands and environments are read from ``docker-compose.yml`` (and the
image's ``ENV`` from the ``Dockerfile``); each process runs in a mount namespace of its own that looks like its
container: a private ``/var/lib/vbq`` (its VBQ_VAR_DIR) and temporary folder (``TMPDIR``), and only the compose volume
``/var/lib/vbq/media`` in common. They share PostgreSQL (a database created and dropped here) and Redis (a
database number of its own). Then, over HTTP, as a user would: the first admin (``createsuperuser``), a zip
uploaded through the API with a token, the reading plan, a reader's ROIs, the scores, the snapshot export.

Needs PostgreSQL (the processes share the database): skipped on the SQLite run; on the PostgreSQL run it fails
instead of skipping when Redis, PostgreSQL or mount namespaces are missing in CI (``VBQ_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import io
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from django.conf import settings

from tests.conftest import skip_or_fail

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("VBQ_DEPLOY_REDIS_URL", "redis://127.0.0.1:6379/13")
SERVICES = ("web", "worker", "beat")
PASSWORD = "deploy-test-" + secrets.token_urlsafe(12)


# ----------------------------------------------------------------------------------------------------------------
# compose file → commands and environments
# ----------------------------------------------------------------------------------------------------------------


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} from the .env values."""

    def sub(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        got = env.get(name, "")
        if op == ":?" and not got:
            raise AssertionError(f"compose would refuse to start: {arg}")
        return got or (arg if op == ":-" else "")

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", sub, str(value))


def _image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("ENV "):
            env |= dict(item.split("=", 1) for item in shlex.split(line[4:]))
    return env


def compose_services(dotenv: dict[str, str]) -> dict[str, dict]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    out = {}
    for name in ("migrate", *SERVICES):
        svc = compose["services"][name]
        environment = {k: _interpolate(v, dotenv) for k, v in (svc.get("environment") or {}).items()}
        volumes = [v.split(":") for v in svc.get("volumes", [])]
        out[name] = {
            "command": shlex.split(svc["command"]) if isinstance(svc["command"], str) else list(svc["command"]),
            # the image's ENV, then env_file (.env), then environment: as compose layers them
            "env": _image_env() | (dotenv if svc.get("env_file") else {}) | environment,
            "mounts": [(volume, target) for volume, target in volumes if not volume.startswith(("/", "."))],
            "healthcheck": svc.get("healthcheck", {}).get("test"),
        }
    return out


# ----------------------------------------------------------------------------------------------------------------
# processes, each in its own "container" (mount namespace)
# ----------------------------------------------------------------------------------------------------------------


def _exe(argv: list[str]) -> list[str]:
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    if argv[0] in ("celery", "gunicorn"):
        return [sys.executable, "-m", argv[0], *argv[1:]]
    return argv


def _container_argv(argv: list[str], private: Path, volumes: dict[str, Path], mounts) -> list[str]:
    """Run ``argv`` with /var/lib/vbq private and the compose volumes bind-mounted at their targets.

    The container's own temporary folder is ``private/tmp`` through ``TMPDIR`` (every temporary file of the
    application goes through :mod:`tempfile`), not a mount over /tmp: the checkout and its virtualenv may
    themselves live under /tmp (CI clones there), and covering /tmp would hide them.
    """
    steps = ["set -e"]
    for target in ("/var/lib/vbq", "/tmp"):
        (private / target.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for volume, target in mounts:
        steps.append(f"mkdir -p {target} && mount --bind {volumes[volume]} {target}")
    steps.insert(1, f"mount --bind {private / 'var/lib/vbq'} /var/lib/vbq")
    steps.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "; ".join(steps), "sh", *argv]


class Container:
    def __init__(self, name: str, spec: dict, workdir: Path, volumes: dict[str, Path], overrides: dict) -> None:
        self.name, self.spec, self.volumes = name, spec, volumes
        self.private = workdir / name
        self.private.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{name}.log"
        self.env = (
            {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.private), "LANG": "C.UTF-8"}
            | spec["env"]
            | {"PYTHONPATH": str(ROOT), "HOSTNAME": socket.gethostname()}  # as $HOSTNAME in a container
            | {"TMPDIR": str(self.private / "tmp")}  # its private /tmp (see _container_argv)
            | overrides
        )
        self.proc: subprocess.Popen | None = None

    def argv(self, argv: list[str]) -> list[str]:
        return _container_argv(_exe(argv), self.private, self.volumes, self.spec["mounts"])

    def run(self, argv: list[str], timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.argv(argv),
            env=self.env | env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
        )

    def start(self, argv: list[str] | None = None) -> Container:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv(argv or self.spec["command"]),
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends the gunicorn / celery children too
        )
        log.close()
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""


# ----------------------------------------------------------------------------------------------------------------
# services: PostgreSQL database, Redis database
# ----------------------------------------------------------------------------------------------------------------


def _pg_params() -> dict:
    db = settings.DATABASES["default"]
    return {
        "host": db.get("HOST") or "127.0.0.1",
        "port": int(db.get("PORT") or 5432),
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or "",
    }


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **_pg_params()) as conn:
        conn.execute(sql)


def _pg_url(name: str) -> str:
    p = _pg_params()
    password = f":{p['password']}" if p["password"] else ""
    return f"postgres://{p['user']}{password}@{p['host']}:{p['port']}/{name}"


def _pg_query(name: str, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(dbname=name, connect_timeout=5, **_pg_params()) as conn:
        return conn.execute(sql).fetchall()


def _redis():
    import redis

    return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------------------------
# HTTP helpers
# ----------------------------------------------------------------------------------------------------------------


def wait_for(predicate, timeout: float, what, interval: float = 0.5):
    """``predicate()`` once truthy; ``what`` (a string or a callable giving one, e.g. a log tail) on time-out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what() if callable(what) else what}")


def _session_login(base: str, username: str):
    import requests

    s = requests.Session()
    s.get(f"{base}/login/", timeout=10)
    r = s.post(
        f"{base}/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": s.cookies["csrftoken"]},
        headers={"Referer": f"{base}/login/"},
        timeout=10,
    )
    assert r.ok and "/login/" not in r.url, (username, r.status_code, r.text[:300])
    return s


def _token(base: str, username: str) -> dict[str, str]:
    import requests

    r = requests.post(f"{base}/api/token/", data={"username": username, "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Token {r.json()['token']}"}


def _phantom_zip() -> tuple[bytes, object]:
    """One synthetic subject's sagittal T1 series as a zip, and its geometry (where the ROIs go)."""
    import tempfile

    from studies.demo import phantom

    subject = next(s for s in phantom.demo_cohort() if s.cohort == "VBQ")
    with tempfile.TemporaryDirectory() as folder:
        geometry = phantom.make_phantom_series(subject, out_dir=Path(folder) / "DICOM", rng_seed=3)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in geometry.files:
                zf.write(path, f"export/{path.name}")
    return buf.getvalue(), geometry


# ----------------------------------------------------------------------------------------------------------------
# the test
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture
def deployment(tmp_path):
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("the deployment test needs PostgreSQL: web, worker and beat share the database")
    try:
        _redis().ping()
    except Exception as exc:
        skip_or_fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
    if shutil.which("unshare") is None or subprocess.run(["unshare", "--mount", "true"]).returncode != 0:
        skip_or_fail("mount namespaces (unshare --mount, as root) are needed to give each process its own files")
    dbname = f"vbq_deploy_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        _pg_admin(f'CREATE DATABASE "{dbname}"')
    except Exception as exc:
        skip_or_fail(f"cannot create a PostgreSQL database: {exc}")
    Path("/var/lib/vbq").mkdir(parents=True, exist_ok=True)  # the mount point of each container's private dir
    _redis().flushdb()
    dotenv = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEID_SECRET": secrets.token_urlsafe(50),
        "VBQ_MAPPING_KEY": Fernet.generate_key().decode(),
        "VBQ_PIXEL_LINK_SECRET": secrets.token_urlsafe(32),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    specs = compose_services(dotenv)
    volumes = {"media": tmp_path / "volume-media"}
    volumes["media"].mkdir()
    port = _free_port()
    # Only what points at this machine instead of compose's service names changes; paths stay as written.
    overrides = {
        "DATABASE_URL": _pg_url(dbname),
        "CELERY_BROKER_URL": REDIS_URL,
        "STATIC_ROOT": "/var/lib/vbq/static",  # the image collects static files at build time
        "LOG_LEVEL": "INFO",
    }
    for spec in specs.values():  # compose's redis service (broker, cache) → this machine's, one database number
        for key, value in spec["env"].items():
            if value.startswith("redis://redis:"):
                overrides[key] = REDIS_URL
            assert "@db:" not in value or key == "DATABASE_URL", (key, value)
    containers = {name: Container(name, specs[name], tmp_path, volumes, overrides) for name in specs}
    web_cmd = [f"127.0.0.1:{port}" if a == "0.0.0.0:8000" else a for a in specs["web"]["command"]]
    try:
        yield type(
            "Deployment",
            (),
            {"containers": containers, "web_cmd": web_cmd, "base": f"http://127.0.0.1:{port}", "db": dbname},
        )
    finally:
        for c in containers.values():
            c.stop()
        for c in containers.values():
            if c.log_path.exists():
                print(f"--- {c.name} log (tail) ---\n{c.log_tail()}")
        try:
            _pg_admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        finally:
            _redis().flushdb()


def test_compose_services_as_separate_processes_import_score_and_export(deployment):
    import requests

    c = deployment.containers
    base = deployment.base

    # The one-shot migrate service, then the documented first-admin step.
    migrated = c["migrate"].run(c["migrate"].spec["command"], timeout=180)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    admin = c["web"].run(
        ["python", "manage.py", "createsuperuser", "--noinput", "--username", "admin", "--email", "a@example.org"],
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    assert admin.returncode == 0, admin.stderr[-3000:]

    c["web"].start(deployment.web_cmd)
    c["worker"].start()
    c["beat"].start()
    health = wait_for(
        lambda: _get_ok(f"{base}/healthz"), timeout=60, what=lambda: f"web /healthz\n{c['web'].log_tail()}"
    ).json()
    assert health["database"]["vendor"] == "postgresql" and health["broker"]["mode"] == "redis"

    # The admin makes a PI (allowed to create studies) and a reader — as in /admin/, here through the shell.
    made = c["web"].run(
        [
            "python",
            "manage.py",
            "shell",
            "-c",
            "from django.contrib.auth.models import Permission, User\n"
            f"pi = User.objects.create_user('pi', 'pi@example.org', {PASSWORD!r})\n"
            "pi.user_permissions.add(*Permission.objects.filter(content_type__app_label='studies', "
            "codename='add_study'))\n"
            f"User.objects.create_user('reader', 'r@example.org', {PASSWORD!r})\n",
        ]
    )
    assert made.returncode == 0, made.stderr[-3000:]

    pi, reader = _token(base, "pi"), _token(base, "reader")
    study = requests.post(
        f"{base}/api/studies/",
        json={"name": "Deployment", "measure_vbq": True, "measure_snr": True, "reads_per_reader": 1},
        headers=pi,
        timeout=10,
    )
    assert study.status_code == 201, study.text
    study_id = study.json()["id"]

    # Upload through the API (token auth): the web stores it, a worker in another "container" imports it.
    content, geometry = _phantom_zip()
    job = requests.post(
        f"{base}/api/imports/?study={study_id}", files={"file": ("export.zip", content)}, headers=pi, timeout=60
    )
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    source = _pg_query(deployment.db, f"SELECT source FROM studies_importjob WHERE id = {int(job_id)}")[0][0]
    assert source.startswith("/var/lib/vbq/media/"), f"the upload was stored outside the shared volume: {source}"

    def job_done():
        body = requests.get(f"{base}/api/imports/{job_id}/", headers=pi, timeout=10).json()
        return body if body["status"] in ("done", "failed") else None

    done = wait_for(job_done, timeout=90, what=lambda: f"the import job\n{c['worker'].log_tail()}")
    assert done["status"] == "done", (done["error"], c["worker"].log_tail())
    assert done["accepted"] == len(geometry.files) and done["rejected"] == 0, done["report"]
    assert not list((deployment.containers["web"].volumes["media"] / "uploads").glob("*")), "upload left behind"

    members = requests.post(
        f"{base}/api/studies/{study_id}/members/",
        json={"identifier": "reader", "role": "reader"},
        headers=pi,
        timeout=10,
    )
    assert members.status_code in (200, 201), members.text
    plan = requests.post(f"{base}/api/studies/{study_id}/plan/", headers=pi, timeout=30)
    assert plan.status_code == 200, plan.text

    # The reader: the read, the slice the phantom's vertebrae are drawn on, six ROIs, submit.
    reads = requests.get(f"{base}/api/reads/", headers=reader, timeout=10).json()
    assert len(reads) == 1, reads
    read = reads[0]
    cases = requests.get(f"{base}/api/studies/{study_id}/cases/", headers=pi, timeout=10).json()
    series_id = next(case["primary_series"] for case in cases if case["id"] == read["case"])
    reader_session = _session_login(base, "reader")
    series = reader_session.get(f"{base}/dicom/series/{series_id}/", timeout=10).json()
    instances = sorted(series["instances"], key=lambda i: i["slice_position"])
    sop = instances[geometry.mid_slice_index]["sop"]
    from studies.demo import simulate

    for payload in simulate.simulated_rois(geometry, reader="reader2", read_number=1):
        saved = requests.post(
            f"{base}/api/reads/{read['id']}/rois/", json=payload | {"sop_instance_uid": sop}, headers=reader, timeout=10
        )
        assert saved.status_code == 201, saved.text
    submitted = requests.post(f"{base}/api/reads/{read['id']}/submit/", headers=reader, timeout=30)
    assert submitted.status_code == 200, submitted.text

    # Scores: computed by the worker from the pixels in the shared volume.
    def scored():
        rows = requests.get(f"{base}/api/reads/?study={study_id}", headers=pi, timeout=10).json()
        score = rows[0].get("score") or {}
        return score if score.get("vbq") is not None else None

    score = wait_for(scored, timeout=60, what=lambda: f"the read's VBQ\n{c['worker'].log_tail()}")
    assert 0.5 < score["vbq"] < 10, score
    scores_csv = requests.get(f"{base}/api/analytics/studies/{study_id}/exports/scores.csv", headers=pi, timeout=30)
    assert scores_csv.status_code == 200 and "vbq" in scores_csv.text.splitlines()[0], scores_csv.text[:300]

    # The snapshot export (built by a job on the worker, stored on the shared volume, served by the web).
    pi_session = _session_login(base, "pi")
    snapshot_url = f"{base}/studies/{study_id}/analytics/exports/snapshot.zip"

    def snapshot():
        r = pi_session.get(snapshot_url, allow_redirects=False, timeout=30)
        return r if r.status_code == 200 else None

    zipped = wait_for(snapshot, timeout=60, what=lambda: f"the snapshot\n{c['worker'].log_tail()}", interval=1)
    assert zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()

    # Beat sends the heartbeat job every 30 s and the worker records it; the compose worker healthcheck passes.
    wait_for(
        lambda: _get_ok(f"{base}/healthz") and _get_ok(f"{base}/healthz").json()["workers"],
        timeout=60,
        what=lambda: f"a worker heartbeat (beat → worker)\n{c['beat'].log_tail()}",
        interval=2,
    )
    check = c["worker"].spec["healthcheck"]
    assert check[0] == "CMD-SHELL"
    ping = c["worker"].run(
        ["sh", "-c", check[1].replace("celery ", f"{sys.executable} -m celery ").replace("$$", "$")], timeout=60
    )
    assert ping.returncode == 0, ping.stdout + ping.stderr
    web_check = c["web"].spec["healthcheck"]  # ["CMD", "python", "-c", ...] against 127.0.0.1:8000 in its container
    port = base.rsplit(":", 1)[1]
    web_ok = c["web"].run([a.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for a in web_check[1:]], timeout=30)
    assert web_ok.returncode == 0, web_ok.stderr
    beat_check = c["beat"].spec["healthcheck"]
    beat_ok = c["beat"].run([sys.executable if a == "python" else a for a in beat_check[1:]], timeout=30)
    assert beat_ok.returncode == 0, beat_ok.stderr


def _get_ok(url: str):
    import requests

    try:
        r = requests.get(url, timeout=5)
    except requests.RequestException:
        return None
    return r if r.status_code == 200 else None
