"""Celery tasks of the studies app (thin wrappers over services)."""

from __future__ import annotations

import socket

from celery import shared_task
from django.utils import timezone

from studies.models import WorkerHeartbeat


@shared_task(name="studies.tasks.worker_heartbeat")
def worker_heartbeat(hostname: str | None = None) -> str:
    """Record that a worker is alive (idempotent upsert keyed by hostname)."""
    name = hostname or worker_heartbeat.request.hostname or socket.gethostname()
    WorkerHeartbeat.objects.update_or_create(hostname=name, defaults={"seen_at": timezone.now()})
    return name
