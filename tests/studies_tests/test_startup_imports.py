"""Web start-up: importing the URLconf (what each gunicorn worker, or the preloading master, pays before its
first answer) loads none of the heavy libraries — they are imported where they compute, draw or queue (issue #20
point 4).

Asserted on ``sys.modules`` in a fresh interpreter, not on time (the timing is ``bench/startup.py``). Celery is
one of them: ``vbqsite/__init__`` does not create the Celery app, the ``tasks`` modules do (and the receivers
import those only when they queue), so the second test checks that every task still binds to the project's app,
both as a web process uses them and as ``celery -A vbqsite worker`` discovers them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Never loaded by importing the URLconf. Keep bench/startup.py's HEAVY in step.
HEAVY = ("scipy", "matplotlib", "statsmodels", "pandas", "highdicom", "pydicom", "numpy", "celery", "kombu")
TASK_MODULES = ("studies.tasks", "scoring.tasks", "analytics.tasks", "notifications.tasks")

SCRIPT = f"""
import json, sys
import django
django.setup()
import vbqsite.urls
import vbqsite.wsgi
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""

# As a web process: Django started without the Celery app, then a task module imported when a job is queued;
# then as the worker: the app `celery -A vbqsite` finds and the task modules its autodiscovery imports.
TASKS_SCRIPT = f"""
import importlib, json, sys
import django
django.setup()
assert "vbqsite.celery" not in sys.modules
from celery.local import Proxy
from celery import current_app
modules = [importlib.import_module(m) for m in {TASK_MODULES!r}]
declared = sorted(v.name for m in modules for v in vars(m).values() if isinstance(v, Proxy))
from vbqsite.celery import app
from celery.app.utils import find_app
import vbqsite
found = find_app("vbqsite")
app.loader.import_default_modules()
registered = sorted(n for n in app.tasks if not n.startswith("celery."))
bound = all(v.app is app for m in modules for v in vars(m).values() if isinstance(v, Proxy))
print(json.dumps({{
    "declared": declared, "registered": registered, "bound": bound,
    "current": current_app._get_current_object() is app, "found": found is app,
    "celery_app": vbqsite.celery_app is app, "eager": app.conf.task_always_eager,
}}))
"""


def _run(script: str, tmp_path) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vbqsite.settings",
        "PYTHONPATH": str(ROOT),
        "VBQ_VAR_DIR": str(tmp_path),
        "DEBUG": "true",
    }
    env.pop("CELERY_BROKER_URL", None)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_importing_the_urlconf_loads_none_of_the_heavy_libraries(tmp_path):
    assert json.loads(_run(SCRIPT, tmp_path)) == []


def test_every_task_binds_to_the_project_celery_app_without_vbqsite_creating_it(tmp_path):
    result = json.loads(_run(TASKS_SCRIPT, tmp_path))
    assert len(result["declared"]) >= 15, result["declared"]  # 15 tasks when this test was written
    assert result["registered"] == result["declared"]
    assert result["bound"] and result["current"] and result["found"] and result["celery_app"]
    assert result["eager"] is True  # the project's settings (no broker: in-process), not Celery's defaults
