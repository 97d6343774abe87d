"""An import's forked worker processes do not outlive an importing process that is killed (#22): they hold the
identified headers of the files they inspected. Found by tests/integration/test_import_kill.py, after which the
SIGKILLed Celery worker's import helper was still running minutes later, its parent gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
from studies.services.import_workers import FileWorkers
with FileWorkers(2, b"secret", lambda name, data: name) as workers:
    print(" ".join(str(p.pid) for p in workers.procs), flush=True)
    time.sleep(120)
"""


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an exited child nobody has reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_the_worker_processes_exit_when_the_importing_process_is_killed():
    importer = subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(root=str(ROOT))], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    helpers = []
    try:
        helpers = [int(p) for p in importer.stdout.readline().split()]
        assert len(helpers) == 2 and all(_running(p) for p in helpers)
        importer.send_signal(signal.SIGKILL)
        importer.wait(10)
        deadline = time.monotonic() + 10
        while any(_running(p) for p in helpers) and time.monotonic() < deadline:
            time.sleep(0.1)
        gone = time.monotonic() - (deadline - 10)
        assert not any(_running(p) for p in helpers), "an import worker outlived the killed importer"
        assert gone < 5  # they check their parent once a second while idle
    finally:
        for pid in helpers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        if importer.poll() is None:
            importer.kill()
