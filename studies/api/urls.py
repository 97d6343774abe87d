"""The one /api/ router."""

from csp.decorators import csp_update
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from . import dicom_network_views, import_views, reference_views, subject_code_views, views
from .auth_views import token_view

docs_view = SpectacularSwaggerSplitView.as_view(url_name="api-schema")

router = DefaultRouter()
router.include_format_suffixes = False
router.register("studies", views.StudyViewSet, basename="api-study")
router.register("reads", views.ReadViewSet, basename="api-read")
router.register("imports", import_views.ImportJobViewSet, basename="api-import")

roi_list = views.RoiViewSet.as_view({"get": "list", "post": "create"})
roi_detail = views.RoiViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)

urlpatterns = [
    path("", include(router.urls)),
    path("studies/<int:pk>/reference/", reference_views.ReferenceImportView.as_view(), name="api-study-reference"),
    path(
        "studies/<int:pk>/reference/template.csv",
        reference_views.ReferenceTemplateView.as_view(),
        name="api-study-reference-template",
    ),
    path(
        "studies/<int:pk>/subject-codes/", subject_code_views.SubjectCodesView.as_view(), name="api-study-subject-codes"
    ),
    path(
        "studies/<int:pk>/subject-codes/rekey/",
        subject_code_views.SubjectCodesRekeyView.as_view(),
        name="api-study-subject-codes-rekey",
    ),
    path(
        "studies/<int:pk>/dicom-receiver/",
        dicom_network_views.DicomReceiverView.as_view(),
        name="api-study-dicom-receiver",
    ),
    path(
        "studies/<int:pk>/dicomweb-servers/",
        dicom_network_views.DicomWebServersView.as_view(),
        name="api-study-dicomweb-servers",
    ),
    path(
        "studies/<int:pk>/dicomweb-servers/<int:server_pk>/",
        dicom_network_views.DicomWebServerDetailView.as_view(),
        name="api-study-dicomweb-server",
    ),
    path(
        "studies/<int:pk>/dicomweb-servers/<int:server_pk>/search/",
        dicom_network_views.DicomWebSearchView.as_view(),
        name="api-study-dicomweb-search",
    ),
    path(
        "studies/<int:pk>/dicomweb-servers/<int:server_pk>/pull/",
        dicom_network_views.DicomWebPullView.as_view(),
        name="api-study-dicomweb-pull",
    ),
    path("reads/<int:read_pk>/rois/", roi_list, name="api-read-roi-list"),
    path("reads/<int:read_pk>/rois/<int:pk>/", roi_detail, name="api-read-roi-detail"),
    path("token/", token_view, name="api-token"),
    # The schema and the docs are for logged-in users only. Swagger UI comes from our static files
    # (drf-spectacular-sidecar) with its init script a separate file (no inline script under the CSP); only its
    # inline styles are allowed, on this page alone.
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", csp_update({"style-src": ["'unsafe-inline'"]})(login_required(docs_view)), name="api-docs"),
]
