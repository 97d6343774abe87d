"""Analytics dashboard pages and exports (PI only), under /studies/<study_id>/analytics/."""

urlpatterns: list = []
