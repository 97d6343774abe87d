"""URLs: server-rendered pages, /api/ (one DRF router), /healthz and the admin."""

from django.contrib import admin
from django.urls import include, path

from studies import health
from vbqsite.favicon import favicon

urlpatterns = [
    path("", include("studies.urls")),
    path("", include("notifications.urls")),
    path("", include("scoring.page_urls")),
    path("api/analytics/", include("analytics.api.urls")),
    path("api/", include("scoring.urls")),
    path("api/", include("studies.api.urls")),
    path("studies/<int:study_id>/analytics/", include("analytics.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
]
