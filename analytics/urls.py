"""Analytics dashboard pages and exports (PI only), under /studies/<study_id>/analytics/."""

from django.urls import path

from . import pages

urlpatterns = [
    path("", pages.overview, name="analytics-overview"),
    path("agreement/", pages.agreement, name="analytics-agreement"),
    path("agreement/readers/", pages.agreement_readers, name="analytics-agreement-readers"),
    path("table1/", pages.table1, name="analytics-table1"),
    path("groups/", pages.groups, name="analytics-groups"),
    path("roc/", pages.roc, name="analytics-roc"),
    path("correlation/", pages.correlation, name="analytics-correlation"),
    path("exports/", pages.exports, name="analytics-exports"),
    path("refresh/", pages.refresh, name="analytics-refresh"),
    path("exports/<slug:kind>.csv", pages.export_csv, name="analytics-export-csv"),
    path("exports/snapshot.zip", pages.snapshot, name="analytics-snapshot"),
    path("exports/tables.xlsx", pages.tables_xlsx, name="analytics-tables-xlsx"),
    path("tables/<slug:section>/<slug:table>.csv", pages.table_csv, name="analytics-table-csv"),
    path("figures/<slug:name>.<str:fmt>", pages.figure, name="analytics-figure"),
]
