"""The OpenAPI schema is generated without a warning and is valid OpenAPI: exactly
``manage.py spectacular --validate --fail-on-warn`` (an untyped field or path parameter, an enum name collision,
a response without a serializer all fail here, with drf-spectacular's message)."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS

pytestmark = pytest.mark.django_db


def test_the_schema_has_no_warning_and_validates(tmp_path, capsys):
    GENERATOR_STATS.reset()  # warnings are remembered per process: another test may have generated the schema
    out = tmp_path / "schema.yaml"
    try:
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    except Exception as exc:  # SchemaGenerationError (warnings) or a validation error
        pytest.fail(f"{exc}\n{capsys.readouterr().err}")
    finally:
        GENERATOR_STATS.reset()
    schema = yaml.safe_load(out.read_text())
    enums = [name for name in schema["components"]["schemas"] if name.endswith("Enum")]
    assert "ReadStatusEnum" in enums and not [n for n in enums if any(c.isdigit() for c in n)], enums
