"""Real DICOM networking components for the #19 tests: Orthanc (Debian) and the listener as its own process.

``orthanc_factory`` starts Debian's Orthanc with a private JSON configuration (free HTTP and DICOM ports on
127.0.0.1, storage in the test's tmp folder, the DICOMweb plugin, DicomModalities pointing at our listener) and stops
it; ``listener`` runs ``manage.py dicom_listener`` as a separate process on the test database and media (imports run
in it, eagerly: no broker). Missing Orthanc → :func:`tests.conftest.skip_or_fail` (fails in CI).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
LISTENER_AET = "VBQ_LISTENER"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def echo(port: int, called: str, host: str = "127.0.0.1") -> bool:
    """C-ECHO ``called`` at ``host:port``: True when the association is accepted and the echo answered."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="VBQ_TEST_SCU")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = 5
    assoc = ae.associate(host, port, ae_title=called)
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return bool(status) and status.Status == 0


class Orthanc:
    """One Orthanc process with its own configuration, ports and storage."""

    def __init__(
        self, folder: Path, modalities: dict[str, tuple[str, int]], dicomweb: bool = True, users: dict | None = None
    ) -> None:
        self.folder = folder
        self.http_port, self.dicom_port = free_port(), free_port()
        self.aet = "ORTHANC_TEST"
        self.url = f"http://127.0.0.1:{self.http_port}"
        config = {
            "Name": "vbq-test-orthanc",
            "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(users),
            "RegisteredUsers": users or {},
            "HttpServerEnabled": True,
            "DicomServerEnabled": True,
            "DicomCheckCalledAet": False,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowEcho": True,
            "DicomScpTimeout": 30,
            "DicomAssociationCloseDelay": 0,
            "StorageCompression": False,
            "Plugins": [str(DICOMWEB_PLUGIN)] if dicomweb else [],
            "DicomWeb": {"Enable": dicomweb, "Root": "/dicom-web/", "EnableWado": True},
            "DicomModalities": {name: [aet, "127.0.0.1", port] for name, (aet, port) in modalities.items()},
        }
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "orthanc.json"
        self.config.write_text(json.dumps(config, indent=2))
        self.proc: subprocess.Popen | None = None
        self.auth = next(iter(users.items())) if users else None

    def start(self) -> Orthanc:
        log = open(self.folder / "orthanc.log", "ab")
        self.proc = subprocess.Popen([ORTHANC, str(self.config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._up, 30, "Orthanc to answer on its HTTP port")
        except BaseException:
            self.stop()  # never leave a process behind
            raise
        return self

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("Orthanc exited: " + (self.folder / "orthanc.log").read_text()[-2000:])
        try:
            return requests.get(self.url + "/system", auth=self.auth, timeout=1).ok
        except requests.RequestException:
            return False

    def upload(self, files: list[Path]) -> list[str]:
        """Store ``files`` in Orthanc over REST; return the Orthanc instance ids."""
        ids = []
        for path in files:
            r = requests.post(self.url + "/instances", data=path.read_bytes(), auth=self.auth, timeout=30)
            r.raise_for_status()
            ids.append(r.json()["ID"])
        return ids

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def orthanc_factory(tmp_path):
    if not (Path(ORTHANC).exists() and DICOMWEB_PLUGIN.exists()):
        skip_or_fail("Orthanc with its DICOMweb plugin is not installed (Debian packages orthanc, orthanc-dicomweb)")
    started: list[Orthanc] = []

    def start(
        modalities: dict[str, tuple[str, int]] | None = None, dicomweb: bool = True, users: dict | None = None
    ) -> Orthanc:
        o = Orthanc(tmp_path / f"orthanc{len(started)}", modalities or {}, dicomweb, users).start()
        started.append(o)
        return o

    yield start
    for o in started:
        o.stop()


def _database_url() -> str:
    from tests.integration.conftest import _database_url as url

    return url()


class Listener:
    """``manage.py dicom_listener`` as its own process on the test database and media (no broker: imports run
    in it, eagerly)."""

    def __init__(self, log_path: Path, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.env = env or {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> Listener:
        env = (
            os.environ
            | {
                "DATABASE_URL": _database_url(),
                "MEDIA_ROOT": str(settings.MEDIA_ROOT),
                "UPLOAD_ROOT": str(settings.UPLOAD_ROOT),
                "CELERY_BROKER_URL": "",
                "VBQ_DEV_SECRETS": "true",
                "VBQ_IMPORT_PROCESSES": "0",
                "PYTHONPATH": str(ROOT),
            }
            | self.env
        )
        log = open(self.log_path, "ab")
        cmd = [sys.executable, "manage.py", "dicom_listener", "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            [*cmd, "--ae-title", LISTENER_AET], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until(self._up, 60, "the DICOM listener to answer C-ECHO")
        except BaseException:
            self.stop()  # never leave a process behind
            raise
        return self

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("the listener exited: " + self.log_path.read_text()[-3000:])
        try:
            return echo(self.port, LISTENER_AET)
        except Exception:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def listener(tmp_path, transactional_db):
    process = Listener(tmp_path / "listener.log")
    yield process.start()
    process.stop()
    if process.log_path.exists():
        print(process.log_path.read_text()[-4000:])


@pytest.fixture
def phantom_files(tmp_path) -> list[Path]:
    """A small series of our demo phantom (13 sagittal T1 slices), identified as the scanner would send it."""
    from studies.demo import phantom

    subject = phantom.demo_cohort()[0]
    folder = tmp_path / "phantom"
    phantom.make_phantom_series(subject, out_dir=folder, rng_seed=3)
    return sorted(p for p in folder.rglob("*") if p.is_file())
