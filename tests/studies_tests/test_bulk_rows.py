"""``insert_rows`` stores what ``bulk_create`` stores (on SQLite and on PostgreSQL, whichever the suite runs on)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.forms.models import model_to_dict

from studies.models import Instance, Series
from studies.services.bulk_rows import insert_rows
from tests.factories import make_case, make_study

pytestmark = pytest.mark.django_db


def _row(series: Series, n: int, **extra) -> dict[str, object]:
    return {
        "series_id": series.pk,
        "sop_instance_uid": f"2.25.{n}",
        "source_digest": f"{n:064d}",
        "file": f"studies/x/{n}.dcm",
        "sha256": "ab" * 32,
        "size": 2**40 + n,  # beyond 32 bits
        "instance_number": None if n == 2 else n,
        "slice_position": -12.5 * n,
        "image_position": [1.5, -2.0, 3.25 * n],
        "image_orientation": [0.0, 1.0, 0.0, 0.0, 0.0, -1.0],
        **extra,
    }


def _stored(series: Series, prefix: str) -> list[dict]:
    found = Instance.objects.filter(series=series, sop_instance_uid__startswith=prefix).order_by("sop_instance_uid")
    return [model_to_dict(i, exclude=["id"]) | {"file": i.file.name} for i in found]


def test_rows_read_back_as_bulk_create_stores_them():
    series = make_case(make_study(), n_slices=1).primary_series
    insert_rows(Instance, [_row(series, n) for n in range(1, 4)])
    expected = []
    for n in range(1, 4):
        row = _row(series, n, sop_instance_uid=f"9.{n}", source_digest=f"9{n:063d}")
        inst = Instance(**{k: v for k, v in row.items() if k != "file"})
        inst.file.name = row["file"]
        expected.append(inst)
    Instance.objects.bulk_create(expected)
    got, via_bulk_create = _stored(series, "2.25."), _stored(series, "9.")
    assert len(got) == len(via_bulk_create) == 3
    for n, (mine, theirs) in enumerate(zip(got, via_bulk_create, strict=True), 1):
        assert mine == theirs | {"sop_instance_uid": f"2.25.{n}", "source_digest": f"{n:064d}"}
    assert got[1]["instance_number"] is None and got[0]["image_position"] == [1.5, -2.0, 3.25]
    assert got[0]["size"] == 2**40 + 1


def test_fields_left_out_take_their_defaults():
    series = make_case(make_study(), n_slices=1).primary_series
    row = _row(series, 7)
    for name in ("size", "slice_position", "image_orientation"):
        del row[name]
    insert_rows(Instance, [row])
    inst = Instance.objects.get(sop_instance_uid="2.25.7")
    assert (inst.size, inst.slice_position, inst.image_orientation) == (0, 0.0, [])


def test_an_unknown_name_is_refused_and_nothing_is_stored():
    series = make_case(make_study(), n_slices=1).primary_series
    before = Instance.objects.count()
    with pytest.raises(ValueError, match="no field series to insert"):
        insert_rows(Instance, [_row(series, 1) | {"series": series}])
    assert Instance.objects.count() == before


def test_a_broken_constraint_raises_integrity_error_and_rolls_back_with_the_transaction():
    series = make_case(make_study(), n_slices=1).primary_series
    before = Instance.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Instance, [_row(series, 1), _row(series, 2, sop_instance_uid="2.25.1")])
    assert Instance.objects.count() == before
    insert_rows(Instance, [])  # nothing to do
    assert Instance.objects.count() == before
