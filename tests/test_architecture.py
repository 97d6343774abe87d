"""The shape of the code: dependencies point one way, and the pure modules import no Django.

- ``studies`` is the bottom app: no module of it imports ``scoring``, ``analytics`` or ``notifications`` — at
  module level or inside a function, with ``import``/``from … import`` or ``importlib`` — so that the apps above
  react to what it announces (``studies.events``) instead of being called by it.
- Pixel math, DICOM handling, the reading protocol and the statistics are plain functions: importing them in a
  fresh interpreter loads no Django (STYLE.md).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UPPER_APPS = ("scoring", "analytics", "notifications")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def test_studies_imports_nothing_from_the_apps_above_it():
    offenders = []
    for path in sorted((ROOT / "studies").rglob("*.py")):
        for lineno, module in _imported_modules(path):
            if module.split(".")[0] in UPPER_APPS:
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} imports {module}")
    assert offenders == []


def test_the_import_scan_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f():\n    from scoring.services import x\n    import analytics.tasks\n"
        "    importlib.import_module('scoring.tasks')\n"
    )
    assert [m for _, m in _imported_modules(sample)] == ["scoring.services", "analytics.tasks", "scoring.tasks"]


PURE_MODULES = [
    "analytics.stats",
    "analytics.stats_cli",
    "scoring.pixels",
    "scoring.measures",
    "scoring.dicom_sr",
    "studies.protocol",
    "studies.roi_geometry",
    "studies.roi_shapes",
    "studies.demo.phantom",
    "studies.dicom",
    *sorted(f"studies.dicom.{p.stem}" for p in (ROOT / "studies" / "dicom").glob("*.py") if p.stem != "__init__"),
]


def test_the_pure_list_has_the_dicom_engines():
    assert {"studies.dicom.deid", "studies.dicom.deid_profile", "studies.dicom.validate"} <= set(PURE_MODULES)


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_without_django(module):
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "leaked = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not leaked, leaked\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_every_app_source_file_is_at_most_700_lines():
    """Small modules named for what they do (issue #14): migrations and data files aside."""
    long = []
    for app in ("studies", "scoring", "analytics", "vbqsite"):
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            n = len(path.read_text(encoding="utf-8").splitlines())
            if n > 700:
                long.append(f"{path.relative_to(ROOT)}: {n} lines")
    assert long == []
