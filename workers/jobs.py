"""Background jobs, done one way: model preparation, corpus embedding, diagnostics runs and battle answers.

A job is a row of a model that inherits `Job` and names its own status values (`JOB_QUEUED`,
`JOB_RUNNING`, `JOB_DONE`, `JOB_FAILED`). Its life:

- `job_enqueue`: the task is sent after the transaction commits; a refused send (Redis down) marks
  the job failed with a message, never "queued" for ever.
- `job_claim`: one atomic UPDATE from queued to running, so a redelivered task never runs it twice.
- `job_progress_writer`: progress written at most every half second (and at the end).
- `job_finish` / `job_fail`: the end, with its time.
- `jobs_lost`: running jobs whose worker stopped beating, stopped, or restarted after the job began;
  the apps expire them from the workers' heartbeat (`workers.hooks.heartbeat`, connected in
  config/wiring.py), never on a GET.

This module is part of the runtime: it knows no app, only the abstract model and the heartbeats.
"""

import logging
import time
from collections.abc import Callable
from typing import ClassVar

from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]

QUEUE_REFUSED = "Could not queue this job: the job queue (Redis) is unavailable. Try again."
WORKER_LOST = "The worker running this job stopped before it finished. Try again."


class Job(models.Model):
    """What every background job records besides its status (whose values each job names)."""

    JOB_QUEUED: ClassVar[str]
    JOB_RUNNING: ClassVar[str]
    JOB_DONE: ClassVar[str]
    JOB_FAILED: ClassVar[str]

    progress = models.FloatField(default=0.0, editable=False)
    progress_text = models.CharField(max_length=200, blank=True, editable=False)
    error = models.TextField(blank=True, editable=False)
    worker = models.CharField(max_length=200, blank=True, editable=False, help_text="Celery hostname running it.")
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True


def job_enqueue(
    *,
    job_class: type[Job],
    job_id: int,
    task,
    queue: str | None = None,
    on_refused: Callable[[int], None] | None = None,
) -> None:
    """Send `task(job_id)` once the current transaction commits (at once outside one)."""

    def send() -> None:
        try:
            task.apply_async(args=[job_id], queue=queue)
        except Exception:  # noqa: BLE001 - kombu raises several kinds of connection errors
            logger.warning("Could not queue %s %s", job_class.__name__, job_id, exc_info=True)
            if on_refused is not None:
                on_refused(job_id)
            else:
                job_fail(job_class=job_class, job_id=job_id, error=QUEUE_REFUSED)

    transaction.on_commit(send)


def job_claim(*, job_class: type[Job], job_id: int, worker: str = "", queued_only: bool = True) -> bool:
    """Take the job to run it: True for the one caller that moved it to running.

    `queued_only=False` takes it from any state (a person asked for it directly, e.g. on the command line).
    """
    jobs = job_class.objects.filter(id=job_id)
    if queued_only:
        jobs = jobs.filter(status=job_class.JOB_QUEUED)
    return bool(
        jobs.update(
            status=job_class.JOB_RUNNING, worker=worker[:200], started_at=timezone.now(), finished_at=None,
            error="", progress=0.0,
        )
    )


def job_progress_writer(
    *, job_class: type[Job], job_id: int, callback: ProgressCallback | None = None, every_s: float = 0.5
) -> ProgressCallback:
    """A `report(fraction, text)` that stores progress at most every `every_s` (always at the end) and
    passes every call on to `callback` (a CLI progress bar)."""
    last_saved = [float("-inf")]

    def report(fraction: float, text: str) -> None:
        now = time.monotonic()
        if now - last_saved[0] >= every_s or fraction >= 1.0:
            last_saved[0] = now
            job_class.objects.filter(id=job_id).update(
                progress=max(0.0, min(1.0, fraction)), progress_text=text[:200]
            )
        if callback:
            callback(fraction, text)

    return report


def job_finish(*, job_class: type[Job], job_id: int, progress_text: str = "Done", **fields) -> None:
    job_class.objects.filter(id=job_id).update(
        status=job_class.JOB_DONE, progress=1.0, progress_text=progress_text, error="", finished_at=timezone.now(),
        **fields,
    )


def job_fail(*, job_class: type[Job], job_id: int, error: str, progress_text: str = "Failed", **fields) -> None:
    job_class.objects.filter(id=job_id).update(
        status=job_class.JOB_FAILED, error=error[:2000], progress_text=progress_text, finished_at=timezone.now(),
        **fields,
    )


def jobs_lost(job_class: type[Job]) -> QuerySet:
    """Running jobs whose worker stopped beating, stopped, or was restarted after the job began.

    Both timestamps of the restart check come from the worker's own clock.
    """
    from workers.models import WorkerHeartbeat
    from workers.selectors import worker_lost_cutoff

    gone = WorkerHeartbeat.objects.filter(hostname=OuterRef("worker")).filter(
        Q(last_seen__lt=worker_lost_cutoff()) | Q(stopped_at__isnull=False) | Q(started_at__gt=OuterRef("started_at"))
    )
    return job_class.objects.filter(status=job_class.JOB_RUNNING).filter(Exists(gone))


def jobs_expire_lost(*, job_class: type[Job], error: str = WORKER_LOST) -> int:
    """Fail the running jobs whose worker is gone (called from the workers' heartbeat)."""
    # One UPDATE whose condition is the lost-worker test itself: a job that finished meanwhile is left alone.
    return jobs_lost(job_class).update(
        status=job_class.JOB_FAILED, error=error[:2000], progress_text="Failed", finished_at=timezone.now()
    )
