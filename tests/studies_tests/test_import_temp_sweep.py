"""Temporary folders of stopped imports (#22 point 3): removed once untouched for JOB_HEARTBEAT_TIMEOUT_SECONDS,
while a running import keeps its folder fresh (extracting included). The real worker kill is in
tests/integration/test_import_kill.py."""

from __future__ import annotations

import os
import tempfile
import time
import zipfile

import pytest

from studies import tasks
from studies.services.import_files import _Source
from studies.services.import_temp import import_temp_sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _folder(root, name: str, age: float):
    folder = root / name
    (folder / "MRN1").mkdir(parents=True)
    (folder / "MRN1" / "IM1.dcm").write_bytes(b"identified")
    then = time.time() - age
    os.utime(folder, (then, then))
    return folder


def test_a_folder_silent_longer_than_the_heartbeat_bound_is_removed(private_tmp, settings):
    settings.JOB_HEARTBEAT_TIMEOUT_SECONDS = 300
    dead = _folder(private_tmp, "vbq-import-dead", 301)
    live = _folder(private_tmp, "vbq-import-live", 30)
    other = _folder(private_tmp, "someone-elses", 3600)
    assert import_temp_sweep() == [str(dead)]
    assert not dead.exists() and live.exists() and other.exists()
    assert tasks.import_sweep()["removed"] == 0  # the beat task runs it too; nothing more to remove


def test_the_beat_task_removes_a_dead_imports_folder(private_tmp, settings):
    settings.JOB_HEARTBEAT_TIMEOUT_SECONDS = 3
    dead = _folder(private_tmp, "vbq-import-dead", 4)
    assert tasks.import_sweep() == {"requeued": [], "failed": [], "removed": 1}
    assert not dead.exists()


def test_extracting_marks_the_folder_in_use(private_tmp, tmp_path):
    upload = tmp_path / "scan.zip"
    with zipfile.ZipFile(upload, "w") as zf:
        zf.writestr("a/b/IM1.dcm", b"x" * 10)
    beats = []
    source = _Source(upload, lambda: beats.append(1))
    with source as files:
        folder = private_tmp / os.path.basename(source.tmp)
        assert files and beats  # the job's heartbeat went on while extracting
        # the file went to a sub-folder (the folder's own time is not changed by that): extraction touched it
        assert time.time() - folder.stat().st_mtime < 5
        old = time.time() - 3600
        os.utime(folder, (old, old))
        source.touch()  # what the import's progress does every half second
        assert time.time() - folder.stat().st_mtime < 5
    assert not list(private_tmp.iterdir())
