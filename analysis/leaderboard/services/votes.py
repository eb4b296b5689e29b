"""Votes into the running aggregates.

A counted vote inserts one ``PendingVote`` row inside the vote's own transaction (so a rolled-back
vote leaves nothing, and concurrent votes lock no shared row: with the aggregates updated in the
vote itself, every vote locked the same few Elo and energy rows and votes queued behind each other,
bench/load_votes.py). The refit (refit.py) first folds the pending votes of battles public under
the blind protocol (``arena.selectors.battles_public_q``) into the aggregates, in id order: the
pair-outcome counts, the online Elo of both sides, and, on the blind vote, the energy sums of both
responses and the battle's context row (style counts, lengths, energies); on the vote after the
energy reveal, the GEA switch counts and the context's second vote. Sums go to the UTC day of the
battle's blind vote.

Concurrency: folds and rebuilds run one at a time (an advisory lock on PostgreSQL, which votes never
take); increments are ``UPDATE ... SET n = n + 1`` with an insert in a savepoint when the row does
not exist yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import F

from analysis.leaderboard.board import EnergySums
from analysis.leaderboard.gea import GeaVote, vote_counts
from analysis.leaderboard.ratings import ELO_INIT, elo_step
from analysis.leaderboard.services.competitors import competitor_for_contender
from analysis.leaderboard.services.schedule import leaderboard_refit_schedule
from analysis.models import (
    BattleContext,
    CategoryPairCount,
    Competitor,
    EloRating,
    EnergyStat,
    GeaCount,
    PairCount,
    PendingVote,
)
from arena.choices import BLIND, CHOICES, ENERGY, LADDERS
from arena.formatting import energy_shown
from arena.reveal import shows_energy


def _increment(model, key: dict, deltas: dict) -> None:
    """Atomic upsert ``row(key) += deltas`` that is safe under concurrent votes."""
    if not deltas:
        return
    update = {name: F(name) + value for name, value in deltas.items()}
    if model.objects.filter(**key).update(**update):
        return
    try:
        with transaction.atomic():
            model.objects.create(**key, **deltas)
    except IntegrityError:
        # a concurrent vote inserted the row between our update and our insert
        model.objects.filter(**key).update(**update)


def _sum_into(totals: dict, key, deltas: dict | None) -> None:
    row = totals.setdefault(key, {})
    for name, value in (deltas or {}).items():
        row[name] = row.get(name, 0) + value


FOLD_LOCK_KEY = 7_214_001  # the advisory lock of folds and rebuilds


FOLD_BATCH = 20_000  # pending votes per fold transaction


def fold_lock() -> None:
    """One fold (or rebuild) at a time. Not a row lock that votes touch: votes never wait for it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FOLD_LOCK_KEY])


def pair_counts_record(*, battle, ladder: str, choice: str) -> None:
    """Record one vote for the leaderboard, in the vote's transaction (folded by the next refit).

    ``ladder`` is "blind" (the first vote) or "energy" (the vote after the energy reveal).
    Battles that do not count for ranking (named mode, an error, an identity leak, a repeated
    prompt) change nothing.
    """
    if not battle.counts_for_ranking:
        return
    if ladder not in LADDERS:
        raise ValueError(f"unknown ladder {ladder!r}")
    if choice not in CHOICES:
        raise ValueError(f"unknown choice {choice!r}")
    PendingVote.objects.create(battle=battle, ladder=ladder, choice=choice)
    # The blind protocol: a vote is folded (made public) only once its battle is revealed or closed.
    # The final vote reveals it now (votes on closed or failed battles are refused); a battle left
    # after its blind vote is released by pending_votes_release when its vote window ends.
    if ladder == ENERGY:
        transaction.on_commit(leaderboard_refit_schedule, robust=True)


def pending_public(now: datetime | None = None):
    """Pending votes whose battles the public may see counted (``arena.selectors.battles_public_q``)."""
    from arena.selectors import battles_public_q

    return PendingVote.objects.filter(battles_public_q("battle__", now=now))


def pending_votes_release() -> bool:
    """Schedule a refit when pending votes became public without a vote (their battle's window ended).

    Run periodically by the workers (the heartbeat loop). Returns True when a refit was queued.
    """
    return pending_public().exists() and leaderboard_refit_schedule()


@transaction.atomic
def aggregates_fold(*, limit: int = FOLD_BATCH) -> int:
    """Fold pending votes into the aggregates, oldest first; returns how many were folded.

    Sums are added up in memory and each touched row is written once; Elo is replayed in vote order.
    A battle flagged after its vote (an error, a leak) is skipped here.
    """
    fold_lock()
    pending = list(pending_public().select_related("battle").order_by("id")[:limit])
    votes = [vote for vote in pending if vote.battle.counts_for_ranking]
    contender_ids = sorted({cid for vote in votes for cid in (vote.battle.contender_a_id, vote.battle.contender_b_id)})
    competitors = {cid: competitor_for_contender(cid) for cid in contender_ids}  # created in id order
    _aggregates_add(_fold_sums(votes, competitors))
    PendingVote.objects.filter(id__in=[vote.id for vote in pending]).delete()
    return len(pending)


def utc_day(moment: datetime | float) -> date:
    """The UTC calendar day of a time (aware datetime, or Unix seconds): the day of the daily sums."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, tz=UTC)
    return moment.astimezone(UTC).date()


@dataclass
class _FoldSums:
    """What a batch of votes adds to the aggregates (keys with the day of the battle's blind vote)."""

    pairs: dict = field(default_factory=dict)  # (ladder, a id, b id, outcome, day) -> {"count": n}
    category_pairs: dict = field(default_factory=dict)  # (category, ladder, a id, b id, outcome, day) -> {"count": n}
    elo: dict = field(default_factory=dict)  # (ladder, competitor id) -> [rating, battles]: the new values
    energy: dict = field(default_factory=dict)  # (competitor id, day) -> EnergySums deltas
    gea: dict = field(default_factory=dict)  # (lo id, hi id, day) -> GEA deltas
    contexts: dict = field(default_factory=dict)  # battle id -> new BattleContext
    after: dict = field(default_factory=dict)  # battle id -> second vote, for a context folded before


def _fold_sums(votes: list[PendingVote], competitors: dict[int, Competitor]) -> _FoldSums:
    """What the votes add to the aggregates, in memory: pair-outcome counts, Elo (the new ratings
    and battle counts of every competitor touched), energy sums, GEA counts and context rows."""
    from arena.models import Response, Vote

    battle_ids = {vote.battle_id for vote in votes}
    answers = {
        (battle_id, side): rest
        for battle_id, side, *rest in Response.objects.filter(battle_id__in=battle_ids).values_list(
            "battle_id", "side", "joules", "output_tokens", "header_count", "list_count", "bold_count"
        )
    }
    blind_votes = {
        battle_id: (choice, at)
        for battle_id, choice, at in Vote.objects.filter(battle_id__in=battle_ids).values_list(
            "battle_id", "blind_choice", "blind_at"
        )
    }
    sums = _FoldSums()
    sums.elo = {
        (row.ladder, row.competitor_id): [row.rating, row.battles]
        for row in EloRating.objects.filter(competitor_id__in=[c.id for c in competitors.values()])
    }
    unknown = (None,) * 5
    for vote in votes:
        battle = vote.battle
        a, b = competitors[battle.contender_a_id], competitors[battle.contender_b_id]
        blind, blind_at = blind_votes.get(battle.id, (None, battle.created_at))
        day = utc_day(blind_at)
        ja, ta, ha, la, ba = answers.get((battle.id, "a"), unknown)
        jb, tb, hb, lb, bb = answers.get((battle.id, "b"), unknown)
        # a second vote is energy-aware only after a reveal of both energies (a control group's is a second look)
        energy_aware = energy_shown(ja, jb) and shows_energy(battle.reveal)
        if vote.ladder == BLIND or energy_aware:
            _sum_into(sums.pairs, (vote.ladder, a.id, b.id, vote.choice, day), {"count": 1})
            for category in battle.categories or ():
                _sum_into(sums.category_pairs, (category, vote.ladder, a.id, b.id, vote.choice, day), {"count": 1})
            ra = sums.elo.setdefault((vote.ladder, a.id), [ELO_INIT, 0])
            rb = sums.elo.setdefault((vote.ladder, b.id), [ELO_INIT, 0])
            step = elo_step(ra[0], rb[0], vote.choice)
            ra[0], ra[1], rb[0], rb[1] = ra[0] + step, ra[1] + 1, rb[0] - step, rb[1] + 1
        if vote.ladder == BLIND:
            _sum_into(sums.energy, (a.id, day), EnergySums.deltas(ja, ta))
            _sum_into(sums.energy, (b.id, day), EnergySums.deltas(jb, tb))
            sums.contexts[battle.id] = BattleContext(
                kind=a.kind, tstamp=blind_at, battle_id=battle.id, competitor_a_id=a.id, competitor_b_id=b.id,
                winner=vote.choice, tokens_a=ta, tokens_b=tb, headers_a=ha, headers_b=hb, lists_a=la, lists_b=lb,
                bold_a=ba, bold_b=bb, energy_a_j=ja, energy_b_j=jb, reveal=battle.reveal,
            )
            continue
        if battle.id in sums.contexts:
            sums.contexts[battle.id].winner_after = vote.choice
        else:
            sums.after[battle.id] = vote.choice
        if blind is not None and energy_aware:
            gea_vote = GeaVote(a.name, b.name, a.family or None, b.family or None, ja, jb, blind, vote.choice)
            _sum_into(sums.gea, (*sorted((a.id, b.id)), day), vote_counts(gea_vote))
    return sums


def _aggregates_add(sums: _FoldSums) -> None:
    """Write what :func:`_fold_sums` added up: each touched row once."""
    for (ladder, a_id, b_id, outcome, day), deltas in sums.pairs.items():
        _increment(PairCount, {"ladder": ladder, "competitor_a_id": a_id, "competitor_b_id": b_id,
                               "outcome": outcome, "day": day}, deltas)
    for (category, ladder, a_id, b_id, outcome, day), deltas in sums.category_pairs.items():
        _increment(CategoryPairCount, {"category": category, "ladder": ladder, "competitor_a_id": a_id,
                                       "competitor_b_id": b_id, "outcome": outcome, "day": day}, deltas)
    for (ladder, competitor_id), (rating, battles) in sums.elo.items():
        EloRating.objects.update_or_create(ladder=ladder, competitor_id=competitor_id,
                                           defaults={"rating": rating, "battles": battles})
    for (competitor_id, day), deltas in sums.energy.items():
        _increment(EnergyStat, {"competitor_id": competitor_id, "day": day}, deltas)
    for (lo, hi, day), deltas in sums.gea.items():
        _increment(GeaCount, {"competitor_lo_id": lo, "competitor_hi_id": hi, "day": day}, deltas)
    BattleContext.objects.bulk_create(sums.contexts.values(), batch_size=5000)
    for choice in set(sums.after.values()):
        battles = [battle_id for battle_id, after in sums.after.items() if after == choice]
        BattleContext.objects.filter(battle_id__in=battles).update(winner_after=choice)
