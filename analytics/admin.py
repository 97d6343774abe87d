from django.contrib import admin

from .models import AnalysisCache


@admin.register(AnalysisCache)
class AnalysisCacheAdmin(admin.ModelAdmin):
    list_display = ("study", "section", "status", "computed_at")
    list_filter = ("status", "section")
