"""manage.py dicom_listener — the DICOM C-STORE/C-ECHO listener (#19), a process of its own.

Host, port and AE title come from the options, else settings/environment (see
:func:`studies.services.dicom_listener.listener_settings`). SIGTERM or SIGINT stop it: associations in progress
are aborted, and what they had received is imported (their report says the rest was not received).
"""

from __future__ import annotations

import logging
import signal
import threading

from django.core.management.base import BaseCommand

from studies.services.dicom_listener import listener_settings
from studies.services.dicom_scp import start_listener


class Command(BaseCommand):
    help = "Receive DICOM images (C-STORE) from a PACS or scanner into the study chosen by the Called AE title."

    def add_arguments(self, parser):
        defaults = listener_settings()
        parser.add_argument("--host", default=defaults["host"], help="Address to listen on (default %(default)s)")
        parser.add_argument("--port", type=int, default=defaults["port"], help="TCP port (default %(default)s)")
        parser.add_argument(
            "--ae-title", default=defaults["ae_title"], help="Own AE title, C-ECHO only (default %(default)s)"
        )

    def handle(self, *args, host, port, ae_title, **options):
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        server, _ = start_listener(host, port, ae_title)
        self.stdout.write(f"DICOM listener {ae_title} on {host}:{server.server_address[1]}", ending="\n")
        self.stdout.flush()
        try:
            stop.wait()
        finally:
            server.shutdown()
