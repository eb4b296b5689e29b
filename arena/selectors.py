"""Reads of the arena: what a voter may see of a battle, at each stage."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from arena import choices, hooks
from arena.formatting import energy_about_the_same, energy_everyday, energy_ratio, passage_snippet
from arena.models import UNMEASURED, Battle, CorpusEmbedding, Response, Vote
from arena.reveal import CARBON, CONTROL, JOULES, RELATIVE, co2e_grams, shows_energy, times_less
from arena.sampling import PairStats, pair_key
from workers.jobs import jobs_lost


class Stage:
    GENERATING = "generating"
    BLIND_VOTE = "blind_vote"
    FINAL_VOTE = "final_vote"
    REVEALED = "revealed"
    FAILED = "failed"
    CLOSED = "closed"  # not voted on within ARENA_VOTE_WINDOW_S: energy and names are shown, votes refused


def vote_window_start(*, now: datetime | None = None) -> datetime:
    """Battles created before this moment take no more votes."""
    return (now or timezone.now()) - timedelta(seconds=settings.ARENA_VOTE_WINDOW_S)


def battles_public_q(prefix: str = "", *, vote_path: str | None = None, now: datetime | None = None) -> Q:
    """The blind protocol as one rule: a battle may count in anything a person other than its owner
    can see (contender pages, leaderboards, exports, energy tables, plots, counts) only once it is
    revealed (final vote stored) or can no longer be voted on (failed, or its vote window has passed).

    Every read that aggregates battles, responses or votes for the public goes through this filter
    (``prefix`` reaches the battle from another model, e.g. ``"battle__"``; ``vote_path`` reaches its
    vote, ``""`` when filtering votes themselves, which saves a join).
    """
    vote_path = f"{prefix}vote__" if vote_path is None else vote_path
    return (
        Q(**{f"{vote_path}final_choice__gt": ""})
        | Q(**{f"{prefix}has_error": True})
        | Q(**{f"{prefix}created_at__lt": vote_window_start(now=now)})
    )


def responses_public() -> QuerySet[Response]:
    """Responses of battles that the public may see counted (:func:`battles_public_q`)."""
    return Response.objects.filter(battles_public_q("battle__"))


def battle_get_for_session(*, battle_id: int, session_key: str | None) -> Battle | None:
    """The battle, only if this session created it."""
    if not session_key:
        return None
    return (
        Battle.objects.select_related("contender_a__model", "contender_b__model", "vote")
        .filter(id=battle_id, session_key=session_key)
        .first()
    )


WORKER_LOST_ERROR = "The worker writing this answer stopped. Try another battle."
OVERDUE_ERROR = "No answer arrived in time (the worker may have stopped). Try another battle."


def battle_responses(*, battle: Battle) -> dict[str, Response]:
    """The battle's sides as they stand now. A side whose worker is gone, or that is overdue, is shown
    as it will be stored by the next expiry (the workers' heartbeat: arena.answering.responses_expire_overdue):
    pages read, they never write."""
    responses = {response.side: response for response in battle.responses.all()}
    running = [response.id for response in responses.values() if response.status == Response.Status.RUNNING]
    lost = set(responses_worker_lost().filter(id__in=running).values_list("id", flat=True)) if running else set()
    overdue = battle.created_at < side_timeout_cutoff()
    for response in responses.values():
        if response.id in lost:
            response.status, response.error = Response.Status.FAILED, WORKER_LOST_ERROR
        elif overdue and not response.is_finished:
            response.status, response.error = Response.Status.TIMEOUT, OVERDUE_ERROR
    return responses


def battle_stage(*, battle: Battle, responses: dict[str, Response]) -> str:
    vote = getattr(battle, "vote", None)
    if vote is None:
        if not all(response.is_finished for response in responses.values()):
            return Stage.GENERATING
        if any(response.status != Response.Status.DONE for response in responses.values()):
            return Stage.FAILED
    elif vote.final_choice:
        return Stage.REVEALED
    if battle.created_at < vote_window_start():
        return Stage.CLOSED
    return Stage.BLIND_VOTE if vote is None else Stage.FINAL_VOTE


def tokens_per_second(response: Response) -> float | None:
    if not response.output_tokens or not response.duration_s:
        return None
    generating = response.duration_s - (response.time_to_first_token_s or 0.0)
    return round(response.output_tokens / generating, 1) if generating > 0 else None


def response_answer(response: Response) -> dict:
    """One side's answer as the page shows it, the same in the battle state and the websocket's
    "side_done". `cut_off`: the answer stopped at its contender's token limit, not at its end."""
    return {
        "status": response.status,
        "text": response.text,
        "output_tokens": response.output_tokens or 0,
        "tokens_per_s": tokens_per_second(response),
        "time_to_first_token_s": response.time_to_first_token_s,
        "duration_s": response.duration_s,
        "error": response.error,
        "cut_off": response.status == Response.Status.DONE and response.finish_reason == "length",
    }


def _energy(response: Response, per_thousand_documents: float | None = None) -> dict | None:
    """One side's energy as the reveal shows it; an answer not measured (source "none") has no figure,
    only its method sentence (why)."""
    if response.energy_source == UNMEASURED:
        return {
            "joules": None, "joules_per_token": None, "joules_per_1000_documents": None,
            "duration_s": round(response.duration_s, 2) if response.duration_s is not None else None,
            "device": "", "source": UNMEASURED, "method": response.energy_method, "everyday": "",
        }
    if response.joules is None:
        return None
    per_token = response.joules_per_token
    return {
        "joules": round(response.joules, 3),
        "joules_per_token": round(per_token, 4) if per_token is not None else None,
        "joules_per_1000_documents": round(per_thousand_documents, 3) if per_thousand_documents is not None else None,
        "duration_s": round(response.duration_s, 2) if response.duration_s is not None else None,
        "device": response.device,
        "source": response.energy_source,
        "method": response.energy_method,
        "everyday": energy_everyday(response.joules),
    }


def queue_text(position: int) -> str:
    """What a side's pane says while it waits for a slot in its model's batch: `position` is its place
    in line (the runtime's on_queue: 1 = next, 0 = it has a slot now)."""
    if position <= 0:
        return "Starting to write…"
    if position == 1:
        return "Queued: next in line"
    return f"Queued: {position - 1} request{'' if position == 2 else 's'} ahead"


def _waiting(response: Response, kind: str) -> str:
    """What the pane says until the first token: where the side waits for a slot in its model's
    batch (the last position the worker stored), else that no worker has taken it yet."""
    if response.is_finished or response.text:
        return ""
    if response.status == Response.Status.QUEUED:
        return "Waiting for a worker…"
    if kind == Battle.Kind.RETRIEVAL:
        return "Searching…"
    return response.progress_text or queue_text(0)


def _results(response: Response) -> list[dict]:
    """A retrieval side's documents, best first, each with its `snippet`: the passage as a person reads
    it (markup dropped, cut short: arena.formatting.passage_snippet). A chat side has none."""
    return [
        {**result, "snippet": passage_snippet(str(result.get("text", "")))}
        for result in response.results or []
        if isinstance(result, dict)
    ]


def _indexing_energy(battle: Battle) -> dict[int, float | None]:
    """A retrieval battle's encoders' energy to embed its corpus, per 1,000 documents, by contender id."""
    embeddings = CorpusEmbedding.objects.filter(
        corpus_id=battle.corpus_id, contender_id__in=[battle.contender_a_id, battle.contender_b_id]
    )
    return {embedding.contender_id: embedding.joules_per_1000_documents for embedding in embeddings}


def _contender(response: Response) -> dict:
    contender = response.contender
    return {
        "name": contender.name,
        "model": contender.model.name,
        "family": contender.model.family,
        "decoding": contender.decoding if contender.model.is_language_model else None,  # an encoder decodes nothing
        "precision": contender.precision,
        "parameter_count": contender.model.parameter_count,
        "parameters": contender.model.parameters_text,  # "1.78B parameters": the one rule, modelhub.models
        "url": reverse("contender", args=[contender.slug]),
    }


# How an answer's energy was obtained, in words without figures (the relative reveal shows no number).
SOURCE_WORDS = {
    "nvml": "Measured by the GPU's energy counter (NVML).",
    "rapl": "Measured by the CPU's energy counter (RAPL).",
    "estimate": "Estimated from the CPU time the answer took.",
    UNMEASURED: "Not measured: its engine has no meter.",
}


def _energy_relative(response: Response, other: Response) -> dict:
    """One side's energy in the relative reveal: whether it used less, never a figure."""
    known = response.joules is not None and other.joules is not None
    same = known and energy_about_the_same(response.joules, other.joules)
    less = None if not known or same else response.joules < other.joules
    relative = (
        "Not measured" if response.energy_source == UNMEASURED else "Unknown" if not known
        else "About the same energy" if same else "Used less energy" if less else "Used more energy"
    )
    return {
        "joules": None, "joules_per_token": None, "joules_per_1000_documents": None, "duration_s": None,
        "device": "", "source": response.energy_source, "method": SOURCE_WORDS.get(response.energy_source, ""),
        "everyday": "", "relative": relative, "less": less,
    }


def _energy_summary(view: str, responses: dict[str, Response]) -> dict:
    """The sentence above both sides: the ratio, or (relative) which used less and roughly how many times."""
    a, b = responses["a"].joules, responses["b"].joules
    unmeasured = [side.upper() for side in "ab" if responses[side].energy_source == UNMEASURED]
    if unmeasured:
        text = (
            "Neither answer's energy was measured (their engines have no meter), so they cannot be compared."
            if len(unmeasured) == 2 else
            f"{unmeasured[0]}'s energy was not measured (its engine has no meter), so the two cannot be compared."
        )
        return {"ratio_text": text, "ratio": None}
    text, ratio = energy_ratio(a, b)
    if view != RELATIVE:
        return {"ratio_text": text, "ratio": ratio}
    if ratio is None or energy_about_the_same(a, b):
        return {"ratio_text": text, "ratio": None}
    less, more = ("A", "B") if a < b else ("B", "A")
    return {"ratio_text": f"{less} used less energy than {more}: {times_less(ratio)} less.", "ratio": None}


def _energy_shown(view: str, response: Response, other: Response, per_thousand_documents: float | None) -> dict | None:
    if view == RELATIVE:
        return _energy_relative(response, other)
    energy = _energy(response, per_thousand_documents)
    if view == CARBON and energy is not None and response.joules is not None:
        intensity = settings.ARENA_GRID_INTENSITY_G_PER_KWH
        grams = co2e_grams(response.joules, intensity)
        energy["co2e_g"] = round(grams, 6)
        energy["carbon"] = f"{grams:.2g} g CO2e at {intensity:g} g CO2e per kWh (the grid intensity the arena assumes)"
    return energy


def battle_state(*, battle: Battle) -> dict:
    """The battle as the browser may see it now: energy only after the blind vote (in the control
    condition only after the final vote), shown as the battle's reveal condition says (arena.reveal);
    names only after the final vote (or at once in named mode, where the user picked them)."""
    responses = battle_responses(battle=battle)
    stage = battle_stage(battle=battle, responses=responses)
    vote = getattr(battle, "vote", None)
    finished = stage in (Stage.REVEALED, Stage.CLOSED)
    show_energy = finished or (vote is not None and shows_energy(battle.reveal))
    view = JOULES if battle.reveal == CONTROL else battle.reveal  # control: the figures, once shown
    show_names = finished or battle.mode == Battle.Mode.NAMED
    indexing = _indexing_energy(battle) if show_energy and battle.kind == Battle.Kind.RETRIEVAL else {}
    sides = {}
    for side, response in sorted(responses.items()):
        other = responses.get("b" if side == "a" else "a", response)
        sides[side] = {
            **response_answer(response),
            "results": _results(response),
            "waiting": _waiting(response, battle.kind),
            "energy": (
                _energy_shown(view, response, other, indexing.get(response.contender_id)) if show_energy else None
            ),
            "contender": _contender(response) if show_names else None,
        }
    energy_summary = _energy_summary(view, responses) if show_energy and len(responses) == 2 else None
    return {
        "id": battle.id,
        "kind": battle.kind,
        "corpus": battle.corpus.name if battle.corpus_id else None,
        "prompt": battle.prompt,
        "mode": battle.mode,
        "ws_url": f"/ws/battles/{battle.id}/",
        "stage": stage,
        "sides": sides,
        "vote": (
            {"blind_choice": vote.blind_choice, "final_choice": vote.final_choice or None, "changed": vote.changed}
            if vote
            else None
        ),
        "energy_summary": energy_summary,
        "reveal": battle.reveal if vote is not None or stage == Stage.CLOSED else None,
        "own_ladder_url": _own_ladder_url(battle) if stage == Stage.REVEALED else None,
    }


def _own_ladder_url(battle: Battle) -> str | None:
    """The session's own ladder, once the battle's session has cast enough counted votes for one."""
    counted = Vote.objects.filter(battles_counted_q("battle__"), battle__session_key=battle.session_key).count()
    return reverse("leaderboard-mine") if counted >= settings.ANALYSIS_OWN_LADDER_VOTES else None


def side_timeout_cutoff() -> datetime:
    """Battles started before this whose sides are still unfinished are overdue (ARENA_SIDE_TIMEOUT_S)."""
    return timezone.now() - timedelta(seconds=settings.ARENA_SIDE_TIMEOUT_S)


def responses_overdue() -> QuerySet[Response]:
    """Sides still queued or running long after their battle started (a worker died or hung)."""
    return Response.objects.filter(
        status__in=[Response.Status.QUEUED, Response.Status.RUNNING], battle__created_at__lt=side_timeout_cutoff()
    )


def responses_worker_lost() -> QuerySet[Response]:
    """Running sides whose worker stopped beating, stopped, or was restarted after the side began."""
    return jobs_lost(Response)


def _votes_recent(*, session_key: str | None, client_ip: str | None, seconds: int) -> QuerySet[Vote]:
    """Blind votes cast in the last `seconds` by one session or one network address."""
    since = timezone.now() - timedelta(seconds=seconds)
    # A vote is cast after its battle starts: the battle's indexed time narrows the scan.
    votes = Vote.objects.filter(battle__created_at__gte=since - timedelta(hours=1))
    return _recent(votes, "blind_at", "battle__", session_key, client_ip, seconds)


def votes_recent_count(
    *, session_key: str | None = None, client_ip: str | None = None, seconds: int = 86400, limit: int | None = None
) -> int:
    """Blind votes cast in the last `seconds` by one session or one network address (the daily cap).

    Counting stops at `limit` (the cap), so a busy address costs at most that many rows per vote.
    """
    votes = _votes_recent(session_key=session_key, client_ip=client_ip, seconds=seconds)
    return votes[:limit].count() if limit is not None else votes.count()


def vote_cap_frees_in_s(*, session_key: str | None = None, client_ip: str | None = None, seconds: int = 86400) -> int:
    """Seconds until the oldest of the recent votes of this session (or address) leaves the daily window."""
    votes = _votes_recent(session_key=session_key, client_ip=client_ip, seconds=seconds)
    oldest = votes.order_by("blind_at").values_list("blind_at", flat=True).first()
    if oldest is None:
        return 60
    return max(1, int((oldest + timedelta(seconds=seconds) - timezone.now()).total_seconds()) + 1)


def prompt_asked_before(*, session_key: str, prompt_hash: str, seconds: int) -> bool:
    since = timezone.now() - timedelta(seconds=seconds)
    return Battle.objects.filter(session_key=session_key, prompt_hash=prompt_hash, created_at__gte=since).exists()


def battles_recent_count(*, session_key: str | None = None, client_ip: str | None = None, seconds: int = 60) -> int:
    return _recent(Battle.objects, "created_at", "", session_key, client_ip, seconds).count()


def _recent(queryset, time_field: str, battle_prefix: str, session_key, client_ip, seconds: int) -> QuerySet:
    queryset = queryset.filter(**{f"{time_field}__gte": timezone.now() - timedelta(seconds=seconds)})
    if session_key is not None:
        queryset = queryset.filter(**{f"{battle_prefix}session_key": session_key})
    if client_ip is not None:
        queryset = queryset.filter(**{f"{battle_prefix}client_ip": client_ip})
    return queryset


def corpora_searchable() -> list[dict]:
    """Corpora with at least two encoders' vectors ready (a retrieval battle needs two)."""
    from django.db.models import Avg, Count, Q

    from arena.models import Corpus, CorpusEmbedding

    unfinished = Q(embeddings__status__in=[CorpusEmbedding.Status.QUEUED, CorpusEmbedding.Status.RUNNING])
    corpora = Corpus.objects.annotate(
        ready=Count("embeddings", filter=Q(embeddings__status=CorpusEmbedding.Status.READY)),
        unfinished=Count("embeddings", filter=unfinished),
        embedding_progress=Avg("embeddings__progress", filter=unfinished),
    ).order_by("-builtin", "name")
    return [
        {
            "slug": c.slug, "name": c.name, "document_count": c.document_count, "ready": c.ready >= 2,
            "progress": round(100 * c.embedding_progress) if c.embedding_progress is not None else None,
            # what the page says while no corpus can be searched yet
            "builtin": bool(c.builtin), "encoders_ready": c.ready, "encoders_embedding": c.unfinished,
        }
        for c in corpora
    ]


def battles_counted_q(prefix: str = "") -> Q:
    """``Battle.counts_for_ranking`` as a query (the rule ``Battle.COUNTED``: anonymous mode, no error,
    identity leak or repeated prompt); ``prefix`` reaches the battle from another model, e.g. ``"battle__"``."""
    return Q(**{f"{prefix}{name}": value for name, value in Battle.COUNTED.items()})


def pair_sampling_stats(*, kind: str = Battle.Kind.CHAT) -> dict[tuple[int, int], PairStats]:
    """What the active sampling policy needs of each contender pair (:func:`arena.sampling.active_probabilities`):
    the counted battles of this kind with a blind vote, and Σ from the pair's own record
    (:meth:`PairStats.from_score`), keyed by :func:`pair_key`. Sides are merged (a pair is unordered).

    With rating estimates from ``arena.hooks.sampling_ratings`` (connected in config/wiring.py: the
    latest leaderboard's blind ladder), every pair of rated contenders also carries the estimated
    rating difference, and the active policy uses the information rule; without, the counts-only one.

    One GROUP BY over the votes (rows: pairs × 4 choices), cached for ``ARENA_SAMPLING_STATS_TTL_S``
    seconds in the process's cache: sampling does not need the very last votes, and a burst of battles
    must not scan the votes each time. It reads every counted vote, revealed or not: nothing of it is
    shown to anyone, it only tilts the draw.
    """
    key = f"arena:pair-sampling-stats:{kind}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    rows = (
        Vote.objects.filter(battles_counted_q("battle__"), battle__kind=kind)
        .values_list("battle__contender_a_id", "battle__contender_b_id", "blind_choice")
        .annotate(n=Count("id"))
        .order_by()
    )
    battles: dict[tuple[int, int], int] = {}
    score: dict[tuple[int, int], float] = {}  # of the pair's smaller id
    for a_id, b_id, choice, n in rows:
        pair = pair_key(a_id, b_id)
        battles[pair] = battles.get(pair, 0) + n
        a_score = choices.SCORE_OF_A[choice]
        score[pair] = score.get(pair, 0.0) + n * (a_score if pair[0] == a_id else 1.0 - a_score)
    stats = {pair: PairStats.from_score(n, score[pair]) for pair, n in battles.items()}
    ratings = hooks.sampling_ratings(kind)
    if ratings:  # every pair of rated contenders, played or not, gets the estimated difference
        rated = sorted(ratings)
        for k, a_id in enumerate(rated):
            for b_id in rated[k + 1 :]:
                known = stats.get((a_id, b_id), PairStats())
                stats[(a_id, b_id)] = PairStats(known.battles, known.variance, ratings[a_id] - ratings[b_id])
    if settings.ARENA_SAMPLING_STATS_TTL_S > 0:
        cache.set(key, stats, settings.ARENA_SAMPLING_STATS_TTL_S)
    return stats
