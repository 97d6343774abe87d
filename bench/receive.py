"""DICOM receive rate: the listener (``manage.py dicom_listener``) beside Orthanc's own C-STORE SCP, same files,
same sender, same run.

The same phantom series (N subjects × 13 slices, Explicit VR Little Endian) are sent in one association to each
receiver in turn, by the same sender:

- ``--sender orthanc`` (default, what a PACS push looks like): a source Orthanc holding the files sends them with
  its own C-STORE SCU (REST ``/modalities/<name>/store``, synchronous);
- ``--sender pynetdicom``: a pynetdicom SCU in this process sending the files' bytes as they are (chunked send).

Receivers: the listener, a separate process on a throwaway SQLite database (Called AE title of a bench study),
which writes each instance to its private folder and, at release, imports them (that import is timed separately,
after the association, and is not part of the receive rate); and Debian's Orthanc with a private configuration
(storage and index in the temp dir), fresh for each run so that it never answers "already stored".

Both sides send without Nagle's delay (TCP_NODELAY: the listener sets it, Orthanc is started with DCMTK's
``TCP_NODELAY=1``). Runs alternate which receiver goes first; the median of ``--runs`` runs is reported as
instances/s and MB/s, and the ratio listener / Orthanc.

    python bench/receive.py                          # 520 instances (40 subjects), 3 runs, Orthanc as sender
    python bench/receive.py --sender pynetdicom
    python bench/receive.py --instances 130          # smoke run

Target: listener ≥ 0.5× Orthanc's rate.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    ROOT,
    files_under,
    machine,
    make_phantoms,
    median,
    phantom_subjects,
    run_in_scratch,
    setup_django,
    write_json,
)

AE_TITLE = "VBQ_BENCH"


def send(files: list[Path], port: int, called: str) -> float:
    """Send ``files`` in one association; seconds from the request to the release answer."""
    from pydicom.uid import ExplicitVRLittleEndian
    from pynetdicom import AE, evt
    from pynetdicom import _config as pynetdicom_config
    from pynetdicom.sop_class import MRImageStorage

    from studies.services.dicom_scp import no_delay

    pynetdicom_config.STORE_SEND_CHUNKED_DATASET = True  # the file's bytes as they are, no decode/encode
    ae = AE(ae_title="BENCH_SCU")
    ae.add_requested_context(MRImageStorage, ExplicitVRLittleEndian)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 120
    start = time.perf_counter()
    assoc = ae.associate("127.0.0.1", port, ae_title=called, max_pdu=0, evt_handlers=[(evt.EVT_CONN_OPEN, no_delay)])
    if not assoc.is_established:
        raise RuntimeError(f"association to {called} on port {port} refused")
    failed = sum(1 for path in files if assoc.send_c_store(path).Status != 0)
    assoc.release()
    elapsed = time.perf_counter() - start
    if failed:
        raise RuntimeError(f"{failed} C-STORE(s) failed at {called}")
    return elapsed


class OrthancSender:
    """A source Orthanc holding the files; sends them to a receiver registered as a modality (one association)."""

    def __init__(self, tmp: Path, files: list[Path]) -> None:
        from tests.dicom_net.conftest import Orthanc

        self.orthanc = Orthanc(tmp / "orthanc-source", {}, dicomweb=False).start()
        self.orthanc.upload(files)
        self.series = requests_json(self.orthanc.url + "/series")

    def send(self, port: int, called: str) -> float:
        import requests

        url = self.orthanc.url
        modality = {"AET": called, "Host": "127.0.0.1", "Port": port}
        requests.put(f"{url}/modalities/target", json=modality, timeout=10).raise_for_status()
        start = time.perf_counter()
        r = requests.post(
            f"{url}/modalities/target/store", json={"Resources": self.series, "Synchronous": True}, timeout=600
        )
        elapsed = time.perf_counter() - start
        r.raise_for_status()
        if r.json().get("FailedInstancesCount"):
            raise RuntimeError(f"Orthanc failed to send {r.json()['FailedInstancesCount']} instance(s) to {called}")
        return elapsed

    def stop(self) -> None:
        self.orthanc.stop()


def requests_json(url: str):
    import requests

    r = requests.get(url, timeout=30)
    r.raise_for_status()
    return r.json()


def run(tmp: Path, database_url: str | None, args) -> int:
    # Orthanc (DCMTK) disables Nagle's algorithm only when TCP_NODELAY is set (DCMTK's envvars.txt): without it,
    # it receives ~16 images/s over loopback here (each response waits for a delayed ACK), with it ~130/s. Its
    # processes inherit this environment, so Orthanc is measured at its best.
    os.environ["TCP_NODELAY"] = "1"
    env = setup_django(tmp / "var", database_url=database_url, broker_url=None, queue=None)

    from studies.models import DicomReceiver, ImportJob
    from tests import factories as f
    from tests.dicom_net.conftest import Listener, Orthanc, echo

    n_subjects = max(1, args.instances // 13)
    t0 = time.perf_counter()
    make_phantoms(phantom_subjects(n_subjects, "RCV"), tmp / "phantoms")
    files = files_under(tmp / "phantoms")
    megabytes = sum(p.stat().st_size for p in files) / 1e6
    print(f"{len(files)} instances, {megabytes:.1f} MB, generated in {time.perf_counter() - t0:.1f} s")

    study = f.make_study(f.make_user("bench-pi"))
    DicomReceiver.objects.create(study=study, ae_title=AE_TITLE)
    listener = Listener(tmp / "listener.log")
    listener.start()
    sender = OrthancSender(tmp, files) if args.sender == "orthanc" else None

    def send_to(port: int, called: str) -> float:
        return sender.send(port, called) if sender else send(files, port, called)

    listener_times, orthanc_times, import_times = [], [], []
    try:
        for r in range(args.runs):
            order = ("listener", "orthanc") if r % 2 == 0 else ("orthanc", "listener")
            for who in order:
                if who == "listener":
                    before = ImportJob.objects.count()
                    listener_times.append(send_to(listener.port, AE_TITLE))
                    t_release = time.perf_counter()
                    while ImportJob.objects.filter(status__in=["done", "failed"]).count() <= before:
                        time.sleep(0.2)
                    import_times.append(time.perf_counter() - t_release)
                    job = ImportJob.objects.order_by("-id").first()
                    expected = (len(files), 0) if len(import_times) == 1 else (0, len(files))  # then all skipped
                    if job.status != "done" or (job.accepted, job.skipped) != expected:
                        raise RuntimeError(
                            f"import job {job.pk}: {job.status} {job.error} ({job.accepted} accepted, "
                            f"{job.skipped} skipped, {job.rejected} rejected of {job.total})"
                        )
                else:
                    orthanc = Orthanc(tmp / f"orthanc-{r}", {}, dicomweb=False).start()
                    try:
                        assert echo(orthanc.dicom_port, orthanc.aet)
                        orthanc_times.append(send_to(orthanc.dicom_port, orthanc.aet))
                        stored = orthanc_count(orthanc)
                        if stored != len(files):
                            raise RuntimeError(f"Orthanc stored {stored} of {len(files)} instances")
                    finally:
                        orthanc.stop()
                print(f"  run {r + 1} {who}: {(listener_times if who == 'listener' else orthanc_times)[-1]:.2f} s")
    finally:
        listener.stop()
        if sender:
            sender.stop()

    lt, ot = median(listener_times), median(orthanc_times)
    ratio = ot / lt
    print(f"sender: {args.sender}")
    print(f"listener: {len(files) / lt:7.1f} instances/s, {megabytes / lt:6.1f} MB/s (median of {args.runs})")
    print(f"Orthanc:  {len(files) / ot:7.1f} instances/s, {megabytes / ot:6.1f} MB/s")
    print(f"ratio listener / Orthanc: {ratio:.2f}×")
    print(
        f"listener's import job after the release (not in the rate): {import_times[0]:.1f} s the first time; "
        f"{median(import_times[1:] or import_times):.1f} s when sent again (every image already stored: skipped)"
    )
    print("target: ratio ≥ 0.5 —", "met" if ratio >= 0.5 else "NOT met")
    orthanc_version = subprocess.run(["Orthanc", "--version"], capture_output=True, text=True).stdout.splitlines()
    path = write_json(
        "receive",
        {
            "instances": len(files),
            "megabytes": megabytes,
            "runs": args.runs,
            "sender": args.sender,
            "listener_s": listener_times,
            "orthanc_s": orthanc_times,
            "import_after_release_s": import_times,
            "listener_instances_per_s": len(files) / lt,
            "orthanc_instances_per_s": len(files) / ot,
            "listener_mb_per_s": megabytes / lt,
            "orthanc_mb_per_s": megabytes / ot,
            "ratio": ratio,
            "orthanc": orthanc_version[0] if orthanc_version else "",
            "database": env["DATABASE_URL"].split(":")[0],
        }
        | {"machine": machine()},
    )
    print(f"results: {path}")
    return 0


def orthanc_count(orthanc) -> int:
    import requests

    return int(requests.get(orthanc.url + "/statistics", timeout=10).json()["CountInstances"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=520, help="about this many (multiples of 13)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sender", choices=("orthanc", "pynetdicom"), default="orthanc")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    os.chdir(ROOT)
    return run_in_scratch("receive", lambda tmp, url: run(tmp, url, args), postgres=False, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
