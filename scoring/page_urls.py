"""Scoring's page routes (mounted at the site root, beside studies' pages)."""

from django.urls import path

from scoring import pages

urlpatterns = [
    # the "Send DICOM SR" form of the study's Hospital DICOM page (studies.dicom_network_pages)
    path("studies/<int:study_id>/dicom/sr-send/", pages.sr_send_page, name="study-sr-send"),
]
