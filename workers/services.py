"""Writes of the worker side: heartbeats."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from workers.models import WorkerHeartbeat


@transaction.atomic
def worker_heartbeat_record(
    *,
    hostname: str,
    pid: int,
    machine: str,
    device: str,
    queues: list[str],
    models_loaded: list[str],
    active_tasks: int,
    started_at: datetime,
) -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(
        hostname=hostname[:200],
        defaults={
            "pid": pid, "machine": machine[:200], "device": device[:50], "queues": sorted(queues),
            "models_loaded": sorted(models_loaded), "active_tasks": active_tasks, "started_at": started_at,
            "last_seen": timezone.now(), "stopped_at": None,
        },
    )
    return heartbeat


@transaction.atomic
def worker_heartbeat_stop(*, hostname: str, pid: int) -> None:
    """A clean shutdown: the worker is gone, not lost."""
    WorkerHeartbeat.objects.filter(hostname=hostname, pid=pid).update(stopped_at=timezone.now())
