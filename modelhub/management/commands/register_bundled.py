from django.core.management.base import BaseCommand

from modelhub.services import bundled_models_register


class Command(BaseCommand):
    help = "Register the bundled models and their default contenders (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--queue", action="store_true", help="Queue preparation in a worker.")

    def handle(self, *args, **options) -> None:
        models = bundled_models_register(queue_preparation=options["queue"])
        for model in models:
            self.stdout.write(f"{model.name:28} {model.kind:11} {model.status}")
