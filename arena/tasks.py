"""Celery tasks of the arena: take ids, call one service.

Time limits: Celery enforces `time_limit`/`soft_time_limit` only in the prefork pool; model work
runs in the threads or solo pool (torch and fork don't mix), so generation also carries its own
deadline inside the token loop (ARENA_GENERATION_TIMEOUT_S) and the arena marks a side that never
reports back as timed out.
"""

from celery import shared_task
from django.conf import settings


@shared_task(
    acks_late=True,
    soft_time_limit=settings.ARENA_GENERATION_TIMEOUT_S + 30,
    time_limit=settings.ARENA_GENERATION_TIMEOUT_S + 60,
)
def generate_response(response_id: int) -> None:
    from arena.answering import response_generate

    response_generate(response_id=response_id, worker=generate_response.request.hostname or "")


@shared_task(acks_late=True, soft_time_limit=3600, time_limit=3660)
def embed_corpus(embedding_id: int) -> None:
    from arena.corpus_services import corpus_embedding_build

    corpus_embedding_build(embedding_id=embedding_id, worker=embed_corpus.request.hostname or "")


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def retrieve_response(response_id: int) -> None:
    from arena.answering import response_retrieve

    response_retrieve(response_id=response_id, worker=retrieve_response.request.hostname or "")


@shared_task(acks_late=True, soft_time_limit=120, time_limit=150)
def group_prompt(battle_id: int) -> None:
    from arena.prompt_groups import prompt_group_assign

    prompt_group_assign(battle_id=battle_id)


def expire_lost_jobs() -> None:
    """Sides and corpus embeddings that a dead or hung worker never finished are given up."""
    from arena.answering import responses_expire_overdue
    from arena.models import CorpusEmbedding
    from workers.jobs import jobs_expire_lost

    responses_expire_overdue()
    jobs_expire_lost(job_class=CorpusEmbedding)
