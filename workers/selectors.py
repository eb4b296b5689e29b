"""Reads of the worker side: which workers are alive, and which answers lost theirs."""

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from workers.models import WorkerHeartbeat


def worker_lost_cutoff():
    return timezone.now() - timedelta(seconds=settings.ARENA_WORKER_LOST_S)


def worker_is_alive(heartbeat: WorkerHeartbeat) -> bool:
    return heartbeat.stopped_at is None and heartbeat.last_seen >= worker_lost_cutoff()


def workers_alive() -> QuerySet[WorkerHeartbeat]:
    return WorkerHeartbeat.objects.filter(stopped_at__isnull=True, last_seen__gte=worker_lost_cutoff())


def workers_all() -> list[dict]:
    """Every worker that ever beat, newest first, with whether it is alive now."""
    now = timezone.now()
    return [
        {
            "hostname": heartbeat.hostname,
            "alive": worker_is_alive(heartbeat),
            "stopped": heartbeat.stopped_at is not None,
            "last_seen_s_ago": round((now - heartbeat.last_seen).total_seconds(), 1),
            "machine": heartbeat.machine,
            "pid": heartbeat.pid,
            "device": heartbeat.device,
            "queues": heartbeat.queues,
            "models_loaded": heartbeat.models_loaded,
            "active_tasks": heartbeat.active_tasks,
        }
        for heartbeat in WorkerHeartbeat.objects.order_by("-last_seen")
    ]


def queues_served() -> set[str] | None:
    """Queues that a live worker consumes, or None when no worker has ever sent a heartbeat (a
    worker without heartbeats, e.g. eager mode: then nothing can be said)."""
    if not WorkerHeartbeat.objects.exists():
        return None
    served: set[str] = set()
    for queues in workers_alive().values_list("queues", flat=True):
        served.update(queues)
    return served
