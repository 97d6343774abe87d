"""Shared lookup for management commands taking a STUDY argument."""

import sys

from studies.models import Study


def find_study(ref: str) -> Study:
    study = Study.objects.filter(pk=int(ref)).first() if ref.isdigit() else Study.objects.filter(name=ref).first()
    if study is None:
        sys.stderr.write(f"No study with id or name {ref!r}.\n")
        sys.exit(2)
    return study
