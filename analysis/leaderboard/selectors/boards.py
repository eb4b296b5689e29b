"""The leaderboard's boards: their inputs from the database, the computation, the latest snapshot,
and the board a page or the API shows.

Two sources in the database feed one computation (``board.board_compute``):

* the running aggregates (daily sums in ``PairCount``, ``EnergyStat``, ``GeaCount``; all-time
  ``EloRating``; one ``BattleContext`` row per battle), read in O(days × contenders²) rows:
  :func:`board_inputs_from_tables`, used by the refit (all days) and by date filters (their days);
* a scan of the counted battles (``records.battle_records``), for the battle log export and the rebuild.

A battle log file (``battle_log.BattleLogReader``) feeds the same computation without the database."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet, Sum

from analysis.leaderboard.battle_log import DEFAULT_KIND
from analysis.leaderboard.board import (
    CONTEXTUAL_KEYS,
    BoardInputs,
    EnergySums,
    board_compute,
    board_empty,
)
from analysis.leaderboard.contextual import ContextRow
from analysis.leaderboard.gea import GEA_FIELDS, GeaSums
from analysis.leaderboard.reveal import reveal_analysis
from analysis.leaderboard.selectors.filters import Filters, filtered_cache_s
from analysis.leaderboard.selectors.fit_settings import bootstrap_rounds, fit_options
from analysis.leaderboard.summary import board_summary
from analysis.models import (
    BattleContext,
    CategoryPairCount,
    Competitor,
    EloRating,
    EnergyStat,
    GeaCount,
    LeaderboardSnapshot,
    PairCount,
)
from arena.choices import BLIND, LADDERS

SNAPSHOT_VERSION = 3  # bump when the layout of a snapshot changes: older ones are then recomputed


# Shown with a date-filtered board, whose rows carry no Elo.
ELO_NOTE = (
    "Online Elo moves vote by vote in the order of every vote since the first, so it cannot be cut to a "
    "date range or a category: such a board shows Bradley-Terry ratings only."
)


def _days(rows: QuerySet, since: dt.date | None, until: dt.date | None) -> QuerySet:
    """The daily sums of the days in [since, until] (each bound when given), not yet added up."""
    if since:
        rows = rows.filter(day__gte=since)
    if until:
        rows = rows.filter(day__lte=until)
    return rows.order_by()


def board_inputs_from_tables(
    *, kind: str | None = None, since: dt.date | None = None, until: dt.date | None = None, contexts: bool = True,
    category: str | None = None,
) -> dict[str, BoardInputs]:
    """The running aggregates, by kind: the daily sums of [since, until] (each bound when given; none:
    all time) added up in the database, O(days × contenders²) rows, and ``contexts`` (one row per
    battle) when asked. Online Elo is all-time only: with a date bound ``elo`` stays empty."""
    competitors = {
        cid: (name, family, ckind)
        for cid, name, family, ckind in Competitor.objects.values_list("id", "name", "family", "kind")
        if kind is None or ckind == kind
    }
    inputs: dict[str, BoardInputs] = {}

    def of(cid: int) -> BoardInputs:
        name, family, ckind = competitors[cid]
        inp = inputs.get(ckind)
        if inp is None:
            inp = inputs[ckind] = BoardInputs(ckind)
        if name not in inp.families:
            inp.families[name] = family
        return inp

    # one category's ladder: its own pair counts, and nothing else (no Elo, energy, switches or contexts)
    counts = CategoryPairCount.objects.filter(category=category) if category else PairCount.objects
    rows = _days(counts.filter(count__gt=0), since, until).values_list(
        "ladder", "competitor_a_id", "competitor_b_id", "outcome"
    ).annotate(total=Sum("count"))
    seen: set[int] = set()
    pairs_of: dict[str, dict[str, list]] = {}  # kind -> ladder -> rows (a hot loop: ~20k rows)
    for ladder, a, b, outcome, count in rows:
        if a in competitors and b in competitors:
            ca = competitors[a]
            target = pairs_of.get(ca[2])
            if target is None:
                target = pairs_of[ca[2]] = of(a).pairs
            target[ladder].append((ca[0], competitors[b][0], outcome, count))
            seen.add(a)
            seen.add(b)
    for cid in seen:
        of(cid)
    if category:
        return inputs
    if since is None and until is None:
        for ladder, cid, rating in EloRating.objects.values_list("ladder", "competitor_id", "rating"):
            if cid in competitors:
                of(cid).elo[ladder][competitors[cid][0]] = rating
    energy_fields = [f.name for f in EnergyStat._meta.fields if f.name not in ("id", "competitor", "day")]
    energy_rows = _days(EnergyStat.objects.all(), since, until).values_list("competitor_id").annotate(
        *[Sum(name) for name in energy_fields]
    )
    for values in energy_rows:
        if values[0] in competitors:
            sums = EnergySums(**dict(zip(energy_fields, values[1:], strict=True)))
            of(values[0]).energy[competitors[values[0]][0]] = sums
    gea_rows = _days(GeaCount.objects.all(), since, until).values_list("competitor_lo_id", "competitor_hi_id").annotate(
        *[Sum(name) for name in GEA_FIELDS]
    )
    for values in gea_rows:
        lo, hi = values[:2]
        if lo in competitors and hi in competitors:
            key = tuple(sorted((competitors[lo][0], competitors[hi][0])))
            of(hi)
            sums = of(lo).gea.setdefault(key, GeaSums())
            sums.add(dict(zip(GEA_FIELDS, values[2:], strict=True)))
    if contexts:
        for k, inp in inputs.items():  # the battles of a kind: those of its competitors on side a, as above
            inp.contexts = _contexts(kind=k, both_sides=kind is not None, since=since, until=until)
    return inputs


def _contexts(*, kind: str, both_sides: bool, since: dt.date | None, until: dt.date | None) -> list[ContextRow]:
    """The context rows of the battles whose side a is a competitor of ``kind`` (and side b too, with
    ``both_sides``) in [since, until] (each bound when given), in time order. One raw query whose rows
    are ContextRows as they come (a row per battle: a million of them is read in seconds, no model
    instances nor per-row lookups in Python)."""
    start, end = Filters(since=since, until=until).bounds()
    where, params = ["a.kind = %s"], [kind]
    # a raw query gets the datetimes as the backend stores them (SQLite compares text without a zone)
    start, end = (connection.ops.adapt_datetimefield_value(bound) for bound in (start, end))
    for condition, value in (("b.kind = %s", kind if both_sides else None), ("c.tstamp >= %s", start),
                             ("c.tstamp < %s", end)):
        if value is not None:
            where.append(condition)
            params.append(value)
    competitor = Competitor._meta.db_table
    sql = (
        "SELECT a.name, b.name, c.winner, NULLIF(c.winner_after, ''), c.tokens_a, c.tokens_b, c.headers_a, "
        "c.headers_b, c.lists_a, c.lists_b, c.bold_a, c.bold_b, c.energy_a_j, c.energy_b_j, c.reveal "
        f"FROM {BattleContext._meta.db_table} c JOIN {competitor} a ON a.id = c.competitor_a_id "
        f"JOIN {competitor} b ON b.id = c.competitor_b_id WHERE {' AND '.join(where)} ORDER BY c.tstamp, c.id"
    )
    rows: list[ContextRow] = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(20_000):
            rows.extend(map(ContextRow._make, chunk))
    return rows


def leaderboard_compute(
    *, rounds: int | None = None, seed: int = 0, figures: bool = True, previous: dict | None = None
) -> dict:
    """Boards of every kind that has a competitor, from the running aggregates (O(contenders²)).

    ``previous``: the data of the last snapshot, whose unchanged parts are reused (see :func:`board_compute`).
    """
    options = fit_options()
    before = (previous or {}).get("boards", {}) if (previous or {}).get("version") == SNAPSHOT_VERSION else {}
    due = contextual_due(before)
    started = time.perf_counter()
    inputs = board_inputs_from_tables(contexts=due)
    read_s = time.perf_counter() - started
    inputs.setdefault(DEFAULT_KIND, BoardInputs(DEFAULT_KIND))
    rounds = bootstrap_rounds() if rounds is None else rounds
    boards = {
        k: board_compute(inp, rounds=rounds, seed=seed, figures=figures, previous=before.get(k), **options)
        for k, inp in sorted(inputs.items())
    }
    for k, board in boards.items():
        if not due:  # keep the last per-battle fits until they are due again
            board |= {key: before[k][key] for key in CONTEXTUAL_KEYS if key in before.get(k, {})}
        elif board.get("contextual") and board["contextual"] != (before.get(k) or {}).get("contextual"):
            board["contextual"]["seconds"] += read_s / len(boards)  # new fits: reading their rows is part of the cost
        board["categories"] = category_counts(kind=k)  # read once per refit, not on every page view
    return {"version": SNAPSHOT_VERSION, "rounds": rounds, "kinds": sorted(inputs), "boards": boards}


def contextual_due(boards: dict) -> bool:
    """Whether a refit also recomputes the per-battle fits (style control, the price of energy).

    They read one row per battle: milliseconds for a young arena, but about 16 s at a million
    battles, where a refit follows every few votes. So they are recomputed only when the time since
    the last ones is at least ``ANALYSIS_CONTEXTUAL_SPACING`` times what they cost (default 10: at
    most a tenth of the refits' time), or when a board has none yet. Every vote still moves the
    plain ladders at once."""
    stamps = [board.get("contextual") for board in boards.values()]
    if not stamps or None in stamps:
        return True
    cost = sum(stamp["seconds"] for stamp in stamps)
    return time.time() - min(stamp["computed_at"] for stamp in stamps) >= settings.ANALYSIS_CONTEXTUAL_SPACING * cost


def snapshot_latest() -> LeaderboardSnapshot | None:
    """The latest snapshot, if it has the current layout."""
    snapshot = LeaderboardSnapshot.objects.order_by("-computed_at", "-id").first()
    return snapshot if snapshot and snapshot.data.get("version") == SNAPSHOT_VERSION else None


def snapshot_summary(snapshot: LeaderboardSnapshot) -> dict:
    """What the websocket pushes: both ladders of every kind, without matrices or figures."""
    keep = ("name", "rating", "lower", "upper", "rank", "elo", "battles")
    return {
        kind: {lad: [{k: row[k] for k in keep} for row in board["ladders"][lad]["rows"]] for lad in LADDERS}
        for kind, board in snapshot.data["boards"].items()
    }


def blind_ratings_of_contenders(kind: str) -> dict[int, float]:
    """The latest leaderboard's blind-ladder ratings of this arena's contenders for battles of ``kind``
    ({contender id: rating}; {} with no snapshot of the current layout yet): the estimates of active
    pair sampling (``arena.hooks.sampling_ratings``). Reads only that ladder's rows of the snapshot's
    JSON, not its figures."""
    latest = (
        LeaderboardSnapshot.objects.order_by("-computed_at", "-id")
        .values_list("data__version", f"data__boards__{kind}__ladders__{BLIND}__rows")
        .first()
    )
    if not latest or latest[0] != SNAPSHOT_VERSION or not latest[1]:
        return {}
    rated = {row["name"]: row["rating"] for row in latest[1] if row.get("rating") is not None}
    contenders = Competitor.objects.filter(name__in=rated, contender__isnull=False).values_list("name", "contender_id")
    return {contender_id: float(rated[name]) for name, contender_id in contenders}


def board_of_dates(*, filters: Filters, snapshot: LeaderboardSnapshot | None, figures: bool = True) -> dict:
    """The board of a date range: the daily sums of its days (no Elo, no per-battle contexts: see
    docs/leaderboard.md), cached per filters and latest snapshot: the refit that follows a fold of
    new votes, or a rebuild, stores a new snapshot, so the key changes with the sums. Without a
    snapshot (before the first refit) nothing is cached."""
    options, rounds = fit_options(), bootstrap_rounds()
    key = None
    if snapshot is not None and filtered_cache_s() > 0:
        version = [SNAPSHOT_VERSION, snapshot.id, snapshot.computed_at.isoformat()]
        digest = hashlib.sha256(json.dumps([version, filters.as_dict(), figures, rounds, options]).encode())
        key = f"analysis:dated-board:{digest.hexdigest()}"
        if (board := cache.get(key)) is not None:
            return board
    inputs = board_inputs_from_tables(
        kind=filters.kind, since=filters.since, until=filters.until, contexts=False, category=filters.category
    )
    board = board_compute(inputs.get(filters.kind) or BoardInputs(filters.kind), rounds=rounds, figures=figures,
                          **options)
    board["categories"] = category_counts(kind=filters.kind)  # cached with the board
    if key is not None:
        cache.set(key, board, filtered_cache_s())
    return board


def competitor_models() -> dict[str, dict]:
    """Ranked name -> its contender's page slug, model name and size, for the competitors that are
    contenders of this arena (names imported from a battle log have none)."""
    competitors = Competitor.objects.filter(contender__isnull=False).select_related("contender__model")
    return {
        c.name: {"slug": c.contender.slug, "name": c.contender.model.name,
                 "parameters": c.contender.model.parameters_text, "retired": _retired(c.contender)}
        for c in competitors
    }


def _retired(contender) -> str | None:
    """The day a disabled contender was retired ("2026-12-08"; "" when the day is unknown), None while enabled."""
    if contender.enabled:
        return None
    return contender.retired_at.date().isoformat() if contender.retired_at else ""


def _rows_marked(rows: list[dict], models: dict[str, dict], hide: bool) -> list[dict]:
    """Rows with their contender's ``retired`` day (None: in the ring); without the retired ones with ``hide``."""
    marked = [row | {"retired": (models.get(row["name"]) or {}).get("retired")} for row in rows]
    return [row for row in marked if row["retired"] is None] if hide else marked


UNMEASURED_REASON = (
    "an answer's energy was not measured (its engine has no meter), so the second vote did not follow an energy "
    "reveal: such battles count on the blind ladder only, not on the energy-aware ladder or in the switch rate"
)


def battles_unmeasured(*, kind: str) -> dict:
    """How many battles with a second vote had an answer whose energy was not measured, and why they are
    left out of the energy-aware ladder and the switch rate (arena.formatting.energy_shown)."""
    from arena.models import UNMEASURED, Vote

    count = (
        Vote.objects.filter(battle__contender_a__model__kind=kind, battle__responses__energy_source=UNMEASURED)
        .exclude(final_choice="").exclude(final_choice__isnull=True)
        .values("battle_id").distinct().count()
    )
    return {"battles": count, "reason": UNMEASURED_REASON}


def leaderboard_view(*, filters: Filters, snapshot: LeaderboardSnapshot | None, figures: bool = True) -> dict:
    """The board a page or the API shows: from the snapshot, or from the daily sums when dates are set
    (then without Elo: ``elo_note`` says why)."""
    if filters.from_sums:
        board = board_of_dates(filters=filters, snapshot=snapshot, figures=figures)
        computed_at, kinds = None, None
    else:
        boards = snapshot.data["boards"] if snapshot else {}
        board = boards.get(filters.kind) or board_empty(filters.kind, figures=figures)
        computed_at = snapshot.computed_at if snapshot else None
        kinds = sorted(boards)
        if not figures:
            board = {k: v for k, v in board.items() if k != "figures"}
    models = competitor_models()
    hide = filters.retired == "hide"
    board = {
        **board,
        "ladders": {
            lad: {k: (_rows_marked(v, models, hide) if k == "rows" else v) for k, v in data.items() if k != "fit_key"}
            for lad, data in board["ladders"].items()
        },
        "side_by_side": [
            row | {"model": models.get(row["name"])}
            for row in _rows_marked(board.get("side_by_side", []), models, hide)
        ],
        "energy": _rows_marked(board.get("energy", []), models, hide),
        # a snapshot or cached board from before the summary existed gets one here
        "summary": board.get("summary") or board_summary(board),
        # per reveal condition (analysis.leaderboard.reveal); a board without its battles read yet has none
        "reveal_conditions": board.get("reveal_conditions") or reveal_analysis([]),
    }
    return {
        "computed_at": computed_at.isoformat() if computed_at else None,
        "live": not filters.from_sums,
        "elo_note": ELO_NOTE if filters.from_sums else None,
        "filters": filters.as_dict(),
        "kinds": kinds or [filters.kind],
        **board,
        "unmeasured": battles_unmeasured(kind=filters.kind),
        # stored with the snapshot or the cached board; a snapshot from before categories reads them now
        "categories": board["categories"] if "categories" in board else category_counts(kind=filters.kind),
    }


def category_counts(*, kind: str) -> list[dict]:
    """Each category with battles of this kind, and its blind votes (from the daily sums), most first."""
    rows = (
        CategoryPairCount.objects.filter(ladder=BLIND, competitor_a__kind=kind)
        .values("category").annotate(votes=Sum("count")).order_by("-votes", "category")
    )
    return [{"name": row["category"], "votes": row["votes"]} for row in rows]
