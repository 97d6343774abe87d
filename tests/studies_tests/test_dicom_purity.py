"""The DICOM engines are pure: importing any module of ``studies.dicom`` must not import Django."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Every module of the package, found on disk (importing them here would prove nothing: Django is loaded).
_FOUND = sorted(f"studies.dicom.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "studies" / "dicom")]))
MODULES = ["studies.dicom", *_FOUND]


def test_the_package_has_its_modules():
    assert {"studies.dicom.deid", "studies.dicom.deid_profile", "studies.dicom.validate"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_import_does_not_load_django(module):
    code = (
        f"import sys, {module}\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert 'django' not in sys.modules, loaded\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
