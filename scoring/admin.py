from django.contrib import admin

from .models import ReadScore, RoiScore


@admin.register(RoiScore)
class RoiScoreAdmin(admin.ModelAdmin):
    list_display = ("roi", "roi_version", "n", "mean", "sd", "error", "computed_at")
    search_fields = ("roi__read__case__subject_code",)


@admin.register(ReadScore)
class ReadScoreAdmin(admin.ModelAdmin):
    list_display = ("read", "vbq", "snr", "m_score", "computed_at")
    search_fields = ("read__case__subject_code",)
