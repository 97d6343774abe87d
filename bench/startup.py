"""Web start-up: ``manage.py check`` of this project beside a bare ``django-admin startproject`` (same
interpreter, same run), best of N each. ``check`` imports the URLconf and every view module — what each
gunicorn worker (or, with ``--preload``, the master) pays before its first answer.

    python bench/startup.py            # best of 5
    python bench/startup.py --runs 9

Target: this project's check ≤ 2× the bare project's. Also prints which heavy libraries importing the URLconf
loads — the scientific ones, pydicom, numpy and Celery, imported where they compute or queue (issue #20 point 4);
none is the bar, ``tests/studies_tests/test_startup_imports.py`` asserts it with the same list.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, write_json

HEAVY = ("scipy", "matplotlib", "statsmodels", "pandas", "highdicom", "pydicom", "numpy", "celery", "kombu")


def best_of(argv: list[str], cwd: Path, env: dict, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vbq-bench-startup-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "VBQ_VAR_DIR": str(tmp / "var"), "DEBUG": "true", "PYTHONPATH": str(ROOT)}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        django_admin = [sys.executable, "-m", "django"]
        subprocess.run([*django_admin, "startproject", "bare", str(tmp)], check=True, env=env)
        bare = best_of([sys.executable, "manage.py", "check"], tmp, {**env, "PYTHONPATH": str(tmp)}, args.runs)
        ours = best_of([sys.executable, "manage.py", "check"], ROOT, env, args.runs)
        probe = (
            "import json, sys, django; django.setup(); import vbqsite.urls; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
        )
        loaded = (
            subprocess.run(
                [sys.executable, "-c", probe],
                cwd=ROOT,
                env={**env, "DJANGO_SETTINGS_MODULE": "vbqsite.settings"},
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    ratio = ours / bare
    print(
        f"manage.py check, best of {args.runs}: VBQ Reader {ours:.3f} s, bare Django {bare:.3f} s, ratio {ratio:.2f}×"
    )
    print(f"heavy libraries loaded by the URLconf: {', '.join(json.loads(loaded)) or 'none'}")
    print("target: ratio ≤ 2 —", "met" if ratio <= 2 else "NOT met")
    path = write_json(
        "startup",
        {"runs": args.runs, "check_s": ours, "bare_check_s": bare, "ratio": ratio, "heavy_loaded": json.loads(loaded)}
        | {"machine": machine()},
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
