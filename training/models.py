from pathlib import PurePath

from django.db import models

from analysis.diagnostics.models import DiagnosticsRun
from arena.models import Corpus
from modelhub.models import Contender, Model
from workers.jobs import Job


class TrainingRun(Job):
    """Contrastive fine-tuning of an encoder contender into a new model (a background job).

    A run that loses its worker is queued again by the workers' heartbeat and resumes from its last
    checkpoint (up to TRAINING_MAX_ATTEMPTS starts)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Objective(models.TextChoices):
        SIMCSE = "simcse", "Unsupervised SimCSE (a corpus, two dropout views)"
        INFONCE = "infonce", "Supervised InfoNCE (positive pairs, in-batch negatives)"
        COSENT = "cosent", "CoSENT (graded pairs)"

    base = models.ForeignKey(Contender, on_delete=models.PROTECT, related_name="training_runs")
    name = models.CharField(max_length=100, help_text="Name of the new model and contender.")
    objective = models.CharField(max_length=10, choices=Objective.choices)
    corpus = models.ForeignKey(Corpus, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    pairs_path = models.CharField(max_length=500, blank=True, help_text="Pairs file (TSV or STS Benchmark).")
    sts_path = models.CharField(
        max_length=500, blank=True, help_text="STS file: its pairs are the held-out sample and STS is measured."
    )
    epochs = models.PositiveIntegerField(default=1)
    steps = models.PositiveIntegerField(null=True, blank=True, help_text="Stop after this many steps.")
    batch_size = models.PositiveIntegerField(default=32)
    learning_rate = models.FloatField(default=2e-5)
    temperature = models.FloatField(default=0.05, help_text="τ of InfoNCE and SimCSE.")
    max_length = models.PositiveIntegerField(default=128)
    seed = models.IntegerField(default=0)
    eval_every = models.PositiveIntegerField(default=20, help_text="Measure loss, alignment, uniformity every K steps.")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, editable=False)
    cancel_requested = models.BooleanField(default=False, editable=False)
    attempts = models.PositiveIntegerField(default=0, editable=False)
    examples = models.PositiveIntegerField(null=True, blank=True, editable=False)
    step = models.PositiveIntegerField(default=0, editable=False)
    total_steps = models.PositiveIntegerField(null=True, blank=True, editable=False)
    seconds_left = models.FloatField(null=True, blank=True, editable=False)
    resumed_from = models.PositiveIntegerField(default=0, editable=False)
    curves = models.JSONField(default=list, blank=True, editable=False)
    seconds = models.FloatField(null=True, blank=True, editable=False, help_text="Training time.")
    joules = models.FloatField(null=True, blank=True, editable=False)
    energy_source = models.CharField(max_length=20, blank=True, editable=False)
    energy_method = models.CharField(max_length=300, blank=True, editable=False)
    device = models.CharField(max_length=50, blank=True, editable=False)
    checkpoint_path = models.CharField(max_length=500, blank=True, editable=False)
    model = models.OneToOneField(
        Model, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="training_run"
    )
    diagnostics_before = models.ForeignKey(
        DiagnosticsRun, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    diagnostics_after = models.ForeignKey(
        DiagnosticsRun, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED = Status.QUEUED, Status.RUNNING, Status.DONE, Status.FAILED

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Training {self.pk}: {self.name}"

    @property
    def kilojoules(self) -> float | None:
        return None if self.joules is None else self.joules / 1000

    @property
    def pairs_name(self) -> str:
        """The pairs file as public pages name it: its file name, never the server's path."""
        return PurePath(self.pairs_path).name

    @property
    def description(self) -> str:
        return f"fine-tuned from {self.base.model.name} with {self.get_objective_display().split(' (')[0]}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED)
