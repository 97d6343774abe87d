"""Web start-up: importing the URLconf (what each gunicorn worker, or the preloading master, pays before its
first answer) loads none of the heavy scientific libraries — they are imported where they compute or draw.

Asserted on ``sys.modules`` in a fresh interpreter, not on time (the timing is ``bench/startup.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("scipy", "matplotlib", "statsmodels", "pandas", "highdicom")

SCRIPT = f"""
import json, sys
import django
django.setup()
import vbqsite.urls
import vbqsite.wsgi
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def test_importing_the_urlconf_loads_no_scipy_matplotlib_statsmodels_pandas_or_highdicom(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vbqsite.settings",
        "PYTHONPATH": str(ROOT),
        "VBQ_VAR_DIR": str(tmp_path),
        "DEBUG": "true",
    }
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
