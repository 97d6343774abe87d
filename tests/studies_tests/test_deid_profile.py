"""The de-identification profile table (PS3.15 Table E.1-1) is data: the shipped file loads, bad files are refused.

No database: run with ``python -m pytest tests/studies_tests -q -p no:django``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.datadict import tag_for_keyword

from studies.dicom import deid_profile
from studies.dicom.deid_profile import ACTION_CODES, BASIC_PROFILE, BASIC_PROFILE_PATH, ProfileError, load_profile

HEADER = "# a comment\ntag,keyword,vr,action,retired\n"


def _table(tmp_path: Path, rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "profile.csv"
    path.write_text(header + rows, encoding="utf-8")
    return path


def test_the_shipped_table_lies_beside_the_module_and_names_its_source():
    assert BASIC_PROFILE_PATH.parent == Path(deid_profile.__file__).resolve().parent / "profiles"
    head = BASIC_PROFILE_PATH.read_text(encoding="utf-8").split("\ntag,keyword", 1)[0]
    assert "PS3.15" in head and "Table E.1-1" in head and "Edition:" in head


def test_the_shipped_table_is_what_the_engine_uses():
    assert load_profile() == BASIC_PROFILE
    assert list(load_profile()) == list(BASIC_PROFILE)  # the file's order (by tag)
    assert len(BASIC_PROFILE) == 587
    assert set(BASIC_PROFILE.values()) <= ACTION_CODES
    tags = [tag_for_keyword(k) for k in BASIC_PROFILE]
    assert tags == sorted(tags)
    assert BASIC_PROFILE["PatientName"] == "Z" and BASIC_PROFILE["SOPInstanceUID"] == "U"
    assert BASIC_PROFILE["ContentDate"] == "Z/D" and BASIC_PROFILE["ReferencedImageSequence"] == "X/Z/U"


def test_a_small_table_loads_in_its_order(tmp_path):
    path = _table(tmp_path, '"(0010,0020)",PatientID,LO,Z,\n"(0008,0018)",SOPInstanceUID,UI,U,\n\n# end\n')
    assert list(load_profile(path).items()) == [("PatientID", "Z"), ("SOPInstanceUID", "U")]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ('"(0010,0010)",PatientName,PN,R,\n', "line 3: unknown action code 'R' for PatientName"),
        ('"(0010,0010)",PatientName,PN,X/K,\n', "unknown action code 'X/K'"),
        ('"(0010,0010)",PatientName,PN,,\n', "unknown action code ''"),
        ('"(0010,0010)",PatientsName,PN,X,\n', "'PatientsName' is not a keyword of pydicom's data dictionary"),
        (
            '"(0010,0020)",PatientName,PN,X,\n',
            "PatientName is (0010,0010) in pydicom's data dictionary, not (0010,0020)",
        ),
        ("(0010;0010),PatientName,PN,X,\n", "the tag '(0010;0010)' is not of the form (GGGG,EEEE)"),
        ('"(0010,0010)",PatientName,PN,X\n', "4 columns instead of 5"),
        ('"(0010,0010)",PatientName,PN,X,\n"(0010,0010)",PatientName,PN,Z,\n', "line 4: PatientName is given twice"),
        ('"(0010,0010)",PatientName,pn,X,\n', "vr must be two capital letters"),
    ],
)
def test_a_bad_row_is_refused_naming_the_line(tmp_path, rows, message):
    with pytest.raises(ProfileError, match=r"profile\.csv, line") as raised:
        load_profile(_table(tmp_path, rows))
    assert message in str(raised.value)


def test_a_file_without_header_or_rows_or_at_all_is_refused(tmp_path):
    with pytest.raises(ProfileError, match="the header must be tag,keyword,vr,action,retired"):
        load_profile(_table(tmp_path, '"(0010,0010)",PatientName,PN,X,\n', header="# no header\n"))
    with pytest.raises(ProfileError, match="has no rows"):
        load_profile(_table(tmp_path, ""))
    with pytest.raises(ProfileError, match="cannot be read"):
        load_profile(tmp_path / "missing.csv")
