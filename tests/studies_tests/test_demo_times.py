"""The demo's simulated readers record plausible times per case (issue #17 point 4): 60–240 s, reproducible,
one sitting per reader and read number, read 2 after the washout; the reads page and progress show them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from studies.demo import simulate
from studies.models import Read, Study
from studies.pages import _pi_progress

CODES = [f"VBQ-{k:03d}" for k in range(1, 41)]


def test_case_seconds_are_plausible_and_reproducible():
    seconds = [simulate.case_seconds(c, reader="reader2", read_number=1) for c in CODES]
    assert all(60.0 <= s <= 240.0 for s in seconds)
    assert len(set(seconds)) > 30  # cases differ
    assert seconds == [simulate.case_seconds(c, reader="reader2", read_number=1) for c in CODES]
    other = [simulate.case_seconds(c, reader="reader3", read_number=1) for c in CODES]
    assert other != seconds  # readers differ


def test_reading_session_is_one_sitting_in_worklist_order():
    end = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    timings = simulate.reading_session(CODES, reader="reader2", read_number=1, end=end)
    assert len(timings) == len(CODES) and timings[-1].submitted_at == end
    for t, code in zip(timings, CODES, strict=True):
        assert t.submitted_at - t.opened_at == timedelta(seconds=t.seconds)
        assert t.seconds == simulate.case_seconds(code, reader="reader2", read_number=1)
    for before, after in itertools.pairwise(timings):
        pause = (after.opened_at - before.submitted_at).total_seconds()
        assert simulate.PAUSE_SECONDS[0] <= pause <= simulate.PAUSE_SECONDS[1]
    assert timings == simulate.reading_session(CODES, reader="reader2", read_number=1, end=end)


@pytest.mark.django_db
def test_demo_reads_have_plausible_times(settings, tmp_path, client):
    settings.VAR_DIR = tmp_path
    before = timezone.now()
    call_command("demo", subjects=3, only=["VBQ"])
    study = Study.objects.get(name="VBQ vs QCT (demo)")
    simulated = list(
        Read.objects.filter(study=study, reader__username__in=("reader2", "reader3")).order_by(
            "reader_id", "read_number", "order_index"
        )
    )
    assert len(simulated) == 3 * 2 * 2 and {r.status for r in simulated} == {"submitted"}
    for read in simulated:
        assert 60.0 <= read.time_on_task_seconds <= 240.0
        assert (read.submitted_at - read.started_at).total_seconds() == pytest.approx(read.time_on_task_seconds)
        assert read.submitted_at <= before + timedelta(minutes=1)
    by = {(r.reader_id, r.read_number): [] for r in simulated}
    for read in simulated:
        by[(read.reader_id, read.read_number)].append(read)
    for (reader_id, number), reads in by.items():
        # worklist order is the order of the sitting
        assert all(a.submitted_at < b.started_at for a, b in itertools.pairwise(reads))
        if number == 2:
            last_first = max(r.submitted_at for r in by[(reader_id, 1)])
            assert min(r.started_at for r in reads) >= last_first + timedelta(days=study.washout_days)
    # The PI's progress and reads page show the time spent.
    rows = [row for row in _pi_progress(study) if row["reader"] in ("reader2", "reader3")]
    assert rows and all(60 <= row["per_case"] <= 240 for row in rows)
    client.force_login(study.memberships.get(role="pi").user)
    html = client.get(reverse("study-reads", args=[study.pk]) + "?status=submitted").content.decode()
    for read in simulated:  # "m:ss" in the time-spent column
        seconds = round(read.time_on_task_seconds)
        assert f"{seconds // 60}:{seconds % 60:02d}" in html
