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
