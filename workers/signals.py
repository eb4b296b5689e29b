"""Worker start-up and shutdown: warm the models of this worker's queues, and beat a heartbeat."""

import logging
import os
import socket
import threading

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

logger = logging.getLogger(__name__)

_stop_beating = threading.Event()


def _warm(queue_names: set[str]) -> None:
    from modelhub.models import Model
    from workers import runtime

    for model in Model.objects.filter(status=Model.Status.READY).exclude(prepared_path=""):
        if model.queue_name not in queue_names:
            continue
        try:
            if model.kind == Model.Kind.ENCODER:
                runtime.encoder_get(path=model.prepared_path)
            else:
                runtime.language_model_get(path=model.prepared_path)
            logger.info("Warmed %s", model.name)
        except Exception:  # noqa: BLE001 - a model that fails here fails visibly on its first request
            logger.warning("Could not warm %s", model.name, exc_info=True)


def _queue_names(worker) -> set[str]:
    # worker_ready's sender is the worker's Consumer; its task consumer lists the queues it serves now
    # (add_consumer adds to them when this worker prepares a new model).
    task_consumer = getattr(worker, "task_consumer", None)
    return {queue.name for queue in task_consumer.queues} if task_consumer is not None else set()


def _beat_once(worker, started_at) -> None:
    from celery.worker import state

    from modelhub.models import Model
    from workers import runtime
    from workers.services import worker_heartbeat_record

    paths = runtime.loaded_model_paths()
    names = list(Model.objects.filter(prepared_path__in=paths).values_list("name", flat=True)) if paths else []
    worker_heartbeat_record(
        hostname=worker.hostname, pid=os.getpid(), machine=socket.gethostname(), device=runtime.current_device(),
        queues=list(_queue_names(worker)), models_loaded=names, active_tasks=len(state.active_requests),
        started_at=started_at,
    )


def _periodic() -> None:
    """Work that waits on the clock rather than on a request: votes of battles whose vote window
    ended become public (the blind protocol) and are folded into the leaderboard."""
    from analysis.services import pending_votes_release

    pending_votes_release()


def _beat(worker) -> None:
    started_at = timezone.now()
    while not _stop_beating.is_set():
        try:
            _beat_once(worker, started_at)
            _periodic()
        except Exception:  # noqa: BLE001 - a missed beat (database briefly away) is retried next time
            logger.warning("Heartbeat failed", exc_info=True)
        finally:
            close_old_connections()
        _stop_beating.wait(settings.ARENA_HEARTBEAT_S)


@worker_ready.connect
def worker_started(sender=None, **kwargs) -> None:
    if sender is None or not getattr(sender, "hostname", None):
        return
    _stop_beating.clear()
    threading.Thread(target=_beat, args=(sender,), name="heartbeat", daemon=True).start()
    if settings.ARENA_WARM_MODELS:
        # In the background: the worker takes tasks at once; a request for a model still loading
        # waits for that load (the model cache loads each key once).
        threading.Thread(target=_warm, args=(_queue_names(sender),), name="warm-models", daemon=True).start()


@worker_shutdown.connect
def worker_stopped(sender=None, **kwargs) -> None:
    from workers.services import worker_heartbeat_stop

    _stop_beating.set()
    hostname = getattr(sender, "hostname", None)
    if not hostname:
        return
    try:
        worker_heartbeat_stop(hostname=hostname, pid=os.getpid())
    except Exception:  # noqa: BLE001 - shutting down anyway; the beats simply stop
        logger.warning("Could not record the shutdown of %s", hostname, exc_info=True)
