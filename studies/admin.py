from django.contrib import admin

from . import models


class MembershipInline(admin.TabularInline):
    model = models.Membership
    extra = 0


@admin.register(models.Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("name", "created_by", "created_at", "locked")
    search_fields = ("name",)
    inlines = [MembershipInline]


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("study", "user", "role", "created_at")
    list_filter = ("role",)


@admin.register(models.Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("subject_code", "study", "is_control", "primary_series")
    list_filter = ("study", "is_control")
    search_fields = ("subject_code",)


# The subject-key mapping is not in the admin: its PI views it on the study's own page, where every look is
# audited (studies.subject_key_pages).


@admin.register(models.Series)
class SeriesAdmin(admin.ModelAdmin):
    list_display = ("case", "description", "orientation", "weighting", "burned_in_annotation")


@admin.register(models.Instance)
class InstanceAdmin(admin.ModelAdmin):
    list_display = ("sop_instance_uid", "series", "instance_number", "slice_position", "size")


@admin.register(models.ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("study", "kind", "status", "total", "accepted", "skipped", "rejected", "created_at")


@admin.register(models.ReferenceRecord)
class ReferenceRecordAdmin(admin.ModelAdmin):
    list_display = ("case", "modality", "t_score", "bmd", "age", "sex")


@admin.register(models.Read)
class ReadAdmin(admin.ModelAdmin):
    list_display = ("case", "reader", "read_number", "status", "order_index", "submitted_at")
    list_filter = ("study", "status", "read_number")


@admin.register(models.Roi)
class RoiAdmin(admin.ModelAdmin):
    list_display = ("read", "label", "shape", "excluded", "version", "updated_at")


@admin.register(models.AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "study", "user", "action", "object_type", "object_id")
    list_filter = ("action", "object_type")

    def has_add_permission(self, request):  # rows are written only through studies.services.audit.audit_log
        return False

    def has_change_permission(self, request, obj=None):  # append-only
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(models.WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("hostname", "seen_at")
