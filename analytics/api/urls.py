"""Analytics API endpoints (PI only), under /api/analytics/."""

from django.urls import path

from . import views

urlpatterns = [
    path("studies/<int:study_id>/", views.SectionListView.as_view(), name="api-analytics-sections"),
    path(
        "studies/<int:study_id>/exports/<slug:kind>.csv",
        views.ExportView.as_view(),
        name="api-analytics-export",
    ),
    path(
        "studies/<int:study_id>/agreement-readers/",
        views.AgreementReadersView.as_view(),
        name="api-analytics-agreement-readers",
    ),
    path("studies/<int:study_id>/snapshot/", views.SnapshotView.as_view(), name="api-analytics-snapshot"),
    path("studies/<int:study_id>/snapshot.zip", views.SnapshotZipView.as_view(), name="api-analytics-snapshot-zip"),
    path("studies/<int:study_id>/<slug:section>/", views.SectionView.as_view(), name="api-analytics-section"),
]
