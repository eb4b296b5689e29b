"""The stored runs of representation diagnostics (imported by analysis/models.py)."""

from django.db import models

from modelhub.models import Contender
from workers.jobs import Job


class DiagnosticsRun(Job):
    """Representation diagnostics of one contender or file, computed in a worker (a background job)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class Source(models.TextChoices):
        STS = "sts", "STS Benchmark file"
        TEXTS = "texts", "Text file"
        CORPUS = "corpus", "Built-in corpus"
        EMBEDDINGS = "embeddings", "Embedding matrix (.npy)"

    contender = models.ForeignKey(
        Contender, on_delete=models.CASCADE, null=True, blank=True, related_name="diagnostics_runs"
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    source_path = models.CharField(max_length=500, blank=True)
    limit = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    metrics = models.JSONField(default=dict, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED = Status.QUEUED, Status.RUNNING, Status.DONE, Status.FAILED

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Diagnostics {self.pk} of {self.contender or self.source_path}"
