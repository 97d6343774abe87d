"""Scoring's API routes (mounted under /api/)."""

from django.urls import path

from scoring import api

urlpatterns = [
    path("studies/<int:pk>/rescore/", api.StudyRescoreView.as_view(), name="api-study-rescore"),
]
