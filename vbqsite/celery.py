"""Celery application.

With ``CELERY_BROKER_URL`` unset the settings switch Celery to in-process (eager) execution, the
single-machine default; with a Redis URL, workers on any machine sharing Redis, the database and the
media storage pick the jobs up. See https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vbqsite.settings")

app = Celery("vbqsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
