"""Request parsing shared by every API endpoint (DRF ``DEFAULT_PARSER_CLASSES``).

Every JSON body the API accepts is an object: a list, a string, a number or ``null`` is refused here, once, with
400 ``{"detail": "The request body must be a JSON object.", ...}``, before any view sees it.
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

NOT_AN_OBJECT = "The request body must be a JSON object."


class ObjectJSONParser(JSONParser):
    """DRF's strict JSON parser (no NaN / Infinity), refusing any top-level value that is not an object."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if not isinstance(data, dict):
            raise ParseError(NOT_AN_OBJECT)
        return data
