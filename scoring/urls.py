"""Scoring's API routes (mounted under /api/)."""

from django.urls import path

from scoring import api, sr_api

urlpatterns = [
    path("studies/<int:pk>/rescore/", api.StudyRescoreView.as_view(), name="api-study-rescore"),
    # DICOM SR (TID 1500) of submitted reads: one read, a case's reads, the whole study (issue #19 point 4)
    path("reads/<int:pk>/sr/", sr_api.ReadSrView.as_view(), name="api-read-sr"),
    path("studies/<int:pk>/cases/<int:case_id>/sr/", sr_api.CaseSrView.as_view(), name="api-case-sr"),
    path("studies/<int:pk>/sr/", sr_api.StudySrView.as_view(), name="api-study-sr"),
    path("studies/<int:pk>/sr/send/", sr_api.StudySrSendView.as_view(), name="api-study-sr-send"),
]
