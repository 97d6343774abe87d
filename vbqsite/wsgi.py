"""WSGI entry point (gunicorn vbqsite.wsgi --preload).

The URLconf (and so every view module) is imported here, once, rather than on each worker's first request:
with ``--preload`` gunicorn imports this module in the master and forks the workers with it loaded. No
database connection is opened by importing the URLconf, so nothing is shared across the fork.
"""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vbqsite.settings")
django_application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 - imports the URLconf now

from studies.pixel_wsgi import GrantedFiles  # noqa: E402 - after django.setup()

# The viewer's pixel-grant links are answered before Django's middleware stack when valid (studies/pixel_wsgi.py).
application = GrantedFiles(django_application)
