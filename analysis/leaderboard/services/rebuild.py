"""Rebuilding the aggregates from the battles themselves, and importing a battle log."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from analysis.leaderboard.battle_log import DEFAULT_KIND, BattleLogError, BattleLogReader, BattleRecord
from analysis.leaderboard.board import BoardInputs, EnergySums, board_inputs_from_records
from analysis.leaderboard.gea import GEA_FIELDS
from analysis.leaderboard.selectors.records import battle_records, instance_prefix
from analysis.leaderboard.services.competitors import competitor_for_contender, competitor_for_name
from analysis.leaderboard.services.schedule import leaderboard_refit_schedule
from analysis.leaderboard.services.votes import fold_lock, pending_public, utc_day
from analysis.models import (
    BattleContext,
    CategoryPairCount,
    Competitor,
    EloRating,
    EnergyStat,
    GeaCount,
    ImportedBattle,
    PairCount,
    PendingVote,
)
from arena.choices import BLIND, LADDERS, RANKED_KINDS

# PendingVote is cleared separately
_TABLES = (PairCount, CategoryPairCount, EloRating, EnergyStat, GeaCount, BattleContext)


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
    fold_lock()
    _lock_tables([PendingVote])
    # One moment for the whole rebuild: the battles it scans are exactly those whose pending rows go
    # (battles still open to votes keep theirs, to be folded once public).
    now = timezone.now()
    pending_public(now).delete()
    ids = set()
    for pair in Battle.objects.filter(
        battles_counted_q(), battles_public_q(now=now), vote__isnull=False
    ).values_list(
        "contender_a_id", "contender_b_id"
    ).distinct():
        ids.update(pair)
    for contender_id in sorted(ids):
        competitor_for_contender(contender_id)
    _lock_tables(_TABLES)
    for model in reversed(_TABLES):
        model.objects.all().delete()
    competitors = dict(Competitor.objects.values_list("name", "id"))
    pair_rows = 0

    def day_create(day: date, records: list[BattleRecord]) -> None:
        nonlocal pair_rows
        for inputs in board_inputs_from_records(records).values():
            pair_rows += _aggregates_create(inputs, competitors, day=day)
        for category in sorted({name for r in records for name in r.categories}):
            of_category = [r for r in records if category in r.categories]
            for inputs in board_inputs_from_records(of_category).values():  # the same rules as the ladders
                _rows_write(CategoryPairCount, ("category", *_PAIR_FIELDS), (
                    (category, ladder, competitors[a], competitors[b], outcome, day, count)
                    for ladder in LADDERS for a, b, outcome, count in inputs.pairs[ladder]
                ))
        _rows_write(BattleContext, _CONTEXT_FIELDS, (_context_of(r, competitors) for r in records))

    # One scan: the sums of each day as its battles pass, Elo over them all in time order.
    totals = board_inputs_from_records(_by_day(battle_records(now=now), day_create))
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


_PAIR_FIELDS = ("ladder", "competitor_a", "competitor_b", "outcome", "day", "count")
_CONTEXT_FIELDS = (
    "kind", "tstamp", "competitor_a", "competitor_b", "winner", "winner_after", "tokens_a", "tokens_b", "headers_a",
    "headers_b", "lists_a", "lists_b", "bold_a", "bold_b", "energy_a_j", "energy_b_j", "reveal",
)


def _aggregates_create(inputs: BoardInputs, competitors: dict[str, int], *, day: date) -> int:
    """Insert the daily sums of one kind's inputs (the battles of ``day``); returns the pair-outcome rows."""
    pair_counts = [
        (ladder, competitors[a], competitors[b], outcome, day, count)
        for ladder in LADDERS
        for a, b, outcome, count in inputs.pairs[ladder]
    ]
    _rows_write(PairCount, _PAIR_FIELDS, pair_counts)
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
        r.bold_a, r.bold_b, r.energy_a_j, r.energy_b_j, r.reveal,
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
    local_prefix = instance_prefix() + "-"
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
            a = competitor_for_name(record.model_a, family=record.family_a, kind=record.kind, cache=cache)
            b = competitor_for_name(record.model_b, family=record.family_b, kind=record.kind, cache=cache)
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
        reveal=record.reveal,
        categories=list(record.categories),
        headers_a=record.headers_a,
        headers_b=record.headers_b,
        lists_a=record.lists_a,
        lists_b=record.lists_b,
        bold_a=record.bold_a,
        bold_b=record.bold_b,
    )
