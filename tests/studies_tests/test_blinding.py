"""Blinding (issue #15): a subject code tells a reader nothing about the subject's group or import order."""

from __future__ import annotations

import math
import re
from itertools import cycle

import pytest

from studies.demo import phantom
from studies.models import Case
from studies.services import subject_codes
from studies.services.dicom_import import dicom_import_run
from studies.services.import_cases import patient_digest
from studies.services.subject_codes import ALPHABET, WIDTH, code_width, new_subject_code
from tests import factories as f

CODE = re.compile(rf"S-[{ALPHABET}]{{{WIDTH}}}")
PER_GROUP = 20
# Spearman rho between code rank and group (20 + 20, no ties in the codes): under a random assignment its exact
# null distribution (the Mann-Whitney rank sum, enumerated over all C(40, 20) splits) gives
# P(|rho| >= 0.75) = 1.7e-7, so an honest random draw fails this test with probability < 1e-6; codes in import
# order (all group A first, as the old S001, S002… were) give |rho| = 0.866 and fail it.
RHO_BOUND = 0.75


def _spearman(xs: list[float], ys: list[float]) -> float:
    def ranks(values):
        order = sorted(range(len(values)), key=values.__getitem__)
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2 + 1  # ties share the mean rank
            i = j + 1
        return out

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))


def test_spearman_helper_sees_group_sorted_codes():
    codes = [f"S{n:03d}" for n in range(1, 2 * PER_GROUP + 1)]
    groups = [0] * PER_GROUP + [1] * PER_GROUP
    assert abs(_spearman(list(range(len(codes))), groups)) > 0.86 > RHO_BOUND


@pytest.fixture(scope="module")
def sorted_import_source(tmp_path_factory):
    """40 phantom subjects of two groups, folders named so that every group-A file comes first."""
    root = tmp_path_factory.mktemp("blinding")
    cohort = [s for s in phantom.demo_cohort() if s.cohort == "VBQ"]
    groups = {
        "a": [s for s in cohort if s.group == "normal"][:PER_GROUP],
        "b": [s for s in cohort if s.group == "osteopenia"][:PER_GROUP],
    }
    for name, members in groups.items():
        for i, s in enumerate(members):
            phantom.make_phantom_series(s, out_dir=root / f"{name}-{i:02d}", rng_seed=5)
    return root, {s.patient_id: name for name, members in groups.items() for s in members}


@pytest.mark.django_db
def test_import_gives_codes_that_carry_no_group_information(sorted_import_source):
    root, group_of = sorted_import_source
    study = f.make_study()
    outcome = dicom_import_run(study=study, source=root)
    assert outcome.rejected == 0
    by_digest = {patient_digest(study, pid): group for pid, group in group_of.items()}
    cases = list(Case.objects.filter(study=study).values_list("subject_code", "patient_digest"))
    assert len(cases) == 2 * PER_GROUP
    codes = [code for code, _ in cases]
    groups = [by_digest[digest] for _, digest in cases]

    assert len(set(codes)) == len(codes)
    assert all(CODE.fullmatch(code) for code in codes), codes
    assert len({len(code) for code in codes}) == 1

    rho = _spearman(codes, [0 if g == "a" else 1 for g in groups])
    assert abs(rho) < RHO_BOUND, (rho, sorted(zip(codes, groups, strict=True)))

    # no prefix or suffix beyond the study's "S-" is shared by all of one group's codes
    for group in ("a", "b"):
        mine = [code[2:] for code, g in zip(codes, groups, strict=True) if g == group]
        for k in range(1, WIDTH):
            assert len({c[:k] for c in mine}) > 1 and len({c[-k:] for c in mine}) > 1, (group, k, mine)


def test_generator_width_alphabet_and_uniqueness():
    assert len(ALPHABET) == 32 and not set("0O1I") & set(ALPHABET) and len(set(ALPHABET)) == len(ALPHABET)
    taken: set[str] = set()
    for _ in range(2000):
        code = new_subject_code(taken, prefix="VBQ-")
        assert re.fullmatch(rf"VBQ-[{ALPHABET}]{{4}}", code) and code not in taken
        taken.add(code)
    assert new_subject_code(set()).startswith("S-")


def test_generator_redraws_on_collision():
    draws = cycle("2222" + "2222" + "3456")  # two collisions with the taken code, then a free one
    code = new_subject_code({"S-2222"}, choice=lambda alphabet: next(draws))
    assert code == "S-3456"


def test_generator_widens_for_a_large_study(monkeypatch):
    assert code_width(0) == WIDTH and code_width(32**WIDTH // 4 - 1) == WIDTH
    assert code_width(32**WIDTH // 4) == WIDTH + 1
    monkeypatch.setattr(subject_codes, "code_width", lambda count: 2)
    code = new_subject_code({"S-22"}, choice=lambda alphabet: "2")  # every draw collides: one character more
    assert code == "S-222"
