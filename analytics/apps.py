from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "analytics"

    def ready(self) -> None:
        # React to what studies announces (studies imports nothing from analytics).
        from analytics import receivers

        receivers.connect()
