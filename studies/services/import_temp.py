"""Temporary folders of imports whose process died (#22): removed as soon as they are silent as long as a dead job.

An import extracts a zip into ``<tmp>/vbq-import-*`` (:class:`studies.services.import_files._Source`) and touches
that folder while it works: at most every second while extracting, every half second afterwards — the moments its
job beats. A folder untouched for longer than ``JOB_HEARTBEAT_TIMEOUT_SECONDS`` therefore belongs to a process that
is gone (the job sweep has queued its job again or failed it by then), and it holds identified files: it is removed
at once, not after ``IMPORT_ORPHAN_MAX_AGE_SECONDS`` (the keep time of stored uploads, which Retry needs; a temporary
folder is never used again — a new run extracts the upload afresh).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path

from django.conf import settings

from .import_files import TEMP_PREFIX

log = logging.getLogger(__name__)


def import_temp_sweep(*, max_age_seconds: float | None = None, now: float | None = None) -> list[str]:
    """Remove the ``vbq-import-*`` folders of this machine's temporary directory untouched for longer than
    ``max_age_seconds`` (default ``settings.JOB_HEARTBEAT_TIMEOUT_SECONDS``). Returns the paths removed."""
    age = settings.JOB_HEARTBEAT_TIMEOUT_SECONDS if max_age_seconds is None else max_age_seconds
    cutoff = (time.time() if now is None else now) - age
    removed = []
    for path in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        try:
            if path.lstat().st_mtime >= cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:  # removed meanwhile (its import ended)
            continue
        except OSError:
            log.warning("could not remove the import temporary folder %s", path, exc_info=True)
            continue
        removed.append(str(path))
    if removed:
        log.info("import sweep removed %d temporary folders of stopped imports", len(removed))
    return removed
