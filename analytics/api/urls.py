"""Analytics API endpoints (PI only), under /api/analytics/."""

urlpatterns: list = []
