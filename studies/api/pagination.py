"""Paginated lists whose body stays a JSON array (the shape clients already read).

``?limit=`` (default 100, at most 500) and ``?offset=`` select the page; the response says where the rest is
in headers: ``X-Total-Count`` (all rows) and ``Link`` with ``rel="next"`` / ``rel="prev"`` (RFC 8288), as
GitHub's API does. A client that ignores them gets the first 100 rows, unchanged otherwise.
"""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

__all__ = ["HeaderLimitOffsetPagination"]


class HeaderLimitOffsetPagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 500

    def get_paginated_response(self, data):
        links = [
            f'<{url}>; rel="{rel}"'
            for rel, url in (("next", self.get_next_link()), ("prev", self.get_previous_link()))
            if url
        ]
        headers = {"X-Total-Count": str(self.count)}
        if links:
            headers["Link"] = ", ".join(links)
        return Response(data, headers=headers)

    def get_paginated_response_schema(self, schema):
        return schema
