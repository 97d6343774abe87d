"""Reading the audit log back: filters (reader, case, action, time range), rows for the page and the CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from studies.models import AuditEvent, Study

CSV_COLUMNS = (
    "time",
    "user",
    "action",
    "object_type",
    "object_id",
    "case",
    "read_number",
    "roi_label",
    "version",
    "details",
)
FILTERS = ("user", "case", "action", "since", "until")


def _when(value: str, *, end: bool) -> dt.datetime | None:
    """A date (whole day, UTC) or an ISO datetime (naive = UTC); None when empty or unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            if day is None:
                return None
            moment = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def audit_filters(params) -> dict[str, str]:
    """The filter values from a request's GET parameters (missing ones are empty strings)."""
    return {key: (params.get(key) or "").strip() for key in FILTERS}


def audit_events(*, study: Study | None, filters: dict[str, str]) -> QuerySet[AuditEvent]:
    """The study's audit rows (every study's when ``study`` is None) matching ``filters``, newest first."""
    qs = AuditEvent.objects.select_related("user", "study")
    if study is not None:
        qs = qs.filter(study=study)
    if filters.get("user"):
        qs = qs.filter(user__username=filters["user"])
    if filters.get("case"):
        qs = qs.filter(data__case=filters["case"])
    if filters.get("action"):
        qs = qs.filter(action=filters["action"])
    if since := _when(filters.get("since", ""), end=False):
        qs = qs.filter(at__gte=since)
    if until := _when(filters.get("until", ""), end=True):
        qs = qs.filter(at__lt=until) if len(filters["until"]) <= 10 else qs.filter(at__lte=until)
    return qs.order_by("-at", "-id")


def _roi_fields(data: dict[str, Any]) -> tuple[Any, Any]:
    """(ROI label, version) of an ROI row: after a change for updates, the ROI itself otherwise."""
    shown = data.get("after") if isinstance(data.get("after"), dict) else data
    return shown.get("label", ""), shown.get("version", "")


def audit_row(event: AuditEvent) -> dict[str, Any]:
    data = event.data if isinstance(event.data, dict) else {}
    label, version = _roi_fields(data) if event.object_type == "roi" else ("", "")
    return {
        "time": event.at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "user": event.user.get_username() if event.user else "",
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "case": data.get("case", ""),
        "read_number": data.get("read_number", ""),
        "roi_label": label,
        "version": version,
        "details": json.dumps(data, sort_keys=True, default=str),
        "study": event.study,
        "event": event,
    }


def audit_csv_lines(events: QuerySet[AuditEvent]) -> Iterator[str]:
    """The CSV (header first), one line at a time, for a streaming response."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for event in events.iterator(chunk_size=2000):
        row = audit_row(event)
        writer.writerow([row[c] for c in CSV_COLUMNS])
        yield flush()
