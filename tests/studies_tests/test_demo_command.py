"""`manage.py demo` (README command 1) builds the demo through the real import path, and a re-run changes nothing."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from scoring.models import ReadScore
from studies.demo import phantom
from studies.models import Case, Instance, Read, ReferenceRecord, Study
from studies.services.import_cases import patient_digest

pytestmark = pytest.mark.django_db


def test_demo_builds_studies_readers_and_simulated_reads(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("demo", subjects=2)
    vbq = Study.objects.get(name="VBQ vs QCT (demo)")
    assert Study.objects.filter(name="SNR / M-score vs DEXA (demo)").exists()
    cases = list(Case.objects.filter(study=vbq).select_related("reference"))
    # opaque codes (issue #15), and each case's reference row is its own phantom subject's (matched by Patient ID)
    assert len(cases) == 2 and all(re.fullmatch(r"VBQ-[2-9A-HJ-NP-Z]{4}", c.subject_code) for c in cases)
    cohort = {patient_digest(vbq, s.patient_id): s for s in phantom.demo_cohort() if s.cohort == "VBQ"}
    for case in cases:
        assert case.reference.t_score == pytest.approx(cohort[case.patient_digest].t_score, abs=0.051)
    assert Instance.objects.filter(series__case__study=vbq).count() == 2 * 13
    assert ReferenceRecord.objects.filter(case__study=vbq).count() == 2
    assert vbq.memberships.count() == 4
    simulated = Read.objects.filter(study=vbq, reader__username__in=("reader2", "reader3"))
    assert simulated.count() == 2 * 2 * 2 and set(simulated.values_list("status", flat=True)) == {"submitted"}
    assert ReadScore.objects.filter(read__in=simulated, vbq__isnull=False).count() == 8
    assert Read.objects.filter(study=vbq, reader__username="reader1", status="not_started").count() == 4
    counts = (Case.objects.count(), Instance.objects.count(), Read.objects.count(), ReadScore.objects.count())
    call_command("demo", subjects=2)
    assert (Case.objects.count(), Instance.objects.count(), Read.objects.count(), ReadScore.objects.count()) == counts
