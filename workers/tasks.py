"""Celery tasks: take ids, re-fetch, call one service.

Time limits: Celery enforces `time_limit`/`soft_time_limit` only in the prefork pool; model work
runs in the threads or solo pool (torch and fork don't mix), so generation also carries its own
deadline inside the token loop (ARENA_GENERATION_TIMEOUT_S) and the arena marks a side that never
reports back as timed out.
"""

import logging

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    soft_time_limit=settings.ARENA_PREPARE_TIMEOUT_S,
    time_limit=settings.ARENA_PREPARE_TIMEOUT_S + 60,
)
def prepare_model(model_id: int) -> str:
    from modelhub.models import Model
    from modelhub.services import model_prepare

    model = model_prepare(model_id=model_id)
    if model.status == Model.Status.READY:
        _consume_queue(prepare_model, model.queue_name)
        if model.kind == Model.Kind.ENCODER:
            from arena.corpus_services import corpus_embeddings_queue_missing

            corpus_embeddings_queue_missing()
    return model.status


def _consume_queue(task, queue: str) -> None:
    """The worker that prepared a model holds it warm, so it starts serving the model's queue."""
    hostname = getattr(task.request, "hostname", None)
    if not hostname or task.request.is_eager:
        return
    try:
        task.app.control.add_consumer(queue, destination=[hostname], reply=False)
    except Exception:  # noqa: BLE001 - a missed broadcast only means another worker serves the queue
        logger.warning("Could not subscribe %s to %s", hostname, queue, exc_info=True)


@shared_task(
    acks_late=True,
    soft_time_limit=settings.ARENA_GENERATION_TIMEOUT_S + 30,
    time_limit=settings.ARENA_GENERATION_TIMEOUT_S + 60,
)
def generate_response(response_id: int) -> None:
    from arena.services import response_generate

    response_generate(response_id=response_id, worker=generate_response.request.hostname or "")


@shared_task(acks_late=True, soft_time_limit=3600, time_limit=3660)
def embed_corpus(embedding_id: int) -> None:
    from arena.corpus_services import corpus_embedding_build

    corpus_embedding_build(embedding_id=embedding_id)


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def retrieve_response(response_id: int) -> None:
    from arena.services import response_retrieve

    response_retrieve(response_id=response_id, worker=retrieve_response.request.hostname or "")


@shared_task(acks_late=True, soft_time_limit=3600, time_limit=3660)
def run_diagnostics(run_id: int) -> None:
    from analysis.diagnostics_services import diagnostics_run_execute

    diagnostics_run_execute(run_id=run_id)
