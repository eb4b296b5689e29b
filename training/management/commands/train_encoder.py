from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from arena.models import Corpus
from modelhub.models import Contender
from training.models import TrainingRun
from training.services import TrainingInputError, training_run_create, training_run_execute


class Command(BaseCommand):
    help = ("Fine-tune an encoder contender into a new contender (contrastive learning), in this process with a "
            "progress bar, or in a worker with --queue.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("base", help="Contender to start from (name or slug), an encoder.")
        data = parser.add_mutually_exclusive_group(required=True)
        data.add_argument("--pairs", help="Pairs file: TSV (a, b[, score | hard negative]) or an STS Benchmark file.")
        data.add_argument("--corpus", help="Corpus slug (unsupervised SimCSE).")
        parser.add_argument("--objective", required=True, choices=[c for c, _ in TrainingRun.Objective.choices])
        parser.add_argument("--name", required=True, help="Name of the new model and contender.")
        parser.add_argument("--epochs", type=int, default=1)
        parser.add_argument("--steps", type=int, default=None, help="Stop after this many steps.")
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--lr", type=float, default=2e-5, help="Learning rate (AdamW).")
        parser.add_argument("--temperature", type=float, default=0.05, help="τ of InfoNCE and SimCSE.")
        parser.add_argument("--max-length", type=int, default=128)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--eval-every", type=int, default=20, help="Measure alignment/uniformity every K steps.")
        parser.add_argument("--sts", default="", help="STS file: held-out sample and STS before/after.")
        parser.add_argument("--queue", action="store_true", help="Hand the run to a worker and return.")

    def handle(self, *args, **options) -> None:
        base = Contender.objects.filter(name=options["base"]).first() or Contender.objects.filter(
            slug=options["base"]).first()
        if base is None:
            raise CommandError(f"No contender '{options['base']}'.")
        corpus = None
        if options["corpus"]:
            corpus = Corpus.objects.filter(slug=options["corpus"]).first()
            if corpus is None:
                raise CommandError(f"No corpus '{options['corpus']}'; slugs: "
                                   f"{', '.join(Corpus.objects.values_list('slug', flat=True)) or 'none'}.")
        try:
            run = training_run_create(
                base=base, name=options["name"], objective=options["objective"], corpus=corpus,
                pairs_path=options["pairs"] or "", sts_path=options["sts"], epochs=options["epochs"],
                steps=options["steps"], batch_size=options["batch_size"], learning_rate=options["lr"],
                temperature=options["temperature"], max_length=options["max_length"], seed=options["seed"],
                eval_every=options["eval_every"], queue=options["queue"],
            )
        except TrainingInputError as error:
            raise CommandError("\n".join(error.errors.values())) from None
        if options["queue"]:
            run.refresh_from_db()
            if run.status == TrainingRun.Status.FAILED:
                raise CommandError(run.error)
            self.stdout.write(f"Training run {run.id} queued for a worker.")
            return
        self._foreground(run)

    def _foreground(self, run: TrainingRun) -> None:
        import torch
        from django.conf import settings

        torch.set_num_threads(settings.TRAINING_CLI_THREADS)  # alone in this process: every core
        with tqdm(total=100, desc=f"{run.name[:24]:24}", unit="%", bar_format="{l_bar}{bar}| {postfix}") as bar:

            def progress(fraction: float, text: str) -> None:
                bar.n = round(fraction * 100)
                bar.set_postfix_str(text[:60])

            run = training_run_execute(run_id=run.id, progress=progress, queued=False, foreground=True)
            bar.set_postfix_str(run.status)
        if run.status != TrainingRun.Status.DONE:
            raise CommandError(f"Training run {run.id} {run.status}: {run.error or run.progress_text}")
        self.stdout.write(
            f"{run.name}: {run.step} steps on {run.examples} examples in {run.seconds:.0f} s, "
            f"{run.joules / 1000:.2f} kJ ({run.energy_method}).")
        rows = [("STS Spearman", "sts_spearman"), ("alignment", "alignment"), ("uniformity", "uniformity"),
                ("isotropy", "isotropy"), ("RankMe", "rankme")]
        before = run.diagnostics_before.metrics if run.diagnostics_before else {}
        after = run.diagnostics_after.metrics if run.diagnostics_after else {}
        self.stdout.write(f"{'':14} {'before':>10} {'after':>10}")
        for title, key in rows:
            if key in before or key in after:
                self.stdout.write(f"{title:14} {_fmt(before.get(key)):>10} {_fmt(after.get(key)):>10}")


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"
