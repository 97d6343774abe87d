"""Deployment configuration: the secrets a production start needs, and where uploads go (shared storage)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def _check(tmp_path, **env: str) -> subprocess.CompletedProcess:
    """`manage.py check` in a clean environment (no DEBUG, no inherited development-secrets flag)."""
    base = {"PATH": "/usr/bin:/bin", "VBQ_VAR_DIR": str(tmp_path / "var"), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check"],
        env=base | env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_its_secrets_and_says_how_to_make_them(tmp_path):
    result = _check(tmp_path)
    assert result.returncode != 0
    for name in ("SECRET_KEY", "DEID_SECRET", "VBQ_MAPPING_KEY"):
        assert name in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr and "Fernet.generate_key()" in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()  # nothing generated per machine

    only_deid_missing = _check(tmp_path, SECRET_KEY="k" * 50, VBQ_MAPPING_KEY=Fernet.generate_key().decode())
    assert only_deid_missing.returncode != 0
    assert "DEID_SECRET" in only_deid_missing.stderr and "SECRET_KEY," not in only_deid_missing.stderr

    bad_key = _check(tmp_path, SECRET_KEY="k" * 50, DEID_SECRET="d" * 50, VBQ_MAPPING_KEY="not-a-fernet-key")
    assert bad_key.returncode != 0 and "VBQ_MAPPING_KEY is not a Fernet key" in bad_key.stderr


def test_production_starts_with_its_secrets_and_the_demo_keeps_embedded_defaults(tmp_path):
    ok = _check(tmp_path, SECRET_KEY="k" * 50, DEID_SECRET="d" * 50, VBQ_MAPPING_KEY=Fernet.generate_key().decode())
    assert ok.returncode == 0, ok.stderr
    demo = _check(tmp_path, DEBUG="true")
    assert demo.returncode == 0, demo.stderr
    dev = _check(tmp_path, VBQ_DEV_SECRETS="true")
    assert dev.returncode == 0, dev.stderr


def test_uploads_wait_on_the_storage_workers_share(tmp_path):
    """UPLOAD_ROOT defaults to MEDIA_ROOT/uploads (docker compose mounts MEDIA_ROOT in web and worker), never the
    machine's own VBQ_VAR_DIR; the import views and the import sweep use it."""
    from studies.services.dicom_import import uploads_dir

    assert Path(uploads_dir()) == Path(settings.UPLOAD_ROOT)
    shown = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "shell",
            "-c",
            "from django.conf import settings as s; print(s.UPLOAD_ROOT); print(s.VAR_DIR)",
        ],
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "VBQ_DEV_SECRETS": "true",
            "VBQ_VAR_DIR": str(tmp_path / "private"),
            "MEDIA_ROOT": str(tmp_path / "shared"),
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    upload_root, var_dir = shown.stdout.split()[-2:]
    assert Path(upload_root) == tmp_path / "shared" / "uploads", shown.stderr
    assert not Path(upload_root).is_relative_to(var_dir)
