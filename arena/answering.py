"""The worker side of a battle: answering one response (generation or retrieval), streaming it to
the battle's group, and failing what a worker cannot finish. Called by arena/tasks.py and the
workers' heartbeat; the web side (battles and votes) is arena/services.py."""

import logging
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from arena.broadcast import sender
from arena.formatting import identity_terms, mentions_identity
from arena.models import UNMEASURED, Battle, Response
from arena.selectors import (
    OVERDUE_ERROR,
    WORKER_LOST_ERROR,
    queue_text,
    responses_overdue,
    responses_worker_lost,
)
from arena.style import markdown_counts
from workers.jobs import job_claim

logger = logging.getLogger(__name__)


def _group_send(group: str, message: dict) -> None:
    """Queued for the page; the token loop never waits for Redis (arena/broadcast.py)."""
    sender.send(group, message)


class _Stream:
    """Batches text deltas to the battle's group (every ARENA_STREAM_FLUSH_S) and saves the text so
    far (every ARENA_STREAM_SAVE_S) so that a reloaded page shows what has arrived."""

    def __init__(self, response: Response) -> None:
        self.response_id = response.id
        self.side = response.side
        self.group = response.battle.group_name
        self.text = ""
        self.sent = 0
        self.pieces = 0
        self.started = time.monotonic()
        self.first_piece_at: float | None = None
        self.last_flush = self.last_save = self.started

    def __call__(self, delta: str) -> None:
        now = time.monotonic()
        if self.first_piece_at is None:
            self.first_piece_at = now
        self.text += delta
        self.pieces += 1
        # The first piece goes at once: the flush interval must not delay the first token on the page.
        if self.sent == 0 or now - self.last_flush >= settings.ARENA_STREAM_FLUSH_S:
            self.flush(now)
        if now - self.last_save >= settings.ARENA_STREAM_SAVE_S:
            self.last_save = now
            Response.objects.filter(id=self.response_id, status=Response.Status.RUNNING).update(
                text=self.text, output_tokens=self.pieces
            )

    def flush(self, now: float | None = None) -> None:
        now = now or time.monotonic()
        self.last_flush = now
        if self.sent == len(self.text):
            return
        elapsed = now - (self.first_piece_at or now)
        _group_send(self.group, {
            "type": "battle.tokens",
            "side": self.side,
            "offset": self.sent,
            "text": self.text[self.sent:],
            "output_tokens": self.pieces,
            "tokens_per_s": round(self.pieces / elapsed, 1) if elapsed > 0.2 else None,
        })
        self.sent = len(self.text)


class _QueueReport:
    """The runtime's `on_queue(position)`: tells the page where the side waits for a slot in its
    model's batch, and stores the sentence as the side's progress_text so that a reloaded page says
    it too. Sent when the position changes, at most every ARENA_STREAM_SAVE_S (it is a database
    write), except the start of the side's turn (position 0), which goes at once."""

    def __init__(self, response: Response) -> None:
        self.response_id = response.id
        self.side = response.side
        self.group = response.battle.group_name
        self.position: int | None = None
        self.reported_at = 0.0

    def __call__(self, position: int) -> None:
        position = max(0, int(position))
        now = time.monotonic()
        if position == self.position or (position > 0 and now - self.reported_at < settings.ARENA_STREAM_SAVE_S):
            return
        self.position, self.reported_at = position, now
        text = queue_text(position)
        _group_send(self.group, {"type": "battle.queue", "side": self.side, "position": position, "text": text})
        Response.objects.filter(id=self.response_id, status=Response.Status.RUNNING).update(progress_text=text)


def _response_claim(*, response_id: int, worker: str) -> Response | None:
    if not job_claim(job_class=Response, job_id=response_id, worker=worker):
        return None  # already served (a redelivered task) or given up as timed out
    return Response.objects.select_related("battle", "contender__model").get(id=response_id)


def response_generate(*, response_id: int, worker: str = "") -> Response | None:
    """Generate one side of a battle, streaming it to the page, and store text and energy."""
    from workers import runtime

    response = _response_claim(response_id=response_id, worker=worker)
    if response is None:
        return None
    stream = _Stream(response)
    contender = response.contender
    unmeasured = ""
    try:
        if contender.model.is_engine_served:
            result, reading, unmeasured = runtime.endpoint_generate(
                endpoint=contender.model.endpoint(), meter=contender.model.meter, prompt=response.battle.prompt,
                decoding=contender.decoding_config(), on_token=stream, should_stop=_given_up(response_id),
            )
        else:
            result, reading = runtime.generate(
                path=contender.model.prepared_path, precision=contender.precision,
                decoding=contender.decoding_config(), prompt=response.battle.prompt, on_token=stream,
                on_queue=_QueueReport(response),
            )
    except runtime.VISITOR_ERRORS as error:  # a prompt too long, a failed batch, an engine's failure: in the pane
        logger.warning("Generation refused or failed for response %s: %s", response_id, getattr(error, "detail", error))
        return response_fail(response_id=response_id, error=str(error))
    except Exception as error:  # noqa: BLE001 - a failed side is shown in its pane, never a crash
        logger.exception("Generation failed for response %s", response_id)
        return response_fail(response_id=response_id, error=f"The model failed to answer ({type(error).__name__}).")
    stream.flush()
    timed_out = result.finish_reason == "timeout"
    with transaction.atomic():
        response = Response.objects.select_for_update().select_related("battle", "contender__model").get(id=response_id)
        if response.status != Response.Status.RUNNING:
            return response  # the web side gave up on it meanwhile
        response.status = Response.Status.TIMEOUT if timed_out else Response.Status.DONE
        response.error = (
            f"The model did not finish within {settings.ARENA_GENERATION_TIMEOUT_S} s." if timed_out else ""
        )
        response.text = result.text
        response.prompt_tokens = result.prompt_tokens
        response.output_tokens = result.output_tokens
        response.header_count, response.list_count, response.bold_count = markdown_counts(result.text)
        response.time_to_first_token_s = result.time_to_first_token_s
        response.duration_s = result.duration_s
        response.finish_reason = result.finish_reason
        if reading is not None:
            response.joules = reading.joules
            response.energy_source = reading.source
            response.energy_method = reading.method[:500]
            response.device = reading.device
        else:  # an engine without a meter: no figure is invented (arena.selectors shows "not measured")
            response.energy_source, response.energy_method = UNMEASURED, unmeasured[:500]
        response.finished_at = timezone.now()
        response.save()
        battle = response.battle
        model = response.contender.model
        leak = mentions_identity(result.text, identity_terms(model.name, model.family, model.maker))
        if timed_out or leak:
            Battle.objects.filter(id=battle.id).update(
                has_error=battle.has_error or timed_out, identity_leak=battle.identity_leak or leak
            )
    _announce_finished(response)
    return response


def _given_up(response_id: int, every_s: float = 1.0):
    """should_stop for a side: true once the web side has given it up (timed out, failed), checked at
    most every `every_s` (a database read)."""
    checked = [time.monotonic()]

    def given_up() -> bool:
        now = time.monotonic()
        if now - checked[0] < every_s:
            return False
        checked[0] = now
        return not Response.objects.filter(id=response_id, status=Response.Status.RUNNING).exists()

    return given_up


def _results_text(results: list[dict]) -> str:
    """A plain-text rendering of the top documents, shown in the pane like an answer."""
    blocks = []
    for rank, result in enumerate(results, start=1):
        snippet = result["text"] if len(result["text"]) <= 400 else result["text"][:400].rstrip() + "…"
        heading = f"{rank}. {result['title']}" if result["title"] else f"{rank}. Document {result['doc_id']}"
        blocks.append(f"{heading}  (similarity {result['score']:.2f})\n{snippet}")
    return "\n\n".join(blocks)


def response_retrieve(*, response_id: int, worker: str = "") -> Response | None:
    """One side of a retrieval battle: the encoder's top documents for the query, with energy."""
    from arena.corpus_services import retrieval_search

    response = _response_claim(response_id=response_id, worker=worker)
    if response is None:
        return None
    started = time.monotonic()
    try:
        results, reading, embedding = retrieval_search(
            contender=response.contender, corpus=response.battle.corpus, query=response.battle.prompt,
            k=settings.ARENA_RETRIEVAL_TOP_K,
        )
    except Exception as error:  # noqa: BLE001 - a failed side is shown in its pane, never a crash
        logger.exception("Retrieval failed for response %s", response_id)
        return response_fail(response_id=response_id, error=f"The search failed ({type(error).__name__}).")
    per_thousand = embedding.joules_per_1000_documents
    corpus_note = (
        f". Embedding the corpus once took {per_thousand:.1f} J per 1,000 documents ({embedding.energy_source})."
        if per_thousand is not None else ""
    )
    with transaction.atomic():
        response = Response.objects.select_for_update().get(id=response_id)
        if response.status != Response.Status.RUNNING:
            return response
        response.status = Response.Status.DONE
        response.results = results
        response.text = _results_text(results)
        response.duration_s = time.monotonic() - started
        response.time_to_first_token_s = response.duration_s
        response.finish_reason = "stop"
        response.joules = reading.joules
        response.energy_source = reading.source
        response.energy_method = (reading.method + corpus_note)[:500]
        response.device = reading.device
        response.finished_at = timezone.now()
        response.save()
    _announce_finished(response)
    return response


def response_fail(*, response_id: int, error: str, status: str = Response.Status.FAILED) -> Response:
    with transaction.atomic():
        response = Response.objects.select_for_update().select_related("battle").get(id=response_id)
        if response.is_finished:
            return response
        response.status = status
        response.error = error
        response.finished_at = timezone.now()
        response.save(update_fields=["status", "error", "finished_at"])
        Battle.objects.filter(id=response.battle_id).update(has_error=True)
    _announce_finished(response)
    return response


def _announce_finished(response: Response) -> None:
    response.refresh_from_db()
    _group_send(response.battle.group_name, {"type": "battle.side_done", "side": response.side})
    _group_send(response.battle.group_name, {"type": "battle.changed"})
    sender.flush()  # in order after the tokens, and sent before the task returns


def responses_expire_overdue() -> int:
    """Give up on sides that a dead or hung worker never finished: failed or timed out, and the page told.

    Run by the workers' heartbeat (arena.tasks), never by a page: until then the pages show such sides
    as they will end (arena.selectors.battle_state)."""
    expired = 0
    for response_id in responses_worker_lost().values_list("id", flat=True):
        response_fail(response_id=response_id, error=WORKER_LOST_ERROR)
        expired += 1
    for response_id in responses_overdue().values_list("id", flat=True):
        response_fail(response_id=response_id, error=OVERDUE_ERROR, status=Response.Status.TIMEOUT)
        expired += 1
    return expired
