"""A real Celery worker process on the real Redis broker, sharing the test database and media."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import skip_or_fail

REDIS_URL = os.environ.get("VBQ_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[2]
# Celery's default queue on a Redis database of its own (/15), emptied before each test.
QUEUE = "celery"


def _redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except Exception:
        return False


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class Worker:
    """One `celery worker` subprocess; ``kill()`` sends SIGKILL (a crashed machine), ``stop()`` is graceful."""

    def __init__(self, queue: str, media_root: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.queue, self.media_root, self.log_path = queue, media_root, log_path
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> Worker:
        env = (
            os.environ
            | {
                "CELERY_BROKER_URL": REDIS_URL,
                "DATABASE_URL": _database_url(),
                "MEDIA_ROOT": str(self.media_root),
                "VBQ_TEST_QUEUE": self.queue,
                "CELERY_VISIBILITY_TIMEOUT": "5",
                "CELERY_UNACKED_RESTORE_INTERVAL": "1",
                "CELERY_UNACKED_RESTORE_THROTTLE": "1",
                "SCORING_RESCORE_CHUNK": "6",  # one slice per transaction, so a kill lands mid-study
                "PYTHONPATH": str(ROOT),
            }
            | self.env
        )
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "vbqsite",
                "worker",
                "-P",
                "solo",
                "-Q",
                self.queue,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
                "-n",
                f"test-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _forget_pools(app) -> None:
    """Drop the app's cached connection and producer pools so the next send connects to the current URL.

    (Not ``force_close_all``: kombu keeps producer pools in a global registry, and a closed one stays there.)
    """
    app._pool = None
    app.amqp._producer_pool = None


def _queue_exists(conn, queue: str) -> bool:
    try:
        conn.default_channel.queue_declare(queue=queue, passive=True)
        return True
    except Exception:
        return False


@pytest.fixture
def broker(settings, tmp_path):
    """Point this process's Celery app at the real Redis broker (a private queue) instead of in-process."""
    if not _redis_available():
        skip_or_fail(f"Redis is not reachable at {REDIS_URL}")
    from vbqsite.celery import app

    queue = QUEUE
    saved = {k: app.conf[k] for k in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=REDIS_URL, task_always_eager=False)
    _forget_pools(app)
    settings.CELERY_BROKER_URL = REDIS_URL
    with app.connection_for_write() as conn:  # nothing left over from an earlier test
        conn.default_channel.queue_purge(queue) if _queue_exists(conn, queue) else None
    yield queue
    app.conf.update(saved)
    _forget_pools(app)


@pytest.fixture
def worker_factory(broker, settings, tmp_path):
    workers: list[Worker] = []
    log_path = tmp_path / "worker.log"

    def start(**env: str) -> Worker:
        w = Worker(broker, Path(settings.MEDIA_ROOT), log_path, env).start()
        workers.append(w)
        return w

    yield start
    for w in workers:
        w.stop()
    if log_path.exists():
        print(log_path.read_text()[-4000:])


assert settings  # the Django settings are configured before any worker starts
