"""Issue #23 (a real sagittal T1 lumbar series): worklist positions after plan extensions, the study
creator's role in the create response, one slice numbering everywhere, and the default window."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from studies.models import Membership, Read
from studies.services.reading import reading_plan_build
from tests import factories as f

pytestmark = pytest.mark.django_db


def _assert_worklists_are_permutations(study) -> None:
    worklists: dict[tuple[int, int], list[int]] = {}
    for reader_id, number, index in Read.objects.filter(study=study).values_list(
        "reader_id", "read_number", "order_index"
    ):
        worklists.setdefault((reader_id, number), []).append(index)
    assert worklists
    for key, indexes in worklists.items():
        assert sorted(indexes) == list(range(len(indexes))), (key, sorted(indexes))


def test_plan_extensions_keep_every_worklist_a_permutation():
    pi = f.make_user()
    study = f.make_study(pi, reads_per_reader=2)
    waiting = [f.make_user() for _ in range(4)]  # readers not yet in the study
    f.add_member(study, waiting.pop())
    codes = (f"C{k:02d}" for k in range(100))
    for _ in range(3):
        f.make_case(study, next(codes), n_slices=1)
    assert reading_plan_build(study=study) == 1 * 3 * 2
    _assert_worklists_are_permutations(study)
    before = dict(Read.objects.values_list("pk", "order_index"))

    # Extension 1: two cases; 2: a reader and a case; 3: two readers and three cases; 4: nothing new.
    for new_readers, new_cases in ((0, 2), (1, 1), (2, 3), (0, 0)):
        for _ in range(new_readers):
            f.add_member(study, waiting.pop())
        for _ in range(new_cases):
            f.make_case(study, next(codes), n_slices=1)
        reading_plan_build(study=study)
        _assert_worklists_are_permutations(study)
        assert dict(Read.objects.filter(pk__in=before).values_list("pk", "order_index")) == before  # never moved
        before = dict(Read.objects.values_list("pk", "order_index"))

    assert study.cases.count() == 3 + 2 + 1 + 3
    assert Membership.objects.filter(study=study, role=Membership.Role.READER).count() == 4
    assert Read.objects.filter(study=study).count() == 4 * 9 * 2


def test_a_new_worklist_follows_the_seeded_order():
    from studies.services.reading import worklist_order

    pi = f.make_user()
    study = f.make_study(pi, reads_per_reader=1)
    reader = f.make_user("ordered_reader")
    f.add_member(study, reader)
    for k in range(5):
        f.make_case(study, f"W{k}", n_slices=1)
    reading_plan_build(study=study)
    got = list(Read.objects.filter(reader=reader).order_by("order_index").values_list("case__subject_code", flat=True))
    codes = [f"W{k}" for k in range(5)]
    assert got == worklist_order(
        seed=study.randomisation_seed, reader_key="ordered_reader", read_number=1, case_codes=codes
    )


def test_study_create_response_carries_the_creators_role(client):
    pi = f.allow_study_creation(f.make_user())
    client.force_login(pi)
    response = client.post(reverse("api-study-list"), data=json.dumps({"name": "New"}), content_type="application/json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["role"] == "pi"
    assert client.get(reverse("api-study-detail", args=[created["id"]])).json()["role"] == "pi"


# ------------------------------------------------------------------------------------------- slice numbers

N_SLICES = 6


@pytest.fixture
def reversed_numbers(db, django_capture_on_commit_callbacks):
    """A series whose Instance Numbers run against the slice normal (6 at the first position … 1 at the last),
    and a read with L1 on slice 4 and L2 on slice 2 (as the viewer numbers them)."""
    from studies.models import Instance

    pi = f.make_user()
    study = f.make_study(pi, same_slice_required=False)
    reader = f.make_user()
    f.add_member(study, reader)
    case = f.make_case(study, "REV-01", n_slices=N_SLICES)
    for k, inst in enumerate(case.primary_series.instances.order_by("slice_position")):
        Instance.objects.filter(pk=inst.pk).update(instance_number=N_SLICES - k)
    read = f.make_read(case, reader)
    with django_capture_on_commit_callbacks(execute=True):
        f.make_roi(read, **f.roi_payload(case, "L1", shape="ellipse", box=(10, 10, 20, 20), index=3))
        f.make_roi(read, **f.roi_payload(case, "L2", shape="ellipse", box=(10, 30, 20, 40), index=1))
    return type("Reversed", (), dict(pi=pi, study=study, reader=reader, case=case, read=read))


def test_slice_number_is_the_position_along_the_normal(reversed_numbers):
    from studies.dicom_views import series_payload
    from studies.slices import ordered_instances, slice_refs, study_slice_refs

    w = reversed_numbers
    instances = list(ordered_instances(w.case.primary_series))
    positions = [i.slice_position for i in instances]
    assert positions == sorted(positions)
    refs = slice_refs([i.sop_instance_uid for i in instances])
    assert [refs[i.sop_instance_uid].number for i in instances] == list(range(1, N_SLICES + 1))
    assert [refs[i.sop_instance_uid].instance_number for i in instances] == list(range(N_SLICES, 0, -1))
    assert study_slice_refs(w.study.pk) == refs

    payload = series_payload(w.case.primary_series)["instances"]
    assert [p["sop"] for p in payload] == [i.sop_instance_uid for i in instances]  # the viewer's stack order
    assert [p["slice_number"] for p in payload] == list(range(1, N_SLICES + 1))
    assert [p["instance_number"] for p in payload] == list(range(N_SLICES, 0, -1))


def test_checks_audit_and_export_name_the_viewers_slice(reversed_numbers, client):
    from analytics.sections.exports import roi_measurements_csv
    from studies.models import AuditEvent

    w = reversed_numbers
    client.force_login(w.reader)
    warnings = client.get(reverse("api-read-checks", args=[w.read.pk])).json()["warnings"]
    assert "ROIs are on different slices (L1: slice 4, L2: slice 2)." in warnings  # not Instance Numbers 3, 5

    created = {e.data["label"]: e.data for e in AuditEvent.objects.filter(action="roi.create", study=w.study)}
    assert created["L1"]["slice_number"] == 4 and created["L2"]["slice_number"] == 2

    rows = {r["label"]: r for r in csv.DictReader(io.StringIO(roi_measurements_csv(w.study).decode()))}
    assert (rows["L1"]["slice_number"], rows["L1"]["instance_number"]) == ("4", "3")
    assert (rows["L2"]["slice_number"], rows["L2"]["instance_number"]) == ("2", "5")
