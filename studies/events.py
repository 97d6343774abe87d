"""What ``studies`` announces, and the apps above it (``scoring``, ``analytics``) react to.

``studies`` imports nothing from the apps that build on it (a test enforces this). Instead, each of its
services announces what happened through one of the signals below; ``scoring`` and ``analytics`` connect
their receivers in ``AppConfig.ready``. Announcements are sent **after the transaction commits**
(:func:`announce`), so a receiver that queues work never sees uncommitted or rolled-back state, and a
receiver's failure can never undo a saved ROI: the database stays the source of truth and the periodic
sweeps catch anything a receiver missed.

:data:`read_checks` is the one question ``studies`` asks instead of an announcement: before a read is
submitted (and when the viewer shows its checks), receivers contribute problems (which block submission)
and warnings (which do not) that need more than the ROIs themselves — e.g. their pixel statistics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

#: An ROI of a read was created, moved, edited (label, CSF level), excluded, re-included or deleted.
#: kwargs: ``read_id``, ``roi_id`` (None after a delete), ``action`` ("create" | "update" | "delete"),
#: ``version`` (the ROI's version after a create or update: a job for an older version is superseded) and
#: ``deleted_roi_id`` (after a delete: the id the ROI had).
roi_changed = Signal()
#: A read was submitted. kwargs: ``read_id``.
read_submitted = Signal()
#: A submitted read was reopened by the PI. kwargs: ``read_id``.
read_reopened = Signal()
#: The PI gave a read to another reader: the old read is voided, a new one created.
#: kwargs: ``read_id`` (the voided read), ``new_read_id``.
read_reassigned = Signal()
#: The PI voided a read (out of its reader's worklist and the analytics, kept in the history). kwargs: ``read_id``.
read_voided = Signal()
#: Study settings changed. kwargs: ``study_id``, ``fields`` (names of the changed settings).
study_settings_changed = Signal()
#: The study's reference data were replaced. kwargs: ``study_id``, ``controls_changed`` (the control group
#: of the M-score changed).
reference_changed = Signal()
#: The study was locked. kwargs: ``study_id``.
study_locked = Signal()
#: Question asked before submit: receivers return a :class:`ReadChecks`. kwargs: ``read`` (a ``Read``),
#: ``stats_shown`` ("none" | "quality" | "full": which ROI statistics the sentences may quote — blinding).
read_checks = Signal()


@dataclass(frozen=True)
class ReadChecks:
    """A receiver's answer to :data:`read_checks`: sentences for the reader."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def announce(signal: Signal, **kwargs) -> None:
    """Send ``signal`` once the current transaction commits (at once outside a transaction).

    A receiver that raises is logged and does not stop the others (``send_robust``): what was saved stays
    saved, and the sweeps redo the work.
    """

    def send() -> None:
        for receiver, result in signal.send_robust(sender=None, **kwargs):
            if isinstance(result, Exception):
                log.error("receiver %r of %s failed", receiver, kwargs, exc_info=result)

    transaction.on_commit(send)


def ask_read_checks(read, *, stats_shown: str = "full") -> ReadChecks:
    """Problems and warnings that the other apps contribute for ``read`` (see :data:`read_checks`)."""
    problems: list[str] = []
    warnings: list[str] = []
    for _, answer in read_checks.send(sender=None, read=read, stats_shown=stats_shown):
        if answer is not None:
            problems += answer.problems
            warnings += answer.warnings
    return ReadChecks(problems=problems, warnings=warnings)
