"""/healthz: database, broker and worker status for load balancers and admins."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from studies.models import WorkerHeartbeat


def broker_status() -> dict:
    if not settings.CELERY_BROKER_URL:
        return {"ok": True, "mode": "in-process (no broker configured)"}
    try:
        from vbqsite.celery import app

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True, "mode": "redis"}
    except Exception as exc:  # any broker failure is a health answer, not a crash
        return {"ok": False, "mode": "redis", "error": exc.__class__.__name__}


@never_cache
def healthz(request):
    db = {"ok": True, "vendor": connection.vendor}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        db = {"ok": False, "vendor": connection.vendor, "error": exc.__class__.__name__}
    broker = broker_status()
    workers = []
    if db["ok"]:
        recent = timezone.now() - timedelta(minutes=5)
        workers = [
            {"hostname": hb.hostname, "seen_at": hb.seen_at.isoformat(), "alive": hb.seen_at >= recent}
            for hb in WorkerHeartbeat.objects.order_by("hostname")
        ]
    ok = db["ok"] and broker["ok"]
    return JsonResponse({"ok": ok, "database": db, "broker": broker, "workers": workers}, status=200 if ok else 503)
