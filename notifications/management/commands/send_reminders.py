"""Run the reminder e-mails once, without Celery beat: for a single machine with no broker, from cron.

    */15 * * * *  cd /srv/vbq && .venv/bin/python manage.py send_reminders

Same work as the beat tasks (``notifications.tasks.reminders_sweep`` and ``daily_digest_send``), so it is as
idempotent: running it twice sends nothing new.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from notifications.digest import daily_digest_send
from notifications.read_changes import read_changes_notify
from notifications.read_opened import read_opened_notify


class Command(BaseCommand):
    help = "E-mail readers whose repeat reads opened or whose reads the PI changed, and today's digest to PIs."

    def handle(self, *args, **options) -> None:
        result = {
            "read_opened": read_opened_notify(),
            "read_changed": read_changes_notify(),
            "daily_digest": daily_digest_send(),
        }
        self.stdout.write(json.dumps(result, sort_keys=True))
