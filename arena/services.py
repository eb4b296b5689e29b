"""Writes of the arena on the web side: battles and votes (the worker side, answering a response, is
arena/answering.py)."""

import logging
import random

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from arena import hooks
from arena.answering import response_fail
from arena.categories import categories_of
from arena.choices import BLIND, ENERGY, MEMBERS
from arena.errors import InvalidInput, NotFound, NotNow, NotYours, TooMany, Unavailable
from arena.formatting import prompt_fingerprint
from arena.models import Battle, Choice, Corpus, CorpusEmbedding, Response, Vote
from arena.reveal import JOULES, condition_draw, conditions_parse
from arena.sampling import Candidate, SamplingError, policy_label, sample_pair
from arena.selectors import (
    Stage,
    battle_responses,
    battle_stage,
    battles_recent_count,
    pair_sampling_stats,
    prompt_asked_before,
    vote_cap_frees_in_s,
    votes_recent_count,
)
from modelhub.models import Contender
from modelhub.selectors import contenders_ready
from workers.jobs import job_enqueue

logger = logging.getLogger(__name__)


def _check_daily_vote_cap(*, session_key: str, client_ip: str | None) -> None:
    per_session, per_ip = settings.ARENA_VOTES_PER_DAY_PER_SESSION, settings.ARENA_VOTES_PER_DAY_PER_IP
    if votes_recent_count(session_key=session_key, limit=per_session) >= per_session:
        raise TooMany(
            f"You have cast today's {settings.ARENA_VOTES_PER_DAY_PER_SESSION} votes. Thank you! Come back tomorrow.",
            retry_after_s=vote_cap_frees_in_s(session_key=session_key),
        )
    if client_ip and votes_recent_count(client_ip=client_ip, limit=per_ip) >= per_ip:
        raise TooMany(
            "Your network has reached today's vote limit. Please come back tomorrow.",
            retry_after_s=vote_cap_frees_in_s(client_ip=client_ip),
        )


def _check_queue_reachable() -> None:
    from arena.health import redis_available

    if not redis_available(settings.REDIS_URL):
        raise Unavailable(
            "The arena cannot start battles right now (its job queue is unavailable). "
            "Your earlier votes are safe; please try again in a minute.", retry_after_s=30,
        )


def _check_rate_limits(*, session_key: str, client_ip: str | None) -> None:
    if battles_recent_count(session_key=session_key) >= settings.ARENA_BATTLES_PER_MINUTE_PER_SESSION:
        raise TooMany("You are starting battles very quickly. Please wait a minute and try again.", retry_after_s=60)
    if client_ip and battles_recent_count(client_ip=client_ip) >= settings.ARENA_BATTLES_PER_MINUTE_PER_IP:
        raise TooMany("Too many battles from your network in the last minute. Please wait and try again.",
                      retry_after_s=60)


def _clean_prompt(prompt: str | None) -> str:
    prompt = (prompt or "").strip()
    if not prompt:
        raise InvalidInput("Type a prompt first.", field="prompt")
    if len(prompt) > settings.ARENA_MAX_PROMPT_CHARS:
        raise InvalidInput(
            f"Your prompt has {len(prompt)} characters; the limit is {settings.ARENA_MAX_PROMPT_CHARS}.",
            field="prompt",
        )
    return prompt


WARMING_UP = "The arena is warming up: no worker serves its models yet."


def _contenders_served(kind: str) -> list[Contender]:
    """Ready contenders whose model's queue a live worker consumes: a side nobody would serve is
    never drawn (it would only time out). When contenders are ready but too few are served, the
    workers are starting (or gone): a 503 with Retry-After, which the page retries by itself."""
    from workers.selectors import queues_served

    served = queues_served()
    ready = contenders_ready(kind=kind)
    serving = [c for c in ready if served is None or c.model.queue_name in served]
    if len(serving) < 2 <= len(ready):
        raise Unavailable(WARMING_UP, retry_after_s=3)
    return serving


def _pick_named(contender_a: str | None, contender_b: str | None) -> tuple[Contender, Contender]:
    if not contender_a or not contender_b:
        raise InvalidInput("Pick both contenders.", field="contender_b" if contender_a else "contender_a")
    if contender_a == contender_b:
        raise InvalidInput("Pick two different contenders.", field="contender_b")
    ready = {c.slug: c for c in _contenders_served("language") if c.slug in (contender_a, contender_b)}
    missing = [slug for slug in (contender_a, contender_b) if slug not in ready]
    if missing:
        field = "contender_a" if contender_a in missing else "contender_b"
        raise InvalidInput(f"Not available right now: {', '.join(missing)}.", field=field)
    return ready[contender_a], ready[contender_b]


def _pick_anonymous(rng: random.Random | None, corpus: Corpus | None = None) -> tuple[Contender, Contender]:
    if corpus is None:
        contenders = {c.id: c for c in _contenders_served("chat")}
    else:
        # Encoders whose vectors of this corpus are ready.
        embedded = set(CorpusEmbedding.objects.filter(corpus=corpus, status=CorpusEmbedding.Status.READY)
                       .values_list("contender_id", flat=True))
        contenders = {c.id: c for c in _contenders_served("encoder") if c.id in embedded}
    candidates = [Candidate(id=c.id, family=c.model.family, weight=c.sampling_weight) for c in contenders.values()]
    policy = settings.ARENA_SAMPLING_POLICY
    pair_stats = None
    if policy == "active" and len(candidates) >= 2:
        pair_stats = pair_sampling_stats(kind=Battle.Kind.CHAT if corpus is None else Battle.Kind.RETRIEVAL)
    try:
        first, second = sample_pair(
            candidates, policy, rng, pair_stats=pair_stats, floor=settings.ARENA_SAMPLING_FLOOR,
            same_family=settings.ARENA_SAMPLING_SAME_FAMILY,
        )
    except SamplingError as error:  # too few contenders now: an admin may prepare more, so try again later
        raise Unavailable(str(error), retry_after_s=30) from None
    return contenders[first.id], contenders[second.id]


@transaction.atomic
def battle_create(
    *,
    prompt: str | None,
    session_key: str,
    client_ip: str | None = None,
    contender_a: str | None = None,
    contender_b: str | None = None,
    named: bool = False,
    corpus: str | None = None,
    rng: random.Random | None = None,
) -> Battle:
    """Create a battle and queue both sides on their models' queues (after commit).

    With `corpus` (a slug) it is a retrieval battle between two encoders on that corpus.
    """
    from arena.tasks import generate_response, retrieve_response

    prompt = _clean_prompt(prompt)
    chosen_corpus = None
    if corpus is not None:
        chosen_corpus = Corpus.objects.filter(slug=corpus).first()
        if chosen_corpus is None:
            raise InvalidInput("Pick a corpus to search.", field="corpus")
    _check_rate_limits(session_key=session_key, client_ip=client_ip)
    _check_daily_vote_cap(session_key=session_key, client_ip=client_ip)
    _check_queue_reachable()
    if named and chosen_corpus is None:
        first, second = _pick_named(contender_a, contender_b)
    else:
        first, second = _pick_anonymous(rng, chosen_corpus)
    task = retrieve_response if chosen_corpus else generate_response
    fingerprint = prompt_fingerprint(prompt)
    battle = Battle.objects.create(
        reveal=JOULES if named else reveal_condition_of_session(session_key=session_key, rng=rng),
        categories=categories_of([prompt]),
        kind=Battle.Kind.RETRIEVAL if chosen_corpus else Battle.Kind.CHAT,
        corpus=chosen_corpus,
        prompt=prompt,
        contender_a=first,
        contender_b=second,
        policy="picked" if named else policy_label(settings.ARENA_SAMPLING_POLICY, settings.ARENA_SAMPLING_SAME_FAMILY),
        mode=Battle.Mode.NAMED if named else Battle.Mode.ANONYMOUS,
        session_key=session_key,
        client_ip=client_ip,
        prompt_hash=fingerprint,
        repeated_prompt=prompt_asked_before(
            session_key=session_key, prompt_hash=fingerprint, seconds=settings.ARENA_REPEAT_WINDOW_S
        ),
    )
    if not chosen_corpus:
        _prompt_grouping_queue(battle)
    for side, contender in (("a", first), ("b", second)):
        response = Response.objects.create(battle=battle, side=side, contender=contender)
        # If Redis refuses it, the side fails visibly instead of waiting for its timeout.
        job_enqueue(
            job_class=Response, job_id=response.id, task=task, queue=contender.model.queue_name,
            on_refused=_response_refused,
        )
    return battle


def _prompt_grouping_queue(battle: Battle) -> None:
    """Group the prompt with its near-duplicates in the worker that holds the encoder, after commit; best
    effort: a prompt that cannot be grouped simply counts (arena.prompt_groups)."""
    from arena.prompt_groups import duplicate_encoder
    from arena.tasks import group_prompt

    encoder = duplicate_encoder()
    if encoder is None:
        return

    def send() -> None:
        try:
            group_prompt.apply_async(args=[battle.id], queue=encoder.queue_name)
        except Exception:  # noqa: BLE001 - kombu raises several kinds of connection errors
            logger.warning("Could not queue the grouping of battle %s", battle.id, exc_info=True)

    transaction.on_commit(send)


def reveal_condition_of_session(*, session_key: str, rng: random.Random | None = None) -> str:
    """The session's reveal condition: the one of its latest anonymous battle while the mix still holds
    it (no one sees two conditions), else one drawn with ARENA_REVEAL_CONDITIONS' weights."""
    mix = conditions_parse(settings.ARENA_REVEAL_CONDITIONS)  # checked at start (arena/checks.py)
    kept = (
        Battle.objects.filter(session_key=session_key, mode=Battle.Mode.ANONYMOUS)
        .order_by("-id").values_list("reveal", flat=True).first()
    )
    return kept if kept in mix else condition_draw(mix, rng)


def _response_refused(response_id: int) -> None:
    response_fail(response_id=response_id, error="This answer could not be queued (the job queue is unavailable).")


def vote_cast(*, battle_id: int, session_key: str | None, stage: str, choice: str) -> Battle:
    """Record the blind vote, or the vote after the energy reveal (once)."""
    if choice not in Choice.values:
        raise InvalidInput(f"Choose one of: {', '.join(label for _, _, label in MEMBERS)}.", field="choice")
    if stage not in ("blind", "final"):
        raise InvalidInput("Unknown vote stage.", field="stage")
    try:
        with transaction.atomic():
            battle = Battle.objects.select_for_update().filter(id=battle_id).first()
            if battle is None:
                raise NotFound("This battle does not exist.")
            if not session_key or battle.session_key != session_key:
                raise NotYours("Only the person who started this battle can vote on it.")
            current = battle_stage(battle=battle, responses=battle_responses(battle=battle))
            if stage == "blind":
                _check_daily_vote_cap(session_key=session_key, client_ip=battle.client_ip)
                _vote_blind(battle, current, choice)
            else:
                _vote_final(battle, current, choice)
    except IntegrityError:
        raise NotNow("This battle already has a vote.") from None
    return Battle.objects.select_related("vote").get(id=battle_id)


def _refuse_closed(current: str) -> None:
    if current == Stage.CLOSED:
        minutes = max(1, round(settings.ARENA_VOTE_WINDOW_S / 60))
        raise NotNow(
            f"Voting on this battle has closed (battles take votes for {minutes} minutes after they start). "
            "Start a new battle to vote again.",
        )


def _vote_blind(battle: Battle, current: str, choice: str) -> None:
    _refuse_closed(current)
    if current == Stage.GENERATING:
        raise NotNow("Wait until both answers are complete before voting.")
    if current == Stage.FAILED:
        raise NotNow("One answer failed, so this battle cannot be voted on. Try another battle.")
    if current != Stage.BLIND_VOTE:
        raise NotNow("You already voted on this battle.")
    Vote.objects.create(battle=battle, blind_choice=choice)
    _ladder_record(battle, BLIND, choice)


def _vote_final(battle: Battle, current: str, choice: str) -> None:
    _refuse_closed(current)
    if current != Stage.FINAL_VOTE:
        message = "Vote on the answers first." if current in (Stage.BLIND_VOTE, Stage.GENERATING) else (
            "You already gave your final vote." if current == Stage.REVEALED else "This battle cannot be voted on."
        )
        raise NotNow(message)
    vote = Vote.objects.select_for_update().get(battle=battle)
    vote.final_choice = choice
    vote.changed = choice != vote.blind_choice
    vote.final_at = timezone.now()
    vote.save(update_fields=["final_choice", "changed", "final_at"])
    _ladder_record(battle, ENERGY, choice)


def _ladder_record(battle: Battle, ladder: str, choice: str) -> None:
    """The leaderboard records the vote in its transaction (arena.hooks.vote_recorded, connected in
    config/wiring.py to analysis.leaderboard.services.votes.pair_counts_record)."""
    hooks.vote_recorded.send(battle=battle, ladder=ladder, choice=choice)
