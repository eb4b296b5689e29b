"""Writes of the leaderboard: the running aggregates of the votes, the refit, the rebuild, imports.

A counted vote inserts one ``PendingVote`` row inside the vote's own transaction (so a rolled-back
vote leaves nothing, and concurrent votes lock no shared row: with the aggregates updated in the
vote itself, every vote locked the same few Elo and energy rows and votes queued behind each other,
bench/load_votes.py). The refit task, scheduled at most once per ``ANALYSIS_REFIT_DELAY_S`` seconds
(after a final vote commits, or by the workers' heartbeat once a battle left after its blind vote
closes), first folds the pending votes of battles public under the blind protocol
(``arena.selectors.battles_public_q``) into the aggregates, in id order: the pair-outcome counts,
the online Elo of both sides, and, on the blind vote, the energy sums of both responses and the
battle's context row (style counts, lengths, energies); on the vote after the energy reveal, the GEA
switch counts and the context's second vote. Sums go to the UTC day of the battle's blind vote. It
then reads O(days × contenders²) rows of sums, and the context rows, to fit the leaderboard.

Concurrency: folds and rebuilds run one at a time (an advisory lock on PostgreSQL, which votes never
take); increments are ``UPDATE ... SET n = n + 1`` with an insert in a savepoint when the row does
not exist yet.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from analysis.consumers import GROUP
from analysis.leaderboard import selectors
from analysis.leaderboard.battle_log import DEFAULT_KIND, BattleLogError, BattleLogReader, BattleRecord
from analysis.leaderboard.board import BoardInputs, EnergySums, board_inputs_from_records
from analysis.leaderboard.gea import GEA_FIELDS, GeaVote, vote_counts
from analysis.leaderboard.ratings import ELO_INIT, elo_step
from analysis.models import (
    BattleContext,
    Competitor,
    EloRating,
    EnergyStat,
    GeaCount,
    ImportedBattle,
    LeaderboardSnapshot,
    PairCount,
    PendingVote,
    RefitState,
)
from arena.choices import BLIND, CHOICES, ENERGY, LADDERS, RANKED_KINDS

logger = logging.getLogger(__name__)

def refit_delay_s() -> float:
    return settings.ANALYSIS_REFIT_DELAY_S


def refit_stale_s() -> float:
    """A refit scheduled this long ago that never started is taken as lost and scheduled again."""
    return settings.ANALYSIS_REFIT_STALE_S


# ---------------------------------------------------------------------------------------------
# Competitors


def _competitor_for_contender(contender_id: int) -> Competitor:
    """The competitor of a contender, created on its first counted vote.

    An imported competitor of the same name (and no contender) is adopted, so that an imported
    log and live votes of the same contender share one line of the leaderboard.
    """
    from modelhub.models import Contender

    found = Competitor.objects.filter(contender_id=contender_id).first()
    if found:
        return found
    contender = Contender.objects.select_related("model").get(id=contender_id)
    family, kind = contender.model.family, contender.model.kind
    try:
        with transaction.atomic():
            adopted = Competitor.objects.filter(name=contender.name, contender__isnull=True).update(
                contender=contender, family=family, kind=kind
            )
            if not adopted:
                Competitor.objects.create(name=contender.name, family=family, kind=kind, contender=contender)
    except IntegrityError:
        pass  # a concurrent vote created it, or the name belongs to another (renamed) contender
    found = Competitor.objects.filter(contender_id=contender_id).first()
    if found:
        return found
    competitor, _ = Competitor.objects.get_or_create(
        name=f"{contender.name} (#{contender.id})", defaults={"family": family, "kind": kind, "contender": contender}
    )
    return competitor


def _competitor_for_name(name: str, *, family: str, kind: str, cache: dict) -> Competitor:
    """The competitor of a name in an imported log: an existing one, a contender's, or a new one."""
    from modelhub.models import Contender

    if name in cache:
        return cache[name]
    competitor = Competitor.objects.filter(name=name).first()
    if competitor is None:
        contender = Contender.objects.filter(name=name, competitor__isnull=True).first()
        competitor = (
            _competitor_for_contender(contender.id)
            if contender
            else Competitor.objects.get_or_create(name=name, defaults={"family": family, "kind": kind})[0]
        )
    elif family and not competitor.family:
        Competitor.objects.filter(id=competitor.id).update(family=family)
        competitor.family = family
    cache[name] = competitor
    return competitor


# ---------------------------------------------------------------------------------------------
# Per-vote aggregates


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


_FOLD_LOCK_KEY = 7_214_001  # the advisory lock of folds and rebuilds
FOLD_BATCH = 20_000  # pending votes per fold transaction


def _fold_lock() -> None:
    """One fold (or rebuild) at a time. Not a row lock that votes touch: votes never wait for it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_FOLD_LOCK_KEY])
    # SQLite runs one write transaction at a time anyway.


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


def _pending_public(now: datetime | None = None):
    """Pending votes whose battles the public may see counted (``arena.selectors.battles_public_q``)."""
    from arena.selectors import battles_public_q

    return PendingVote.objects.filter(battles_public_q("battle__", now=now))


def pending_votes_release() -> bool:
    """Schedule a refit when pending votes became public without a vote (their battle's window ended).

    Run periodically by the workers (the heartbeat loop). Returns True when a refit was queued.
    """
    return _pending_public().exists() and leaderboard_refit_schedule()


@transaction.atomic
def aggregates_fold(*, limit: int = FOLD_BATCH) -> int:
    """Fold pending votes into the aggregates, oldest first; returns how many were folded.

    Sums are added up in memory and each touched row is written once; Elo is replayed in vote order.
    A battle flagged after its vote (an error, a leak) is skipped here.
    """
    _fold_lock()
    pending = list(_pending_public().select_related("battle").order_by("id")[:limit])
    votes = [vote for vote in pending if vote.battle.counts_for_ranking]
    contender_ids = sorted({cid for vote in votes for cid in (vote.battle.contender_a_id, vote.battle.contender_b_id)})
    competitors = {cid: _competitor_for_contender(cid) for cid in contender_ids}  # created in id order
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
        _sum_into(sums.pairs, (vote.ladder, a.id, b.id, vote.choice, day), {"count": 1})
        ra = sums.elo.setdefault((vote.ladder, a.id), [ELO_INIT, 0])
        rb = sums.elo.setdefault((vote.ladder, b.id), [ELO_INIT, 0])
        step = elo_step(ra[0], rb[0], vote.choice)
        ra[0], ra[1], rb[0], rb[1] = ra[0] + step, ra[1] + 1, rb[0] - step, rb[1] + 1
        ja, ta, ha, la, ba = answers.get((battle.id, "a"), unknown)
        jb, tb, hb, lb, bb = answers.get((battle.id, "b"), unknown)
        if vote.ladder == BLIND:
            _sum_into(sums.energy, (a.id, day), EnergySums.deltas(ja, ta))
            _sum_into(sums.energy, (b.id, day), EnergySums.deltas(jb, tb))
            sums.contexts[battle.id] = BattleContext(
                kind=a.kind, tstamp=blind_at, battle_id=battle.id, competitor_a_id=a.id, competitor_b_id=b.id,
                winner=vote.choice, tokens_a=ta, tokens_b=tb, headers_a=ha, headers_b=hb, lists_a=la, lists_b=lb,
                bold_a=ba, bold_b=bb, energy_a_j=ja, energy_b_j=jb,
            )
            continue
        if battle.id in sums.contexts:
            sums.contexts[battle.id].winner_after = vote.choice
        else:
            sums.after[battle.id] = vote.choice
        if blind is not None:
            gea_vote = GeaVote(a.name, b.name, a.family or None, b.family or None, ja, jb, blind, vote.choice)
            _sum_into(sums.gea, (*sorted((a.id, b.id)), day), vote_counts(gea_vote))
    return sums


def _aggregates_add(sums: _FoldSums) -> None:
    """Write what :func:`_fold_sums` added up: each touched row once."""
    for (ladder, a_id, b_id, outcome, day), deltas in sums.pairs.items():
        _increment(PairCount, {"ladder": ladder, "competitor_a_id": a_id, "competitor_b_id": b_id,
                               "outcome": outcome, "day": day}, deltas)
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


# ---------------------------------------------------------------------------------------------
# Refit: debounced in a Celery task, stored as one snapshot, pushed to the "leaderboard" group


def leaderboard_refit_schedule() -> bool:
    """Queue a refit in ``ANALYSIS_REFIT_DELAY_S`` seconds unless one is already pending.

    Called after a vote commits. Returns True when this call queued the task.
    """
    from analysis.tasks import refit_leaderboard

    now = timezone.now()
    RefitState.objects.get_or_create(pk=1)
    pending = Q(scheduled_at__isnull=True) | Q(scheduled_at__lt=now - timedelta(seconds=refit_stale_s()))
    if not RefitState.objects.filter(pk=1).filter(pending).update(scheduled_at=now):
        return False
    try:
        refit_leaderboard.apply_async(countdown=refit_delay_s())
    except Exception:  # noqa: BLE001 - a vote never fails for the leaderboard; the next vote retries
        logger.warning("Could not queue the leaderboard refit", exc_info=True)
        RefitState.objects.filter(pk=1, scheduled_at=now).update(scheduled_at=None)
        return False
    return True


def leaderboard_refit(*, rounds: int | None = None, push: bool = True, reuse: bool = True) -> LeaderboardSnapshot:
    """Compute both ladders of every kind from the aggregates, store the snapshot, push it live.

    ``reuse``: take the parts whose inputs did not change from the previous snapshot (the result is
    the same; a vote moves one ladder, so typically one of the two bootstraps is skipped).
    """
    RefitState.objects.filter(pk=1).update(scheduled_at=None)  # votes from now on schedule the next one
    while aggregates_fold() == FOLD_BATCH:
        pass
    computed_at = timezone.now()
    started = time.perf_counter()
    latest = selectors.snapshot_latest()
    data = selectors.leaderboard_compute(rounds=rounds, previous=latest.data if latest and reuse else None)
    if latest is not None and latest.data == json.loads(json.dumps(data, cls=DjangoJSONEncoder)):
        return latest  # nothing changed: no new snapshot, nothing pushed (a new one would say "a vote came")
    with transaction.atomic():
        snapshot = LeaderboardSnapshot.objects.create(
            computed_at=computed_at, seconds=time.perf_counter() - started, data=data
        )
        LeaderboardSnapshot.objects.exclude(id=snapshot.id).filter(computed_at__lte=computed_at).delete()
    if push:
        leaderboard_push(snapshot=snapshot)
    return snapshot


def leaderboard_push(*, snapshot: LeaderboardSnapshot) -> None:
    message = {
        "type": "leaderboard.updated",
        "snapshot_id": snapshot.id,
        "computed_at": snapshot.computed_at.isoformat(),
        "summary": selectors.snapshot_summary(snapshot),
    }
    try:
        async_to_sync(get_channel_layer().group_send)(GROUP, message)
    except Exception:  # noqa: BLE001 - pages reload the snapshot on reconnect
        logger.warning("Could not push the leaderboard", exc_info=True)


# ---------------------------------------------------------------------------------------------
# Rebuild and import


_TABLES = (PairCount, EloRating, EnergyStat, GeaCount, BattleContext)  # PendingVote is cleared separately


@dataclass(frozen=True)
class RebuildResult:
    battles: int
    pair_rows: int


@transaction.atomic
def aggregates_rebuild(*, refit: bool = True) -> RebuildResult:
    """Recompute every aggregate from a scan of the counted battles (ours and imported).

    Needed after an import (whose battles may predate live votes, so Elo must be replayed in time
    order) or after an admin flags a battle already counted. On PostgreSQL the aggregate tables
    are locked for the duration, so concurrent votes wait and are counted after. ``refit``: queue a
    refit once it commits.
    """
    from arena.models import Battle
    from arena.selectors import battles_counted_q, battles_public_q

    # The scan below counts every vote committed so far: their pending rows go. Votes that commit
    # later wait for this transaction on PostgreSQL (the table lock) and are folded afterwards.
    _fold_lock()
    _lock_tables([PendingVote])
    # One moment for the whole rebuild: the battles it scans are exactly those whose pending rows go
    # (battles still open to votes keep theirs, to be folded once public).
    now = timezone.now()
    _pending_public(now).delete()
    ids = set()
    for pair in Battle.objects.filter(
        battles_counted_q(), battles_public_q(now=now), vote__isnull=False
    ).values_list(
        "contender_a_id", "contender_b_id"
    ).distinct():
        ids.update(pair)
    for contender_id in sorted(ids):
        _competitor_for_contender(contender_id)
    _lock_tables(_TABLES)
    for model in reversed(_TABLES):
        model.objects.all().delete()
    competitors = dict(Competitor.objects.values_list("name", "id"))
    pair_rows = 0

    def day_create(day: date, records: list[BattleRecord]) -> None:
        nonlocal pair_rows
        for inputs in board_inputs_from_records(records).values():
            pair_rows += _aggregates_create(inputs, competitors, day=day)
        _rows_write(BattleContext, _CONTEXT_FIELDS, (_context_of(r, competitors) for r in records))

    # One scan: the sums of each day as its battles pass, Elo over them all in time order.
    totals = board_inputs_from_records(_by_day(selectors.battle_records(now=now), day_create))
    battles = sum(_elo_create(inputs, competitors) for inputs in totals.values())
    if refit:
        transaction.on_commit(leaderboard_refit_schedule, robust=True)
    return RebuildResult(battles=battles, pair_rows=pair_rows)


def _by_day(
    records: Iterable[BattleRecord], on_day: Callable[[date, list[BattleRecord]], None]
) -> Iterator[BattleRecord]:
    """Pass ``records`` (in time order) on, calling ``on_day(day, its records)`` as each UTC day ends."""
    day, batch = None, []
    for record in records:
        record_day = utc_day(record.tstamp)
        if record_day != day:
            if batch:
                on_day(day, batch)
            day, batch = record_day, []
        batch.append(record)
        yield record
    if batch:
        on_day(day, batch)


def _lock_tables(models) -> None:
    """Make concurrent writers of these tables wait for this transaction (PostgreSQL; reads go on)."""
    if connection.vendor == "postgresql":
        tables = ", ".join(model._meta.db_table for model in models)
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE")


def _rows_write(model, fields: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """Insert plain rows (values of ``fields``, in order): COPY on PostgreSQL, where a rebuild writes a
    row per battle (Django's bulk_create spent most of a rebuild preparing values), else bulk_create."""
    if connection.vendor != "postgresql":
        names = [model._meta.get_field(name).attname for name in fields]
        model.objects.bulk_create([model(**dict(zip(names, row, strict=True))) for row in rows], batch_size=5000)
        return
    columns = ", ".join(model._meta.get_field(name).column for name in fields)
    with connection.cursor() as cursor, cursor.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


_ENERGY_FIELDS = tuple(vars(EnergySums()))
_CONTEXT_FIELDS = (
    "kind", "tstamp", "competitor_a", "competitor_b", "winner", "winner_after", "tokens_a", "tokens_b", "headers_a",
    "headers_b", "lists_a", "lists_b", "bold_a", "bold_b", "energy_a_j", "energy_b_j",
)


def _aggregates_create(inputs: BoardInputs, competitors: dict[str, int], *, day: date) -> int:
    """Insert the daily sums of one kind's inputs (the battles of ``day``); returns the pair-outcome rows."""
    pair_counts = [
        (ladder, competitors[a], competitors[b], outcome, day, count)
        for ladder in LADDERS
        for a, b, outcome, count in inputs.pairs[ladder]
    ]
    _rows_write(PairCount, ("ladder", "competitor_a", "competitor_b", "outcome", "day", "count"), pair_counts)
    _rows_write(EnergyStat, ("competitor", "day", *_ENERGY_FIELDS), (
        (competitors[name], day, *(getattr(sums, f) for f in _ENERGY_FIELDS)) for name, sums in inputs.energy.items()
    ))
    gea_rows = []
    for (a, b), sums in inputs.gea.items():
        lo, hi = sorted((competitors[a], competitors[b]))
        gea_rows.append((lo, hi, day, *(getattr(sums, f) for f in GEA_FIELDS)))
    _rows_write(GeaCount, ("competitor_lo", "competitor_hi", "day", *GEA_FIELDS), gea_rows)
    return len(pair_counts)


def _elo_create(inputs: BoardInputs, competitors: dict[str, int]) -> int:
    """Insert the Elo rows of one kind's inputs (all time); returns its blind votes."""
    elo_rows = []
    for ladder in LADDERS:
        played: dict[str, int] = {}
        for a, b, _, count in inputs.pairs[ladder]:
            played[a] = played.get(a, 0) + count
            played[b] = played.get(b, 0) + count
        elo_rows += [
            EloRating(ladder=ladder, competitor_id=competitors[name], rating=rating, battles=played.get(name, 0))
            for name, rating in inputs.elo[ladder].items()
        ]
    EloRating.objects.bulk_create(elo_rows, batch_size=5000)
    return sum(count for _, _, _, count in inputs.pairs[BLIND])


def _context_of(r: BattleRecord, competitors: dict[str, int]) -> tuple:
    """The ``_CONTEXT_FIELDS`` of a battle's context row."""
    return (
        r.kind, datetime.fromtimestamp(r.tstamp, tz=UTC), competitors[r.model_a], competitors[r.model_b], r.winner,
        r.winner_after or "", r.output_tokens_a, r.output_tokens_b, r.headers_a, r.headers_b, r.lists_a, r.lists_b,
        r.bold_a, r.bold_b, r.energy_a_j, r.energy_b_j,
    )


@dataclass(frozen=True)
class ImportResult:
    read: int  # battles in the file (named battles, "anony": false, left out)
    imported: int  # new in the database
    already_present: int  # imported before (same key)
    local: int  # exported from this very database (already counted as votes)
    skipped_named: int


def battles_import(*, path: str | Path, kind: str = DEFAULT_KIND, batch_size: int = 5000) -> ImportResult:
    """Load a battle log (FastChat clean-battle fields, optionally our energy fields and second
    vote) into ``ImportedBattle``; idempotent (keyed by ``question_id``, or by content). Then the
    aggregates are rebuilt, so the imported battles count in the leaderboard.

    The file is validated completely before anything is written; a malformed line raises
    ``battle_log.BattleLogError`` naming it.
    """
    reader = BattleLogReader(path, default_kind=kind)
    for record in reader:  # validate everything first: a bad line 900,000 must not leave half an import
        if record.kind not in RANKED_KINDS:
            raise BattleLogError(
                f"{reader.path.name}, battle {record.key!r}: kind {record.kind!r} is not ranked "
                f"(use {' or '.join(RANKED_KINDS)})."
            )
    local_prefix = selectors.instance_prefix() + "-"
    read = local = imported = 0
    with transaction.atomic():
        before = ImportedBattle.objects.count()
        cache: dict[str, Competitor] = {}
        batch: list[ImportedBattle] = []
        for record in reader:
            read += 1
            if record.key.startswith(local_prefix):
                local += 1
                continue
            a = _competitor_for_name(record.model_a, family=record.family_a, kind=record.kind, cache=cache)
            b = _competitor_for_name(record.model_b, family=record.family_b, kind=record.kind, cache=cache)
            for competitor in (a, b):  # raised inside the transaction: nothing of the import stays
                if competitor.kind != record.kind:
                    raise BattleLogError(
                        f"{reader.path.name}, battle {record.key!r}: {competitor.name!r} is a {competitor.kind} "
                        f"model here, not {record.kind}."
                    )
            batch.append(_imported_battle(record, a, b))
            if len(batch) >= batch_size:
                ImportedBattle.objects.bulk_create(batch, ignore_conflicts=True)
                batch = []
        ImportedBattle.objects.bulk_create(batch, ignore_conflicts=True)
        imported = ImportedBattle.objects.count() - before
        if imported:
            aggregates_rebuild()
    return ImportResult(
        read=read, imported=imported, already_present=read - local - imported, local=local,
        skipped_named=reader.skipped,
    )


def _imported_battle(record: BattleRecord, a: Competitor, b: Competitor) -> ImportedBattle:
    key = record.key if len(record.key) <= 200 else "sha256-" + hashlib.sha256(record.key.encode()).hexdigest()
    return ImportedBattle(
        source_key=key,
        kind=record.kind,
        competitor_a=a,
        competitor_b=b,
        winner=record.winner,
        winner_after=record.winner_after or "",
        tstamp=datetime.fromtimestamp(record.tstamp, tz=UTC),
        tstamp_after=(
            datetime.fromtimestamp(record.tstamp_after, tz=UTC)
            if record.winner_after and record.tstamp_after is not None
            else None
        ),
        energy_a_j=record.energy_a_j,
        energy_b_j=record.energy_b_j,
        output_tokens_a=record.output_tokens_a,
        output_tokens_b=record.output_tokens_b,
        energy_source_a=record.energy_source_a,
        energy_source_b=record.energy_source_b,
        headers_a=record.headers_a,
        headers_b=record.headers_b,
        lists_a=record.lists_a,
        lists_b=record.lists_b,
        bold_a=record.bold_a,
        bold_b=record.bold_b,
    )

