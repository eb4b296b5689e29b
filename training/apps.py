from django.apps import AppConfig


class TrainingAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "training"
    verbose_name = "Training"

    def ready(self) -> None:
        from training import tasks  # noqa: F401 - registers the heartbeat hook that resumes lost runs
