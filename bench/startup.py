"""Web start-up: ``manage.py check`` of this project beside a bare ``django-admin startproject`` (same
interpreter, same run), best of N each. ``check`` imports the URLconf and every view module — what each
gunicorn worker (or, with ``--preload``, the master) pays before its first answer.

    python bench/startup.py            # best of 5
    python bench/startup.py --runs 9
    python bench/startup.py --source   # bytecode as the checkout and the environment leave it (see below)

Both projects run from bytecode, kept in a private ``PYTHONPYCACHEPREFIX`` of the temporary folder and written by
one untimed run of each: as the image runs (its build compiles the app, ``Dockerfile``), and the same whatever
``__pycache__`` folders the checkout holds (Python ignores them under a prefix). ``--source`` measures as the
environment leaves it instead: with ``PYTHONDONTWRITEBYTECODE=1`` (set on this machine and in the image) and no
compiled app, every run compiles the app's modules from source (~0.1 s) while the bare project's Django comes
compiled from site-packages — and a stray ``__pycache__`` in the checkout changes the figure.

Target: this project's check ≤ 2× the bare project's. A second peer shows what the chosen API stack costs by
itself: the bare project plus DRF and drf-spectacular and one API view. Also prints which heavy libraries
importing the URLconf loads — the scientific ones, pydicom, numpy and Celery, imported where they compute or
queue (issue #20 point 4); none is the bar, ``tests/studies_tests/test_startup_imports.py`` asserts it with the
same list.
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

#: The second peer: the bare project with the API stack this project is built on (DRF and drf-spectacular, as in
#: the stack the project chose) and one API view — what any project on that stack pays before its own code.
API_SETTINGS = """
INSTALLED_APPS += ["rest_framework", "drf_spectacular"]
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
"""
API_URLS = """
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView


class Ping(APIView):
    @extend_schema(summary="ping")
    def get(self, request):
        return Response({"ok": True})


urlpatterns += [path("api/ping/", Ping.as_view())]
"""

HEAVY = ("scipy", "matplotlib", "statsmodels", "pandas", "highdicom", "pydicom", "numpy", "celery", "kombu")


def best_of(argv: list[str], cwd: Path, env: dict, runs: int, *, warm_up: bool) -> float:
    if warm_up:  # writes the bytecode into the private PYTHONPYCACHEPREFIX
        subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--source", action="store_true", help="no private bytecode cache (see the module doc)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vbq-bench-startup-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "VBQ_VAR_DIR": str(tmp / "var"), "DEBUG": "true", "PYTHONPATH": str(ROOT)}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        if not args.source:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        django_admin = [sys.executable, "-m", "django"]
        subprocess.run([*django_admin, "startproject", "bare", str(tmp)], check=True, env=env)
        api = tmp / "api-project"
        api.mkdir()
        subprocess.run([*django_admin, "startproject", "apibare", str(api)], check=True, env=env)
        with open(api / "apibare" / "settings.py", "a") as fh:
            fh.write(API_SETTINGS)
        with open(api / "apibare" / "urls.py", "a") as fh:
            fh.write(API_URLS)
        check = [sys.executable, "manage.py", "check"]
        bare = best_of(check, tmp, {**env, "PYTHONPATH": str(tmp)}, args.runs, warm_up=not args.source)
        bare_api = best_of(check, api, {**env, "PYTHONPATH": str(api)}, args.runs, warm_up=not args.source)
        ours = best_of(check, ROOT, env, args.runs, warm_up=not args.source)
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
        f"manage.py check, best of {args.runs} ({'--source' if args.source else 'from bytecode'}): "
        f"VBQ Reader {ours:.3f} s, bare Django {bare:.3f} s, ratio {ratio:.2f}×"
    )
    print(
        f"  peer on the same API stack (bare + DRF + drf-spectacular, one API view): {bare_api:.3f} s "
        f"({bare_api / bare:.2f}× bare); VBQ Reader is {ours / bare_api:.2f}× that peer"
    )
    print(f"heavy libraries loaded by the URLconf: {', '.join(json.loads(loaded)) or 'none'}")
    print("target: ratio ≤ 2 —", "met" if ratio <= 2 else "NOT met")
    path = write_json(
        "startup",
        {"runs": args.runs, "bytecode": not args.source, "check_s": ours, "bare_check_s": bare, "ratio": ratio}
        | {"bare_api_check_s": bare_api, "ratio_to_api_peer": ours / bare_api}
        | {"heavy_loaded": json.loads(loaded), "machine": machine()},
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
