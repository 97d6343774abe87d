"""The reference-data CSV columns, shared by the importer and the demo generator (no Django imports)."""

from typing import Final

#: The known columns of a reference-data CSV, in template order.
REFERENCE_COLUMNS: Final = (
    "subject_code",
    "reference_modality",
    "t_score",
    "bmd",
    "z_score",
    "tbs",
    "age",
    "sex",
    "bmi",
    "diabetes",
    "hyperlipidemia",
    "control",
)

#: The ReferenceRecord fields those columns fill (``reference_modality`` → ``modality``; ``control`` is a case
#: flag), in the same order: what the API shows the PI and what the analytics' inputs digest covers.
REFERENCE_FIELDS: Final = (
    "modality",
    "t_score",
    "bmd",
    "z_score",
    "tbs",
    "age",
    "sex",
    "bmi",
    "diabetes",
    "hyperlipidemia",
)
