from django.db import models


class WorkerHeartbeat(models.Model):
    """One row per Celery worker (by hostname), rewritten every ARENA_HEARTBEAT_S while it runs.

    The web side reads it for /healthz and the admin, and to notice that the worker serving an
    answer has died (its beats stop, or it was restarted after the answer began).
    """

    hostname = models.CharField(max_length=200, unique=True)
    pid = models.PositiveIntegerField()
    machine = models.CharField(max_length=200, blank=True)
    device = models.CharField(max_length=50, blank=True)
    queues = models.JSONField(default=list, blank=True)
    models_loaded = models.JSONField(default=list, blank=True)
    active_tasks = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname
