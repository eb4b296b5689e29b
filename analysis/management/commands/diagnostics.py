import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from analysis.diagnostics.models import DiagnosticsRun
from analysis.diagnostics.services import diagnostics_run_create, diagnostics_run_execute
from modelhub.models import Contender, Model

TABLE_KEYS = [
    ("sts_spearman", "STS Spearman ×100"),
    ("alignment", "alignment"),
    ("uniformity", "uniformity"),
    ("isotropy", "isotropy (token states)"),
    ("rankme", "RankMe (effective rank)"),
    ("isoscore", "IsoScore"),
    ("hubness_skewness", "hubness: k-occurrence skewness"),
    ("hubness_antihub_share", "anti-hub share"),
    ("n", "texts"),
    ("d", "dimensions"),
]


class Command(BaseCommand):
    help = "Representation diagnostics of a contender (or of any .npy matrix); stores the run."

    def add_arguments(self, parser) -> None:
        parser.add_argument("contender", nargs="?", help="Contender name or slug.")
        parser.add_argument("--sts", help="STS Benchmark file (tab-separated); adds STS Spearman and alignment.")
        parser.add_argument("--texts", help="A UTF-8 file with one text per line.")
        parser.add_argument("--embeddings", help="A .npy (n, d) matrix: embedding-only metrics, no model.")
        parser.add_argument("--limit", type=int, help="Use at most this many pairs (STS) or texts.")
        parser.add_argument("--format", choices=["table", "json"], default="table")

    def handle(self, *args, **options) -> None:
        run = self._create(options)
        with tqdm(total=100, unit="%", file=self.stderr._out, bar_format="{l_bar}{bar}| {postfix}") as bar:

            def progress(fraction: float, text: str) -> None:
                bar.n = round(fraction * 100)
                bar.set_postfix_str(text[:60])

            run = diagnostics_run_execute(run_id=run.id, progress=progress)
        if run.status != DiagnosticsRun.Status.DONE:
            raise CommandError(f"Diagnostics failed: {run.error}")
        if options["format"] == "json":
            self.stdout.write(json.dumps({"run": run.id, "seconds": run.seconds, "metrics": run.metrics}, indent=2))
            return
        label = run.contender.name if run.contender else run.source_path
        self.stdout.write(f"Diagnostics of {label} (run {run.id}, {run.seconds:.1f} s)")
        for key, title in TABLE_KEYS:
            value = run.metrics.get(key)
            if value is not None:
                self.stdout.write(f"  {title:34} {value:.4f}" if isinstance(value, float) else f"  {title:34} {value}")

    def _create(self, options) -> DiagnosticsRun:
        if options["embeddings"]:
            return diagnostics_run_create(contender=None, source=DiagnosticsRun.Source.EMBEDDINGS,
                                          source_path=options["embeddings"])
        if not options["contender"]:
            raise CommandError("Name a contender, or give --embeddings FILE.npy.")
        contender = Contender.objects.select_related("model").filter(name=options["contender"]).first() or (
            Contender.objects.select_related("model").filter(slug=options["contender"]).first()
        )
        if contender is None:
            known = ", ".join(Contender.objects.values_list("slug", flat=True))
            raise CommandError(f"No contender '{options['contender']}'. Known: {known}.")
        if contender.model.status != Model.Status.READY:
            raise CommandError(f"{contender.model.name} is not prepared ({contender.model.status}).")
        if options["sts"]:
            source, path = DiagnosticsRun.Source.STS, options["sts"]
        elif options["texts"]:
            source, path = DiagnosticsRun.Source.TEXTS, options["texts"]
        else:
            source, path = DiagnosticsRun.Source.CORPUS, ""
        return diagnostics_run_create(contender=contender, source=source, source_path=path, limit=options["limit"])
