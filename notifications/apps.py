from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"
    verbose_name = "E-mail notifications"

    def ready(self) -> None:
        # React to what studies announces (studies imports nothing from notifications).
        from notifications import language, receivers

        receivers.connect()
        assert language.SESSION_KEY  # registers the login receiver that restores a user's saved language
