from django.contrib import admin

from notifications.models import NotificationPreference, SentNotification


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "read_opened", "read_changed", "daily_digest", "updated_at")
    search_fields = ("user__username", "user__email")


@admin.register(SentNotification)
class SentNotificationAdmin(admin.ModelAdmin):
    """The record the tasks rely on for sending once: read-only here."""

    list_display = ("at", "kind", "user", "study", "outcome", "key")
    list_filter = ("kind", "outcome")
    search_fields = ("key", "user__username")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
