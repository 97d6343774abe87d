"""Server-rendered pages of the studies app."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import dicom_views, import_pages, pages, reference_pages, subject_code_pages, subject_key_pages, viewer_page
from .audit_pages import site_audit, site_audit_csv, study_audit, study_audit_csv
from .dicom_network_pages import dicom_network_page
from .reads_page import study_read_action, study_reads

urlpatterns = [
    path("", pages.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password/change/",
        auth_views.PasswordChangeView.as_view(success_url=reverse_lazy("password-change-done")),
        name="password-change",
    ),
    path("password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password-change-done"),
    path(
        "password/set/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            success_url=reverse_lazy("password-set-done"), template_name="registration/password_set.html"
        ),
        name="password-set",
    ),
    path(
        "password/set/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="registration/password_set_done.html"),
        name="password-set-done",
    ),
    path("studies/", pages.study_list, name="study-list"),
    path("studies/new/", pages.study_create, name="study-create"),
    path("studies/<int:study_id>/", pages.study_detail, name="study-detail"),
    path("studies/<int:study_id>/settings/", pages.study_settings, name="study-settings"),
    path("studies/<int:study_id>/members/", pages.study_member_add, name="study-member-add"),
    path("studies/<int:study_id>/plan/", pages.study_plan_build, name="study-plan-build"),
    path("studies/<int:study_id>/imports/", import_pages.import_list, name="study-imports"),
    path("studies/<int:study_id>/dicom/", dicom_network_page, name="study-dicom-network"),
    path("studies/<int:study_id>/imports/<int:job_id>/", import_pages.import_detail, name="study-import-detail"),
    path("studies/<int:study_id>/imports/<int:job_id>/retry/", import_pages.import_retry, name="study-import-retry"),
    path("studies/<int:study_id>/cases/", import_pages.case_list, name="study-cases"),
    path("studies/<int:study_id>/reads/", study_reads, name="study-reads"),
    path("studies/<int:study_id>/reads/<int:read_id>/action/", study_read_action, name="study-read-action"),
    path("studies/<int:study_id>/reference/", reference_pages.reference_page, name="study-reference"),
    path("studies/<int:study_id>/subject-codes/", subject_code_pages.subject_codes_page, name="study-subject-codes"),
    path(
        "studies/<int:study_id>/subject-codes/rekey/",
        subject_code_pages.subject_codes_rekey_page,
        name="study-subject-codes-rekey",
    ),
    path("studies/<int:study_id>/subject-keys/", subject_key_pages.subject_key_list, name="study-subject-keys"),
    path(
        "studies/<int:study_id>/subject-keys.csv",
        subject_key_pages.subject_key_export,
        name="study-subject-keys-export",
    ),
    path(
        "studies/<int:study_id>/subject-keys/delete/",
        subject_key_pages.subject_key_delete,
        name="study-subject-keys-delete",
    ),
    path(
        "studies/<int:study_id>/cases/<int:case_id>/primary-series/",
        import_pages.case_primary_series,
        name="study-case-primary-series",
    ),
    path("studies/<int:study_id>/audit/", study_audit, name="study-audit"),
    path("studies/<int:study_id>/audit.csv", study_audit_csv, name="study-audit-csv"),
    path("audit/", site_audit, name="site-audit"),
    path("audit.csv", site_audit_csv, name="site-audit-csv"),
    path("reads/<int:read_id>/", viewer_page.read_viewer, name="read-viewer"),
    path("dicom/instances/<int:pk>/file", dicom_views.instance_file, name="instance-file"),
    path("dicom/g/<str:token>/<str:name>", dicom_views.granted_file, name="instance-file-granted"),
    path("dicom/s/<path:rest>", dicom_views.linked_file, name="instance-file-linked"),
    path("dicom/series/<int:pk>/", dicom_views.series_detail, name="series-detail"),
    path("dicom/series/<int:pk>/thumbnail.png", dicom_views.series_thumbnail, name="series-thumbnail"),
]
