"""Worker start-up and shutdown: beat a heartbeat, and run the apps' clock-driven work with it.

The runtime imports no app: what a beat runs (`hooks.heartbeat`) and how it names the models it holds
(`hooks.model_names`) are connected in config/wiring.py.
"""

import logging
import os
import socket
import threading

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from workers import hooks

logger = logging.getLogger(__name__)

_stop_beating = threading.Event()


def queue_names(worker) -> set[str]:
    # worker_ready's sender is the worker's Consumer; its task consumer lists the queues it serves now
    # (add_consumer adds to them when this worker prepares a new model).
    task_consumer = getattr(worker, "task_consumer", None)
    return {queue.name for queue in task_consumer.queues} if task_consumer is not None else set()


def _beat_once(worker, started_at) -> None:
    from celery.worker import state

    from workers import runtime
    from workers.services import worker_heartbeat_record

    paths = runtime.loaded_model_paths()
    names = hooks.model_names(paths) if paths else paths
    worker_heartbeat_record(
        hostname=worker.hostname, pid=os.getpid(), machine=socket.gethostname(), device=runtime.current_device(),
        queues=list(queue_names(worker)), models_loaded=names, active_tasks=len(state.active_requests),
        started_at=started_at,
    )


def _run_heartbeat_work() -> None:
    for work in list(hooks.heartbeat.receivers):
        try:
            work()
        except Exception:  # noqa: BLE001 - one failing job must not stop the others; retried next beat
            logger.warning("Heartbeat work %s failed", getattr(work, "__name__", work), exc_info=True)
        finally:
            close_old_connections()


def _beat(worker) -> None:
    started_at = timezone.now()
    while not _stop_beating.is_set():
        try:
            _beat_once(worker, started_at)
            _run_heartbeat_work()
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
