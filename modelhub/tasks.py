"""Celery tasks of the model hub: take ids, call one service.

Time limits: Celery enforces `time_limit`/`soft_time_limit` only in the prefork pool; model work runs in
the threads or solo pool (torch and fork don't mix), so the services carry their own deadlines too.
"""

import logging
import threading

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from workers.signals import queue_names

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    soft_time_limit=settings.ARENA_PREPARE_TIMEOUT_S,
    time_limit=settings.ARENA_PREPARE_TIMEOUT_S + 60,
)
def prepare_model(model_id: int) -> str:
    from modelhub.hooks import model_ready
    from modelhub.models import Model
    from modelhub.services import model_prepare

    model = model_prepare(model_id=model_id, queued=True, worker=prepare_model.request.hostname or "")
    if model.status == Model.Status.READY:
        consume_queue(prepare_model, model.queue_name)
        # Apps above the hub react (the arena embeds its corpora with a new encoder).
        model_ready.send(model=model)
    return model.status


def consume_queue(task, queue: str) -> None:
    """The worker that prepared a model holds it warm, so it starts serving the model's queue."""
    hostname = getattr(task.request, "hostname", None)
    if not hostname or task.request.is_eager:
        return
    try:
        task.app.control.add_consumer(queue, destination=[hostname], reply=False)
    except Exception:  # noqa: BLE001 - a missed broadcast only means another worker serves the queue
        logger.warning("Could not subscribe %s to %s", hostname, queue, exc_info=True)


def model_names_of_paths(paths: list[str]) -> list[str]:
    """The names of the models prepared at these paths (how a worker's heartbeat names what it holds)."""
    from modelhub.models import Model

    return list(Model.objects.filter(prepared_path__in=paths).values_list("name", flat=True))


@worker_ready.connect
def _warm_on_start(sender=None, **kwargs) -> None:
    """A worker loads the models of its queues at start-up, in the background: it takes tasks at once,
    and a request for a model still loading waits for that load (the model cache loads each key once)."""
    if sender is None or not getattr(sender, "hostname", None) or not settings.ARENA_WARM_MODELS:
        return
    threading.Thread(target=_warm, args=(queue_names(sender),), name="warm-models", daemon=True).start()


def _warm(queues: set[str]) -> None:
    from modelhub.models import Model
    from modelhub.selectors import model_serving_precisions
    from workers import runtime

    for model in Model.objects.filter(status=Model.Status.READY).exclude(prepared_path=""):
        if model.queue_name not in queues:
            continue
        try:
            for precision in model_serving_precisions(model=model):  # the copies its contenders run
                if model.kind == Model.Kind.ENCODER:
                    runtime.encoder_get(path=model.prepared_path, precision=precision)
                else:  # with batching: its decode loop too
                    runtime.language_model_warm(path=model.prepared_path, precision=precision)
            logger.info("Warmed %s", model.name)
        except Exception:  # noqa: BLE001 - a model that fails here fails visibly on its first request
            logger.warning("Could not warm %s", model.name, exc_info=True)


def expire_lost_preparations() -> None:
    from modelhub.models import Model
    from workers.jobs import jobs_expire_lost

    jobs_expire_lost(job_class=Model)
