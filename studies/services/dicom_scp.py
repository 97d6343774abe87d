"""The pynetdicom side of the DICOM listener (#19): the Application Entity and its event handlers.

:func:`make_ae` accepts every storage SOP class in every transfer syntax pynetdicom knows (an image the import
cannot use is then rejected with a reason in the job's report, not with a bare "context rejected"), and
Verification (C-ECHO). :class:`Handlers` keeps one :class:`~studies.services.dicom_listener.Reception` per
association: EVT_REQUESTED refuses unknown Called AE titles (A-ASSOCIATE-RJ, permanent, "called AE title not
recognised"); EVT_C_STORE writes; the end of the association (EVT_RELEASED, EVT_ABORTED, or the connection closing)
turns the reception into one import job. Every handler catches everything: bad input never stops the listener.
Reference: pynetdicom 3.0 user guide, "Event handlers" and "Storage SCP".
"""

from __future__ import annotations

import logging
import socket
import threading

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from .dicom_listener import CANNOT_UNDERSTAND, Reception, study_for_ae_title

log = logging.getLogger("studies.dicom_listener")

#: Largest PDU this listener receives (bytes): large PDUs cost fewer reads per image; 0 would mean unlimited.
MAX_PDU = 1024 * 1024


def make_ae(ae_title: str) -> AE:
    ae = AE(ae_title=ae_title)
    ae.maximum_pdu_size = MAX_PDU
    ae.maximum_associations = 32
    ae.acse_timeout = 30
    ae.dimse_timeout = 60
    ae.network_timeout = 120  # a sender silent this long is released (its images so far are imported)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification, ALL_TRANSFER_SYNTAXES)
    return ae


class Handlers:
    """The listener's event handlers, with the receptions of the associations in progress."""

    def __init__(self, own_title: str) -> None:
        self.own_title = own_title
        self.receptions: dict[int, Reception] = {}
        self.lock = threading.Lock()
        self.jobs: list[int] = []  # ids of the import jobs created (for tests and the log)

    def bindings(self) -> list[tuple]:
        return [
            (evt.EVT_CONN_OPEN, no_delay),
            (evt.EVT_REQUESTED, self.on_requested),
            (evt.EVT_C_ECHO, self.on_echo),
            (evt.EVT_C_STORE, self.on_store),
            (evt.EVT_RELEASED, self.on_end, ["released"]),
            (evt.EVT_ABORTED, self.on_end, ["aborted"]),
            (evt.EVT_CONN_CLOSE, self.on_end, ["closed"]),
        ]

    def on_requested(self, event) -> None:
        assoc = event.assoc
        try:
            called = assoc.requestor.primitive.called_ae_title.strip()
            calling = assoc.requestor.primitive.calling_ae_title.strip()
            known, study_id = study_for_ae_title(called, self.own_title)
        except Exception:
            log.exception("association request could not be checked: refused")
            _reject(assoc, 0x02, 0x01)  # transient, no reason given
            return
        if not known:
            log.warning("association from %s to unknown AE title %r refused", calling, called)
            _reject(assoc, 0x01, 0x07)  # permanent, called AE title not recognised
            return
        assoc.acceptor.ae_title = called
        with self.lock:
            self.receptions[id(assoc)] = Reception(study_id=study_id, ae_title=called, calling=calling)

    def on_echo(self, event) -> int:
        return 0x0000

    def on_store(self, event) -> int:
        try:
            reception = self.receptions.get(id(event.assoc))
            if reception is None:
                return CANNOT_UNDERSTAND
            return reception.store(event.encoded_dataset(include_meta=True), event.request.AffectedSOPInstanceUID)
        except Exception:
            log.exception("C-STORE failed")
            return CANNOT_UNDERSTAND

    def on_end(self, event, how: str) -> None:
        try:
            with self.lock:
                reception = self.receptions.get(id(event.assoc))
                if reception is None:
                    return
                if not reception.ended:
                    reception.ended = how
                if how == "closed":
                    self.receptions.pop(id(event.assoc), None)
            job = reception.finish()
            if job is not None:
                self.jobs.append(job)
        except Exception:
            log.exception("the end of an association could not be handled")


def no_delay(event) -> None:
    """Send each PDU at once (TCP_NODELAY): with Nagle's algorithm a short C-STORE response waits for the
    sender's delayed acknowledgement (up to 40 ms on Linux), which caps a sender at ~20 images/s."""
    try:
        event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError):
        pass


def _reject(assoc, result: int, diagnostic: int) -> None:
    """Send an A-ASSOCIATE-RJ (source: service user) and wait until it is sent, as pynetdicom's own checks do
    (closing the socket at once would turn it into an abort)."""
    assoc.acse.send_reject(result, 0x01, diagnostic)
    assoc.kill()


def start_listener(host: str, port: int, ae_title: str, *, block: bool = False):
    """Start the listener; returns (server, handlers) when not blocking (``server.shutdown()`` stops it)."""
    handlers = Handlers(ae_title)
    ae = make_ae(ae_title)
    server = ae.start_server((host, port), block=block, evt_handlers=handlers.bindings())
    return server, handlers
