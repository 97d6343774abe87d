"""/favicon.ico: browsers ask for it on every site whatever the page says (the login page, the admin, API docs)."""

from __future__ import annotations

from pathlib import Path

from django.http import HttpResponse
from django.views.decorators.http import require_safe

# The same file the pages link to ({% static 'vbq/favicon.ico' %} in templates/base.html).
FAVICON = Path(__file__).resolve().parent.parent / "studies" / "static" / "vbq" / "favicon.ico"
_ICON = FAVICON.read_bytes()


@require_safe
def favicon(request):
    """The site icon, cacheable for a day, no login needed (it is not data)."""
    response = HttpResponse(_ICON, content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response
