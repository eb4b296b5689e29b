from django.core.management.base import BaseCommand
from tqdm import tqdm

from modelhub.models import Model
from modelhub.services import model_prepare
from workers import runtime


class Command(BaseCommand):
    help = "Prepare models in this process (convert, load, smoke-test), with a progress bar."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "slugs", nargs="*",
            help="Models to prepare (default: every model not ready, but engine-served ones: a worker on the "
                 "engine's host checks those).",
        )
        parser.add_argument("--force", action="store_true", help="Prepare ready models again too.")

    def handle(self, *args, **options) -> None:
        models = Model.objects.all()
        if options["slugs"]:
            models = models.filter(slug__in=options["slugs"])
        else:
            models = models.exclude(source_type=Model.SourceType.ENDPOINT)
        if not options["force"]:
            models = models.exclude(status=Model.Status.READY)
        failed = 0
        for model in models:
            with tqdm(total=100, desc=f"{model.name[:24]:24}", unit="%", bar_format="{l_bar}{bar}| {postfix}") as bar:

                def progress(fraction: float, text: str, bar=bar) -> None:
                    bar.n = round(fraction * 100)
                    bar.set_postfix_str(text[:50])

                result = model_prepare(model_id=model.id, progress=progress)
                runtime.model_cache.clear()  # this process does not serve: the workers load what they need
                bar.n = 100 if result.status == Model.Status.READY else bar.n
                bar.set_postfix_str(result.status)
            if result.status == Model.Status.FAILED:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{model.name}: {result.error}"))
            else:
                loaded = f" (load {result.load_seconds:.1f} s)" if result.load_seconds is not None else ""
                self.stdout.write(f"{model.name}: ready in {result.prepare_seconds:.1f} s{loaded}")
        if failed:
            self.stderr.write(self.style.WARNING(f"{failed} model(s) failed; see the admin for details."))
