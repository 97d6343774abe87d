"""ROI saves — create, move/edit, delete — in four queries, with no lock on the study and one on the read's own row.

The viewer saves an ROI at every drag (50 readers moving an ROI every 200 ms offer 250 saves/s), so a save does:

1. **one SELECT** of the read (create) or the ROI with its read (move, delete), its study and case, and in subqueries
   everything the checks need: whether the user is the study's PI, when the read opens (the previous read number's
   reads of this reader: :func:`studies.services.reading.read_opens_at`), whether a later read of the same case is
   open (blinding: :func:`studies.selectors.reader_may_view`), the size and slice number of the slice the payload
   names (:mod:`studies.services.roi_payload`, :mod:`studies.slices`) and whether the label is taken;
2. **the write**: INSERT, or ``UPDATE … WHERE id = … AND version = n`` / ``DELETE … WHERE id = … AND version = n``
   (optimistic concurrency: a stale version matches no row, nothing is written, the answer is 409 with the
   current ROI);
3. **the read's activity** (started, last activity, time on task): ``UPDATE … WHERE`` the read is still open and
   the study unlocked — the one row a save locks is its own read, which orders it against a submit of that read;
4. **the audit row** (INSERT).

Errors (404, 403, 400, 409) may cost more queries: they are answered from the same checks as the list and detail
views (:func:`_not_found`). A session-authenticated request adds Django's session and user lookups (2 queries with
database sessions). Nothing here takes ``SELECT … FOR UPDATE``: two saves of different reads never wait for each
other, whatever study they belong to.

Time on task: two saves of the same read at the same moment (two tabs) each add the time since the activity they
loaded; the later write wins, so at most the interval between those two saves is not counted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, transaction
from django.db.models import Count, Exists, F, IntegerField, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.db.models.query import get_related_populators
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext

from studies import events
from studies.models import AuditEvent, Instance, Membership, Read, Roi, Study

from .reading import ACTIVITY_GAP, ROI_FIELDS, ReadClosed, StaleEdit, roi_version
from .roi_payload import SliceGeometry, validate_roi_payload

__all__ = ["Saved", "save_roi_create", "save_roi_delete", "save_roi_update"]

OPEN = (Read.Status.NOT_STARTED, Read.Status.IN_PROGRESS)


@dataclass(frozen=True)
class Saved:
    """A stored ROI (None after a delete) and how much of its statistics the user may see (blinding)."""

    roi: Roi | None
    stats_shown: str


# ------------------------------------------------------------------------------------------------ the one SELECT


def _slice_number(sop) -> Subquery:
    """Slice number of the image ``sop`` (an expression): 1 + the images of its series before it in
    :data:`studies.slices.SLICE_ORDER` (slice position, then Instance Number, then id — ties in position are refused
    at import, so the position decides)."""
    earlier = (
        Instance.objects.filter(series_id=OuterRef("series_id"))
        .filter(
            Q(slice_position__lt=OuterRef("slice_position"))
            | Q(slice_position=OuterRef("slice_position"), instance_number__lt=OuterRef("instance_number"))
            | Q(
                slice_position=OuterRef("slice_position"),
                instance_number=OuterRef("instance_number"),
                id__lt=OuterRef("id"),
            )
        )
        .order_by()
        .values("series_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    number = Coalesce(Subquery(earlier, output_field=IntegerField()), 0) + 1
    return Subquery(Instance.objects.filter(sop_instance_uid=sop).annotate(number=number).values("number")[:1])


def _annotations(p: str, user, now: datetime, *, sop=None, stored_sop: bool = False, label: str | None = None) -> dict:
    """Subqueries on a Read (``p`` = "") or an ROI (``p`` = "read__") query: role, opening, blinding, payload checks."""
    read_id = OuterRef(p + "pk" if p == "" else "read_id")
    previous = (
        Read.objects.filter(
            study_id=OuterRef(p + "study_id"),
            reader_id=OuterRef(p + "reader_id"),
            read_number=OuterRef(p + "read_number") - 1,
        )
        .exclude(status=Read.Status.VOIDED)
        .order_by()
        .values("reader_id")
    )
    later = Read.objects.filter(
        case_id=OuterRef(p + "case_id"),
        reader_id=OuterRef(p + "reader_id"),
        read_number__gt=OuterRef(p + "read_number"),
    )
    closed = Q(available_from__isnull=True) | Q(available_from__gt=now)
    out = {
        "save_pi": Exists(
            Membership.objects.filter(study_id=OuterRef(p + "study_id"), user_id=user.pk, role=Membership.Role.PI)
        ),
        "save_prev_total": Subquery(previous.annotate(x=Count("pk")).values("x")),
        "save_prev_open": Subquery(
            previous.annotate(x=Count("pk", filter=~Q(status=Read.Status.SUBMITTED))).values("x")
        ),
        "save_prev_last": Subquery(previous.annotate(x=Max("submitted_at")).values("x")),
        "save_later_open": Exists(later.filter(available_from__lte=now)),
        "save_next_closed": Exists(later.filter(closed, read_number=OuterRef(p + "read_number") + 1)),
        "save_far_closed": Exists(later.filter(closed, read_number__gte=OuterRef(p + "read_number") + 2)),
    }
    if stored_sop:  # the slice the ROI is stored on (the audit's "before")
        out["save_before_slice"] = _slice_number(OuterRef("sop_instance_uid"))
    if sop is not None:  # the slice the payload names: its series' size, and its slice number
        on_case = Instance.objects.filter(sop_instance_uid=sop, series__case_id=OuterRef(p + "case_id")).order_by("pk")
        out |= {
            "save_rows": Subquery(on_case.values("series__rows")[:1]),
            "save_columns": Subquery(on_case.values("series__columns")[:1]),
            "save_spacing": Subquery(on_case.values("series__pixel_spacing")[:1]),
            "save_slice": _slice_number(sop),
        }
    if label is not None:
        taken = Roi.objects.filter(read_id=read_id, label=label)
        if p:
            taken = taken.exclude(pk=OuterRef("pk"))
        out["save_label_taken"] = Exists(taken)
    return out


def _visible(p: str, user) -> Q:
    """:func:`studies.selectors.reads_visible_to` on the loaded row: the user's own read (not voided), or any read of a
    study they are PI of."""
    return (Q(**{p + "reader_id": user.pk}) & ~Q(**{p + "status": Read.Status.VOIDED})) | Q(save_pi=True)


def _not_found(user, read_id, roi_id=None):
    """The 404 the list and detail views give (no read, or no such ROI in it): only reached on an error."""
    from django.shortcuts import get_object_or_404

    from studies.selectors import reads_visible_to

    read = get_object_or_404(reads_visible_to(user), pk=read_id)
    get_object_or_404(Roi, pk=roi_id, read=read)
    raise Http404("No ROI matches the given query.")  # pragma: no cover - the ROI exists after all (deleted since)


def _opens_at(read: Read) -> datetime | None:
    """:func:`studies.services.reading.read_opens_at` from the annotated row (no query)."""
    if read.available_from is not None:
        return read.available_from
    if read.read_number == 1:
        return read.study.created_at
    if not read.save_prev_total or read.save_prev_open or read.save_prev_last is None:
        return None
    return read.save_prev_last + timedelta(days=read.study.washout_days)


def _later_open(read: Read, now: datetime) -> bool:
    """Whether a later read of the same case by the same reader is open (blinding), from the annotated row.

    A later read with an opening date in the past is open. One without waits for its previous read number to be
    complete: read n + 1 cannot open while this read (n) is neither submitted nor voided. Anything else — this read
    submitted or voided, or read n + 2 and later — is rare and answered by :func:`reads_opening` (2 queries).
    """
    if read.save_later_open:
        return True
    if read.save_far_closed or (read.save_next_closed and read.status not in OPEN):
        from .read_opening import reads_opening

        return not reads_opening([read], now=now)[read.pk].may_view  # called once the read itself is open
    return False


# ------------------------------------------------------------------------------------------------ compiled once

# Building and compiling the annotated SELECT with the ORM costs several times what running it costs (a dozen
# subqueries: ~10 ms of Python per save on this project's 2-core machine). It is compiled once per shape and thread
# with stand-in values, then run with each save's values put in their places (:class:`_Plan`).
_STAND_INS = {
    "read_id": -770_000_001,
    "roi_id": -770_000_002,
    "user_id": -770_000_003,
    "sop": "\u2400stand-in sop\u2400",
    "label": "\u2400stand-in label\u2400",
    "now": datetime(1971, 2, 3, 4, 5, 6, 789012, tzinfo=UTC),
}
_local = threading.local()


def _db_values(values: dict, connection) -> dict:
    """The values as the compiled query's parameters hold them (datetimes adapted for the backend)."""
    return {k: connection.ops.adapt_datetimefield_value(v) if k == "now" else v for k, v in values.items()}


class _Plan:
    """A queryset compiled once (SQL, parameters, row-to-model mapping), run with new values for its stand-ins.

    Rows become model instances as Django's ``ModelIterable`` makes them: the backend's converters, the
    ``select_related`` objects and the annotations as attributes.
    """

    def __init__(self, queryset) -> None:
        self.db = queryset.db
        self.compiler = queryset.query.get_compiler(using=self.db)
        self.sql, params = self.compiler.as_sql()
        self.params = list(params)
        stand_ins = _db_values(_STAND_INS, connections[self.db])
        self.slots = [
            (i, name)
            for i, param in enumerate(self.params)
            for name, value in stand_ins.items()
            if type(param) is type(value) and param == value
        ]
        info, select = self.compiler.klass_info, self.compiler.select
        self.model, first, last = info["model"], info["select_fields"][0], info["select_fields"][-1] + 1
        self.fields = slice(first, last)
        self.init_list = [column[0].target.attname for column in select[first:last]]
        self.related = get_related_populators(info, select, self.db)
        self.annotations = dict(self.compiler.annotation_col_map)

    def first(self, values: dict):
        params = list(self.params)
        db_values = _db_values(values, connections[self.db])
        for i, name in self.slots:
            params[i] = db_values[name]
        with connections[self.db].cursor() as cursor:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        (row,) = self.compiler.results_iter(results=[[row]])
        obj = self.model.from_db(self.db, self.init_list, row[self.fields])
        for populator in self.related:
            populator.populate(row, obj)
        for name, position in self.annotations.items():
            setattr(obj, name, row[position])
        return obj


def _first(key: tuple, build, values: dict):
    """``build(stand-ins)``'s first row with ``values`` in the stand-ins' places (compiled on first use per thread)."""
    plans = _local.__dict__.setdefault("plans", {})
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = _Plan(build(SimpleNamespace(**_STAND_INS, pk=_STAND_INS["user_id"])))
    return plan.first(values)


def _check_access(read: Read, user, now: datetime) -> datetime | None:
    """The viewset's checks (404 not visible, 403 blinded) then the service's (403 locked, not the reader,
    submitted, not open yet); returns when the read opened."""
    opens_at = _opens_at(read)
    is_open = opens_at is not None and opens_at <= now
    if read.reader_id == user.pk and (not is_open or _later_open(read, now)):
        raise PermissionDenied(gettext("This read is not open."))
    if read.study.locked:
        raise ReadClosed(gettext("The study is locked: ROIs can no longer be changed."))
    if read.reader_id != user.pk:
        raise ReadClosed(gettext("Only the reader of this read can change its ROIs."))
    if read.status == Read.Status.SUBMITTED:
        raise ReadClosed(gettext("This read has been submitted and is closed. Ask the PI to reopen it."))
    if not is_open:
        raise ReadClosed(gettext("This read is not open yet (washout period)."))
    return opens_at


def _geometry(row) -> callable:
    def geometry(_sop: str) -> SliceGeometry | None:
        if row.save_rows is None:
            return None
        return SliceGeometry(row.save_rows, row.save_columns, row.save_spacing)

    return geometry


def _stats_shown(read: Read) -> str:
    return Study.ReaderRoiStats.FULL if read.save_pi else read.study.reader_roi_stats


def _clean_sop(data: dict) -> str:
    return str(data.get("sop_instance_uid") or "").strip()


def _clean_label(data: dict) -> str:
    return str(data.get("label") or "").strip().upper()


# ------------------------------------------------------------------------------------------------ writes


def _activity(read: Read, now: datetime) -> dict:
    """The read's new activity columns (as :func:`studies.services.reading._touch`)."""
    fields = {"last_activity_at": now}
    if read.started_at is None:
        fields["started_at"] = now
    if read.status == Read.Status.NOT_STARTED:
        fields["status"] = Read.Status.IN_PROGRESS
    if read.last_activity_at is not None and now - read.last_activity_at <= ACTIVITY_GAP:
        fields["time_on_task_seconds"] = read.time_on_task_seconds + (now - read.last_activity_at).total_seconds()
    return fields


def _touch_and_audit(read: Read, user, now: datetime, action: str, roi: Roi, data: dict) -> None:
    """Queries 3 and 4 of a save, inside its transaction: the read's activity (still open?), then the audit row."""
    fields = _activity(read, now)
    if not Read.objects.filter(pk=read.pk, status__in=OPEN, study__locked=False).update(**fields):
        # submitted, voided or locked since the checks: the transaction is rolled back, nothing is kept
        raise ReadClosed(gettext("This read was closed or the study locked while saving; the change was not kept."))
    for key, value in fields.items():
        setattr(read, key, value)
    AuditEvent.objects.create(
        study_id=read.study_id,
        user=user,
        action=action,
        object_type="roi",
        object_id=str(roi.pk),
        data={"case": read.case.subject_code, "read_number": read.read_number} | data,
    )


def _snapshot(roi: Roi, slice_number: int | None) -> dict:
    """The ROI as the audit log records it: its fields, version and slice number (:mod:`studies.slices`)."""
    out = {f: getattr(roi, f) for f in ROI_FIELDS} | {"version": roi.version}
    return out | {"slice_number": slice_number if roi.sop_instance_uid else None}


def _unscored(roi: Roi) -> Roi:
    """Mark the ROI as having no statistics yet (its new version is unscored) without a query for them."""
    Roi._meta.get_field("score").set_cached_value(roi, None)
    return roi


def _current(roi_id: int) -> Roi | None:
    return Roi.objects.filter(pk=roi_id).select_related("score").first()


def save_roi_create(*, read_id: int, user, data: dict) -> Saved:
    """Create an ROI on read ``read_id`` (its reader, while the read is open); 409 when the label exists."""
    now = timezone.now()
    label, sop = _clean_label(data), _clean_sop(data)

    def build(v):
        return (
            Read.objects.filter(pk=v.read_id)
            .select_related("study", "case")
            .annotate(**_annotations("", v, v.now, sop=Value(v.sop), label=v.label))
            .filter(_visible("", v))
            .order_by("pk")[:1]
        )

    read = _first(("create",), build, {"read_id": read_id, "user_id": user.pk, "now": now, "sop": sop, "label": label})
    if read is None:
        _not_found(user, read_id)
    _check_access(read, user, now)
    clean = validate_roi_payload(read=read, data=data, geometry=_geometry(read))
    if read.save_label_taken:
        raise StaleEdit(Roi.objects.filter(read_id=read.pk, label=clean["label"]).select_related("score").first())
    roi = Roi(read=read, **clean)
    with transaction.atomic(savepoint=False):  # nested in a caller's transaction: no SAVEPOINT round trips
        roi.save(force_insert=True)
        _touch_and_audit(read, user, now, "roi.create", roi, _snapshot(roi, read.save_slice))
    events.announce(events.roi_changed, read_id=read.pk, roi_id=roi.pk, action="create", version=roi.version)
    return Saved(_unscored(roi), _stats_shown(read))


def _roi_row(user, read_id: int, roi_id: int, now: datetime, *, edit: bool, sop: str | None, label: str | None) -> Roi:
    """The ROI with its read, study, case and the checks' annotations; ``sop``/``label``: the payload's, if any
    (an ``edit`` without a slice is validated on the stored one)."""

    def build(v):
        payload = {"sop": None if not edit else Value(v.sop) if sop is not None else OuterRef("sop_instance_uid")}
        return (
            Roi.objects.filter(pk=v.roi_id, read_id=v.read_id)
            .select_related("read__study", "read__case")
            .annotate(
                **_annotations(
                    "read__", v, v.now, **payload, stored_sop=True, label=v.label if label is not None else None
                )
            )
            .filter(_visible("read__", v))
            .order_by("pk")[:1]
        )

    values = {"read_id": read_id, "roi_id": roi_id, "user_id": user.pk, "now": now, "sop": sop, "label": label}
    roi = _first(
        ("roi", edit, sop is not None, label is not None), build, {k: v for k, v in values.items() if v is not None}
    )
    if roi is None:
        _not_found(user, read_id, roi_id)
    # the read's annotations live on the ROI row: hand them to the read the checks look at
    for key, value in vars(roi).items():
        if key.startswith("save_"):
            setattr(roi.read, key, value)
    return roi


def save_roi_update(*, read_id: int, roi_id: int, user, data: dict, version) -> Saved:
    """Change an ROI (geometry, slice, label, exclusion) when ``version`` is its stored version; else 409."""
    now = timezone.now()
    sop = _clean_sop(data) if "sop_instance_uid" in data else None
    label = _clean_label(data) if "label" in data else None
    roi = _roi_row(user, read_id, roi_id, now, edit=True, sop=sop, label=label)
    read = roi.read
    _check_access(read, user, now)
    if version is None:
        raise ValidationError(gettext("Send the ROI's version with every change (optimistic concurrency)."))
    if roi_version(version) != roi.version:
        raise StaleEdit(_current(roi.pk))
    before = {f: getattr(roi, f) for f in ROI_FIELDS} | {"version": roi.version}
    clean = validate_roi_payload(read=read, data={**before, **data}, geometry=_geometry(roi))
    if clean["label"] != roi.label and roi.save_label_taken:
        raise ValidationError(gettext("This read already has a %(label)s ROI.") % {"label": clean["label"]})
    before_audit = _snapshot(roi, roi.save_before_slice)
    with transaction.atomic(savepoint=False):
        stored = Roi.objects.filter(pk=roi.pk, version=roi.version).update(
            **clean, version=F("version") + 1, updated_at=now
        )
        if stored:
            for key, value in clean.items():
                setattr(roi, key, value)
            roi.version, roi.updated_at = roi.version + 1, now
            after = _snapshot(roi, roi.save_slice)
            _touch_and_audit(read, user, now, "roi.update", roi, {"before": before_audit, "after": after})
    if not stored:  # another tab saved between our SELECT and UPDATE: nothing was written
        raise StaleEdit(_current(roi.pk))
    events.announce(events.roi_changed, read_id=read.pk, roi_id=roi.pk, action="update", version=roi.version)
    return Saved(_unscored(roi), _stats_shown(read))


def save_roi_delete(*, read_id: int, roi_id: int, user, version) -> None:
    """Delete an ROI (when ``version`` is given, only at that version; else 409)."""
    now = timezone.now()
    roi = _roi_row(user, read_id, roi_id, now, edit=False, sop=None, label=None)
    read = roi.read
    _check_access(read, user, now)
    if version is not None and roi_version(version) != roi.version:
        raise StaleEdit(_current(roi.pk))
    audit = _snapshot(roi, roi.save_before_slice)
    with transaction.atomic(savepoint=False):
        # without a version the ROI is deleted whatever its version (as before); with one, only at that version
        at = {} if version is None else {"version": roi.version}
        deleted, _ = Roi.objects.filter(pk=roi.pk, **at).delete()
        if deleted:
            _touch_and_audit(read, user, now, "roi.delete", roi, audit)
    if not deleted:  # changed (or deleted) elsewhere between our SELECT and DELETE
        raise StaleEdit(_current(roi.pk))
    events.announce(events.roi_changed, read_id=read.pk, roi_id=None, action="delete", deleted_roi_id=roi.pk)
