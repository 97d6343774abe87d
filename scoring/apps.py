from django.apps import AppConfig


class ScoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "scoring"

    def ready(self) -> None:
        # React to what studies announces (studies imports nothing from scoring).
        from scoring import receivers

        receivers.connect()
