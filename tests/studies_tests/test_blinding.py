"""Blinding (issue #15): nothing a reader sees tells the subject's group or import order.

For a group-sorted import and for the demo (whose phantom folders and original dates follow the groups), every
reader-visible field is checked against the groups with one helper (:func:`_assert_blind`): subject codes, the
order of the reader's worklist, Study/Series/SOP Instance UIDs, the shifted dates, the stored file names and the
instance numbers; and every list a reader sees follows the randomised worklist, not the codes.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from itertools import cycle

import pytest
from django.core.management import call_command
from django.urls import reverse
from pydicom import dcmread

from studies.demo import phantom
from studies.models import Case, Instance, Read, Study, instance_file_name
from studies.services import subject_codes
from studies.services.dicom_import import dicom_import_run
from studies.services.import_cases import patient_digest
from studies.services.reading import reading_plan_build, reads_for_reader
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


def _null_p(n_a: int, n_b: int, bound: float) -> float:
    """Exact P(|rho| >= bound) between rank (no ties) and group under a random assignment of n_a + n_b subjects:
    the distribution of group b's rank sum W (the Mann-Whitney statistic), counted over all C(n, n_b) subsets;
    rho = (W - n_b (n + 1) / 2) / sqrt((n^2 - 1) / 12 * n_a * n_b)."""
    n = n_a + n_b
    total = n * (n + 1) // 2
    counts = [[0] * (total + 1) for _ in range(n_b + 1)]
    counts[0][0] = 1
    for r in range(1, n + 1):
        for k in range(min(r, n_b), 0, -1):
            row, prev = counts[k], counts[k - 1]
            for w in range(total, r - 1, -1):
                row[w] += prev[w - r]
    scale = math.sqrt((n * n - 1) / 12 * n_a * n_b)
    hits = sum(c for w, c in enumerate(counts[n_b]) if abs(w - n_b * (n + 1) / 2) / scale >= bound - 1e-12)
    return hits / math.comb(n, n_b)


def _common_prefix(values: list[str]) -> str:
    first, last = min(values), max(values)
    n = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), min(len(first), len(last)))
    return first[:n]


def _assert_no_group_signal(what: str, values: list, groups: list[str]) -> None:
    """One value per subject (or per file) and its group: no rank correlation beyond RHO_BOUND, and no prefix or
    suffix that all of one group's values share beyond what every value shares (e.g. "2.25." or "S-").

    The bound holds for these group sizes with an exact null probability < 1e-6 (checked here); ties (equal
    dates) share ranks, which changes that probability very little."""
    labels = sorted(set(groups))
    assert len(labels) == 2, labels
    sizes = [groups.count(g) for g in labels]
    if sum(sizes) <= 60:
        assert _null_p(*sizes, RHO_BOUND) < 1e-6, (what, sizes)  # the bound is as strict for these sizes
    else:  # one value per file: the null SD of rho is 1/sqrt(n - 1), so the bound is stricter still
        assert RHO_BOUND * math.sqrt(sum(sizes) - 1) > 5, (what, sizes)
    rho = _spearman(values, [labels.index(g) for g in groups])
    assert abs(rho) < RHO_BOUND, (what, rho, sorted(zip(values, groups, strict=True)))
    texts = [str(v) for v in values]
    every_prefix, every_suffix = _common_prefix(texts), _common_prefix([t[::-1] for t in texts])
    for group in labels:
        mine = [t for t, g in zip(texts, groups, strict=True) if g == group]
        assert _common_prefix(mine) == every_prefix, (what, group, "prefix", _common_prefix(mine))
        assert _common_prefix([t[::-1] for t in mine]) == every_suffix, (what, group, "suffix")


def _dicom_date(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%Y%m%d").date()


def _assert_blind(study: Study, group_of: dict[str, str], original_date: dict[str, str]) -> None:
    """Every reader-visible field of ``study`` against the subjects' groups (``group_of`` and ``original_date``
    by keyed Patient ID digest): codes, the worklist order, UIDs, dates, file names and instance numbers."""
    cases = list(Case.objects.filter(study=study))
    group = {c.pk: group_of[c.patient_digest] for c in cases}
    groups = [group[c.pk] for c in cases]
    codes = [c.subject_code for c in cases]
    assert len(set(codes)) == len(codes) and len({len(c) for c in codes}) == 1
    _assert_no_group_signal("subject code", codes, groups)

    # the order the reader sees: positions in the worklist of each read number
    reader = study.memberships.filter(role="reader").first().user
    reads = list(reads_for_reader(study=study, reader=reader))
    for number in {r.read_number for r in reads}:
        mine = [r for r in reads if r.read_number == number]
        assert [r.order_index for r in mine] == list(range(len(cases)))
        _assert_no_group_signal(
            f"worklist order, read {number}", [r.order_index for r in mine], [group[r.case_id] for r in mine]
        )

    # what the stored files say, subject by subject
    per_case: dict[int, dict] = {
        c.pk: {"study": set(), "series": set(), "sops": [], "dates": set(), "numbers": []} for c in cases
    }
    code_of = {c.pk: c.subject_code for c in cases}
    for inst in Instance.objects.filter(series__case__study=study).select_related("series"):
        case_id = inst.series.case_id
        ds = dcmread(inst.file.path, stop_before_pixels=True)
        seen = per_case[case_id]
        assert ds.PatientID == code_of[case_id] and str(ds.PatientName) == code_of[case_id]
        assert ds.SOPInstanceUID == inst.sop_instance_uid and ds.SeriesInstanceUID == inst.series.series_instance_uid
        seen["study"].add(ds.StudyInstanceUID)
        seen["series"].add(ds.SeriesInstanceUID)
        seen["sops"].append((inst.slice_position, inst.pk, ds.SOPInstanceUID))
        seen["dates"] |= {ds.get(k) for k in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")}
        assert int(ds.InstanceNumber) == inst.instance_number
        seen["numbers"].append(inst.instance_number)
        # the stored name is made of the study, the code and the remapped UIDs only (each checked here)
        assert inst.file.name == instance_file_name(
            study.pk, code_of[case_id], inst.series.series_instance_uid, f"{inst.sop_instance_uid}.dcm"
        )
    for what in ("study", "series"):
        assert all(len(v[what]) == 1 for v in per_case.values()), what
        values = [next(iter(per_case[c.pk][what])) for c in cases]
        assert all(re.fullmatch(r"2\.25\.[0-9]{30,39}", u) for u in values), values
        _assert_no_group_signal(f"{what} instance UID", values, groups)
    # one SOP Instance UID per subject: its first slice's (the smallest of its UIDs would be a biased pick)
    _assert_no_group_signal("first slice's SOP instance UID", [min(per_case[c.pk]["sops"])[2] for c in cases], groups)
    sops = [(sop, group[c.pk]) for c in cases for *_, sop in per_case[c.pk]["sops"]]
    _assert_no_group_signal("every SOP instance UID", [u for u, _ in sops], [g for _, g in sops])
    paths = [
        (i.file.name.rsplit("/", 1)[-1], group[i.series.case_id])
        for i in Instance.objects.filter(series__case__study=study).select_related("series")
    ]
    _assert_no_group_signal("stored file name", [p for p, _ in paths], [g for _, g in paths])

    # dates: one shift per subject (all its dates), random across subjects, never the original order
    shifted, offsets = [], []
    for c in cases:
        dates = per_case[c.pk]["dates"]
        assert len(dates) == 1, dates
        day = _dicom_date(next(iter(dates)))
        offset = (day - _dicom_date(original_date[c.patient_digest])).days
        assert offset == c.date_offset_days and -3650 <= offset <= -365
        shifted.append(day.isoformat())
        offsets.append(offset)
    assert len(set(offsets)) >= len(offsets) - 3  # per subject: a few equal shifts by chance at most
    _assert_no_group_signal("shifted date", shifted, groups)
    _assert_no_group_signal("date shift", offsets, groups)

    # instance numbers are the scanner's, per series: the same numbering in both groups
    numbering = {g: {tuple(sorted(per_case[c.pk]["numbers"])) for c in cases if group[c.pk] == g} for g in set(groups)}
    assert len(set().union(*numbering.values())) == 1, numbering


def test_null_probability_of_the_bound():
    assert _null_p(20, 20, RHO_BOUND) == pytest.approx(1.69e-7, rel=0.01)  # the figure quoted above
    assert _null_p(2, 2, 0.89) == pytest.approx(2 / 6)  # ranks {1,2} or {3,4} of group b: |rho| = 0.894
    assert _null_p(2, 2, 0.9) == 0.0
    assert _null_p(5, 5, 0.0) == 1.0


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
    subjects = [s for members in groups.values() for s in members]
    return root, {s.patient_id: name for name, members in groups.items() for s in members}, subjects


@pytest.mark.django_db
def test_import_gives_codes_that_carry_no_group_information(sorted_import_source):
    root, group_of, subjects = sorted_import_source
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

    # every other reader-visible field, with a reader's worklist built
    f.add_member(study, f.make_user())
    reading_plan_build(study=study)
    _assert_blind(study, by_digest, {patient_digest(study, s.patient_id): s.study_date for s in subjects})


@pytest.mark.django_db
def test_demo_shows_readers_nothing_of_the_groups(settings, tmp_path):
    """The demo's first 42 VBQ subjects: 21 normal then 21 osteopenia, in folders, labels and original dates
    that follow the groups (a small N would hold one group only); not simulated (~15 s)."""
    settings.VAR_DIR = tmp_path
    call_command("demo", subjects=42, only=["VBQ"], no_simulate=True)
    study = Study.objects.get(name="VBQ vs QCT (demo)")
    members = [s for s in phantom.demo_cohort() if s.cohort == "VBQ"][:42]
    assert {s.group for s in members} == {"normal", "osteopenia"}
    by_digest = {patient_digest(study, s.patient_id): s for s in members}
    assert all(
        re.fullmatch(rf"VBQ-[{ALPHABET}]{{{WIDTH}}}", c) for c in Case.objects.values_list("subject_code", flat=True)
    )
    _assert_blind(study, {d: s.group for d, s in by_digest.items()}, {d: s.study_date for d, s in by_digest.items()})


@pytest.mark.django_db
def test_every_list_a_reader_sees_follows_the_worklist_not_the_codes(client):
    """Codes whose sort order is the reverse of the worklist: the study page, /api/reads/ and the viewer's
    next-case link follow order_index."""
    study = f.make_study()
    reader = f.make_user()
    f.add_member(study, reader)
    codes = ["S-2AAA", "S-3BBB", "S-4CCC", "S-5DDD"]
    cases = {code: Case.objects.create(study=study, subject_code=code) for code in codes}
    worklist = list(reversed(codes))  # order_index 0 is the code that sorts last
    reads = {}
    for number in (1, 2):
        for index, code in enumerate(worklist if number == 1 else codes[1:] + codes[:1]):
            reads[number, code] = Read.objects.create(
                study=study, case=cases[code], reader=reader, read_number=number, order_index=index
            )
    client.force_login(reader)

    page = client.get(reverse("study-detail", args=[study.pk])).content.decode()
    first_round = page[page.index('data-read-number="1"') : page.index('data-read-number="2"')]
    assert [c for c in re.findall(r"S-[0-9A-Z]{4}", first_round) if c in codes][1:] == worklist  # after "Start: …"
    assert f"Start: {worklist[0]}" in first_round

    listed = client.get(reverse("api-read-list"), {"study": study.pk}).json()
    assert [(r["read_number"], r["subject_code"]) for r in listed] == [(1, c) for c in worklist]  # read 2 is closed

    # next case: the one after this read in the worklist (then from the top), never the next code
    viewer = client.get(reverse("read-viewer", args=[reads[1, worklist[1]].pk]))
    assert viewer.context["cfg"]["nextUrl"] == reverse("read-viewer", args=[reads[1, worklist[2]].pk])
    last = client.get(reverse("read-viewer", args=[reads[1, worklist[-1]].pk]))
    assert last.context["cfg"]["nextUrl"] == reverse("read-viewer", args=[reads[1, worklist[0]].pk])
    Read.objects.filter(pk=reads[1, worklist[2]].pk).update(status=Read.Status.SUBMITTED)
    viewer = client.get(reverse("read-viewer", args=[reads[1, worklist[1]].pk]))
    assert viewer.context["cfg"]["nextUrl"] == reverse("read-viewer", args=[reads[1, worklist[3]].pk])


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
