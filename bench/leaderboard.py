"""Benchmark: database -> JSON leaderboard, ours (pair-outcome counts) versus FastChat-style (every row).

Run from the repository root against PostgreSQL (it creates, fills and finally drops a database of
its own, ``arena_bench`` by default; nothing else is touched):

    python bench/leaderboard.py [--battles 1000000] [--contenders 50] [--rounds 100]
                                [--server postgres://postgres@127.0.0.1:5432] [--database arena_bench] [--keep]

The data: ``--battles`` anonymous battles among ``--contenders`` contenders with a blind vote drawn
from a Bradley-Terry model of known strengths (10% ties, 3% both bad), 70% of them with a second
vote after the energy reveal (a blind choice of the more energy-hungry answer switches with
probability 0.4), and an energy reading, token count and markdown counts (headers, list items, bold)
for both answers, over 60 days. Rows are written with COPY (arena_battle, arena_response,
arena_vote); the running aggregates that votes keep up to date (daily sums, one context row per
battle) are then built once with ``aggregates_rebuild`` (as if every vote had been cast through the
arena).

Timed, in the same run and on the same battles:

* ours: ``leaderboard_refit`` (read the pair-outcome counts, Elo, energy and GEA aggregates of both
  ladders: O(contenders²) rows; Bradley-Terry with ``--rounds`` bootstrap rounds per ladder, ranks,
  matrices, energy intervals, GEA statistics; store the snapshot) and the JSON of
  ``/api/leaderboard.json``. Also without the plotly figures, which the refit stores for the page.
* FastChat-style: load every battle row (model_a, model_b, winner, second vote, tstamp) from the
  database, as FastChat's ``clean_battle_data`` loads its log, then aggregate and fit both ladders
  with the same kernel (``analysis.leaderboard.ratings.leaderboard``, ``--rounds`` rounds) and compute online
  Elo in time order. This is the cost that grows with the number of votes.
* also: our own full scan (every vote with its two responses -> the same board as ours), the path
  the rebuild and the battle log take; its ratings must equal ours (checked).
* the refit's parts: the daily sums added up (all days), the context rows (one per battle, for
  style control and the price of energy), and the refit with the prior on (``--prior``, default
  400 points) and the contexts;
* date-filtered boards (what ``/leaderboard/?since=..&until=..`` shows, figures included), from the
  daily sums of their days, cold (cache cleared) and cached, for a few ranges; one of them is
  compared with the board of a scan of its votes (ratings, intervals, ranks: checked).
* category ladders (``/leaderboard/?category=..``, figures included) from the category's daily sums,
  cold and cached: each battle carries one of the tag sets ["coding", "en"] (30 %), ["math", "en"]
  (20 %), ["en"] (50 %); one is compared with the board of a scan of its battles (checked).

It prints the figures and their ratio; it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.leaderboard.ratings import OUTCOME_NAMES  # noqa: E402 - plain Python, no Django


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def admin_connect(server: str):
    import psycopg

    return psycopg.connect(f"{server.rstrip('/')}/postgres", autocommit=True)


def database_create(server: str, name: str) -> None:
    with admin_connect(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(server: str, name: str) -> None:
    from django.db import connections

    connections.close_all()
    with admin_connect(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # the comparison is with FastChat's maximum likelihood: no prior unless one is asked for
    os.environ.setdefault("ANALYSIS_PRIOR_SCALE", "0")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # The refit is timed here directly: no Celery task from the rebuild's commit.
    from analysis.leaderboard.services import rebuild

    rebuild.leaderboard_refit_schedule = lambda: False


def contenders_create(n: int, rng: np.random.Generator):
    from modelhub.models import Contender, Model

    models = Model.objects.bulk_create([
        Model(name=f"bench-model-{i:02d}", slug=f"bench-model-{i:02d}", family=f"family-{i % 10}", kind="chat",
              source_type=Model.SourceType.HF_FOLDER, source=f"/nonexistent/{i}", status=Model.Status.READY)
        for i in range(n)
    ])
    contenders = Contender.objects.bulk_create([
        Contender(model=m, name=f"contender-{i:02d}", slug=f"contender-{i:02d}") for i, m in enumerate(models)
    ])
    strength = np.sort(rng.normal(1000.0, 150.0, n))
    joules_per_token = rng.lognormal(-2.0, 0.6, n)  # about 0.14 J per token, spread by model size
    return [c.id for c in contenders], strength, joules_per_token


CHOICES = np.array(OUTCOME_NAMES)  # our choice codes, indexed by outcome code (ratings.py)


def battles_generate(n_battles: int, ids, strength, jpt, rng: np.random.Generator):
    n = len(ids)
    a = rng.integers(0, n, n_battles)
    b = (a + rng.integers(1, n, n_battles)) % n
    p = 1.0 / (1.0 + 10.0 ** ((strength[b] - strength[a]) / 400.0))
    draw = rng.random(n_battles)
    tie, bothbad = 0.10, 0.03
    q = np.clip((p - 0.5 * (tie + bothbad)) / (1 - tie - bothbad), 0, 1)
    blind = np.where(draw < tie, 1, np.where(draw < tie + bothbad, 3, np.where(rng.random(n_battles) < q, 2, 0)))
    tokens_a, tokens_b = rng.integers(20, 200, n_battles), rng.integers(20, 200, n_battles)
    # markdown counts per answer: headers, list items, bold spans
    style_a, style_b = (rng.poisson((1.0, 3.0, 2.0), (n_battles, 3)) for _ in range(2))
    joules_a = tokens_a * jpt[a] * rng.lognormal(0, 0.2, n_battles)
    joules_b = tokens_b * jpt[b] * rng.lognormal(0, 0.2, n_battles)
    # second vote: keep, unless the blind choice used more energy (switch with p=0.4) or less (p=0.05)
    chose_a, chose_b = blind == 2, blind == 0
    more = (chose_a & (joules_a > joules_b)) | (chose_b & (joules_b > joules_a))
    less = (chose_a & (joules_a < joules_b)) | (chose_b & (joules_b < joules_a))
    switch = (more & (rng.random(n_battles) < 0.4)) | (less & (rng.random(n_battles) < 0.05))
    final = np.where(switch, 2 - blind, blind)  # 2 <-> 0 swaps a and b
    has_final = rng.random(n_battles) < 0.7
    start = 1.7e9
    t = start + np.sort(rng.uniform(0, 60 * 86400, n_battles))
    return {
        "a": np.asarray(ids)[a], "b": np.asarray(ids)[b], "blind": CHOICES[blind], "final": CHOICES[final],
        "has_final": has_final, "tokens_a": tokens_a, "tokens_b": tokens_b, "joules_a": joules_a,
        "joules_b": joules_b, "t": t, "style_a": style_a, "style_b": style_b,
        "tags": rng.choice(len(TAGS), n_battles, p=TAG_SHARES),
    }


# the categories a battle carries (JSON as COPY writes it) and how often
TAGS = ['["coding", "en"]', '["math", "en"]', '["en"]']
TAG_SHARES = [0.3, 0.2, 0.5]


def category_boards(rounds: int, prior: float) -> None:
    """Category ladders as the page shows them (figures included): cold, then cached; math against a scan."""
    from analysis.leaderboard.selectors.filters import Filters
    from analysis.leaderboard.selectors.records import battle_records

    boards_timed(
        f"category ladder (page, figures; {rounds} rounds, prior {prior:g})",
        {category: Filters("chat", category=category) for category in ("coding", "math", "en")},
        "math", lambda: (r for r in battle_records(kind="chat") if "math" in r.categories), rounds, prior,
    )


def boards_timed(title: str, boards: dict, compared: str, scan_records, rounds: int, prior: float) -> None:
    """Each filtered board as the page shows it (figures included), cold (cache cleared) then cached; the
    ``compared`` one against the board of a scan of ``scan_records()`` (ratings, intervals, ranks)."""
    from django.core.cache import cache
    from django.test.utils import override_settings

    from analysis.leaderboard.board import board_compute, board_inputs_from_records
    from analysis.leaderboard.selectors.boards import leaderboard_view, snapshot_latest
    from analysis.leaderboard.selectors.fit_settings import fit_options

    snapshot = snapshot_latest()
    print(f"\n{title:<60}cold (s)  cached (s)  battles")
    with override_settings(ANALYSIS_PRIOR_SCALE=prior, ANALYSIS_BOOTSTRAP_ROUNDS=rounds):
        for label, filters in boards.items():
            cache.clear()
            board, t_cold = timed(leaderboard_view, filters=filters, snapshot=snapshot, figures=True)
            _, t_cached = timed(leaderboard_view, filters=filters, snapshot=snapshot, figures=True)
            print(f"  {label:<58}{t_cold:9.3f}{t_cached:12.4f}  {board['ladders']['blind']['battles']:>9,}")
            if label == compared:
                shown = board
        scan, t_scan = timed(lambda: board_compute(
            board_inputs_from_records(scan_records())["chat"], rounds=rounds, figures=True, **fit_options()
        ))

    def key(board, ladder):
        return [(r["name"], r["rating"], r["lower"], r["upper"], r["rank"]) for r in board["ladders"][ladder]["rows"]]

    same = all(key(shown, ladder) == key(scan, ladder) for ladder in ("blind", "energy"))
    print(f"  {compared} from a scan of its votes instead: {t_scan:.3f} s; same ratings, intervals and ranks: {same}")


def _day(ts: float):
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).date()


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1e6):06d}+00"


def _other_columns(model, given: str) -> tuple[str, str]:
    """Columns of ``model`` that COPY must fill besides ``given`` (NOT NULL ones with a Python-side
    default, e.g. fields added later): their names and the tab-joined text of their defaults."""
    from django.db import models

    names = {c.strip() for c in given.split(",")}
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.column in names or field.primary_key or field.null:
            continue
        if not field.has_default() and not (field.empty_strings_allowed and field.get_internal_type() in (
                "CharField", "TextField")):
            continue
        default = field.get_default()  # a text field without a default: ""
        if isinstance(field, models.JSONField):
            text = json.dumps(default)
        elif isinstance(default, bool):
            text = "t" if default else "f"
        else:
            text = str(default)
        columns.append(field.column)
        values.append(text)
    return "".join(f", {c}" for c in columns), "".join(f"\t{v}" for v in values)


def rows_copy(data, chunk: int = 100_000) -> None:
    from django.db import connection

    from arena.models import Battle, Response, Vote

    m = len(data["a"])
    battle_cols = ("id, prompt, contender_a_id, contender_b_id, policy, mode, session_key, created_at, has_error, "
                   "identity_leak, categories")
    response_cols = ("battle_id, side, contender_id, status, text, output_tokens, duration_s, finish_reason, joules, "
                     "energy_source, energy_method, device, worker, error, header_count, list_count, bold_count")
    vote_cols = "battle_id, blind_choice, final_choice, changed, blind_at, final_at"
    (bx, bv), (rx, rv), (vx, vv) = (_other_columns(Battle, battle_cols), _other_columns(Response, response_cols),
                                    _other_columns(Vote, vote_cols))
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY arena_battle ({battle_cols}{bx}) FROM STDIN") as copy:
            for s in range(0, m, chunk):
                e = min(m, s + chunk)
                copy.write("".join(
                    f"{i + 1}\tbench\t{ca}\t{cb}\tuniform\tanonymous\tbench\t{_iso(t)}\tf\tf\t{TAGS[tag]}{bv}\n"
                    for i, ca, cb, t, tag in zip(range(s, e), data["a"][s:e].tolist(), data["b"][s:e].tolist(),
                                                 data["t"][s:e].tolist(), data["tags"][s:e].tolist(), strict=True)
                ))
        with cursor.copy(f"COPY arena_response ({response_cols}{rx}) FROM STDIN") as copy:
            for s in range(0, m, chunk):
                e = min(m, s + chunk)
                parts = []
                for i, ca, cb, ta, tb, ja, jb, sa, sb in zip(
                    range(s, e), data["a"][s:e].tolist(), data["b"][s:e].tolist(), data["tokens_a"][s:e].tolist(),
                    data["tokens_b"][s:e].tolist(), data["joules_a"][s:e].tolist(), data["joules_b"][s:e].tolist(),
                    data["style_a"][s:e].tolist(), data["style_b"][s:e].tolist(), strict=True,
                ):
                    rest = f"\tdone\t\t{{}}\t1.0\tstop\t{{!r}}\testimate\tbench\tcpu\tbench\t\t{{}}\t{{}}\t{{}}{rv}\n"
                    parts.append(f"{i + 1}\ta\t{ca}" + rest.format(ta, ja, *sa))
                    parts.append(f"{i + 1}\tb\t{cb}" + rest.format(tb, jb, *sb))
                copy.write("".join(parts))
        with cursor.copy(f"COPY arena_vote ({vote_cols}{vx}) FROM STDIN") as copy:
            for s in range(0, m, chunk):
                e = min(m, s + chunk)
                parts = []
                for i, blind, final, has, t in zip(
                    range(s, e), data["blind"][s:e].tolist(), data["final"][s:e].tolist(),
                    data["has_final"][s:e].tolist(), data["t"][s:e].tolist(), strict=True,
                ):
                    if has:
                        parts.append(f"{i + 1}\t{blind}\t{final}\t{'t' if final != blind else 'f'}\t{_iso(t)}\t"
                                     f"{_iso(t + 5)}{vv}\n")
                    else:
                        parts.append(f"{i + 1}\t{blind}\t\tf\t{_iso(t)}\t\\N{vv}\n")
                copy.write("".join(parts))
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('arena_battle', 'id'), (SELECT max(id) FROM arena_battle))"
        )
        cursor.execute("ANALYZE")


def ours(rounds: int, reuse: bool = False):
    """Refit from the aggregates (cold: nothing reused from the previous snapshot), store the
    snapshot, then the JSON of /api/leaderboard.json."""
    from analysis.leaderboard.selectors.boards import leaderboard_view
    from analysis.leaderboard.selectors.filters import Filters
    from analysis.leaderboard.services.refit import leaderboard_refit

    snapshot = leaderboard_refit(rounds=rounds, push=False, reuse=reuse)
    body = json.dumps(leaderboard_view(filters=Filters(), snapshot=snapshot, figures=False))
    return snapshot, body


def ours_without_figures(rounds: int):
    from analysis.leaderboard.selectors.boards import leaderboard_compute

    data = leaderboard_compute(rounds=rounds, figures=False)
    return data, json.dumps(data)


def vote_cast_one(ids, rng, ladder: str) -> None:
    """One more vote, through the same service the arena calls (its own transaction)."""
    from datetime import timedelta

    from django.conf import settings
    from django.db import transaction

    from analysis.leaderboard.services.votes import pair_counts_record
    from arena.models import Battle, Response, Vote

    a, b = (int(x) for x in rng.choice(ids, 2, replace=False))
    with transaction.atomic():
        battle = Battle.objects.create(prompt="bench", contender_a_id=a, contender_b_id=b, policy="uniform",
                                       session_key="bench")
        for side, cid, joules in (("a", a, 12.0), ("b", b, 4.0)):
            Response.objects.create(battle=battle, side=side, contender_id=cid, status="done", output_tokens=80,
                                    joules=joules, energy_source="estimate")
        if ladder != "energy":  # a blind vote is public (folded) once its battle's vote window has closed
            closed = battle.created_at - timedelta(seconds=settings.ARENA_VOTE_WINDOW_S + 1)
            Battle.objects.filter(id=battle.id).update(created_at=closed)
        Vote.objects.create(battle=battle, blind_choice="a", final_choice="b" if ladder == "energy" else "")
        pair_counts_record(battle=battle, ladder="blind", choice="a")
        if ladder == "energy":
            pair_counts_record(battle=battle, ladder="energy", choice="b")


def fastchat_style(rounds: int):
    """Load every battle row, then aggregate and fit both ladders, plus online Elo in time order."""
    from django.db.models import F

    from analysis.leaderboard.ratings import PairCounts, leaderboard, online_elo
    from arena.models import Vote
    from arena.selectors import battles_counted_q

    rows = list(
        Vote.objects.filter(battles_counted_q("battle__"))
        .order_by("blind_at", "battle_id")
        .values_list(
            F("battle__contender_a__name"), F("battle__contender_b__name"), "blind_choice", "final_choice",
            "blind_at", "final_at",
        )
    )
    names = sorted({r[0] for r in rows} | {r[1] for r in rows})
    blind = [(a, b, w) for a, b, w, _, _, _ in rows]
    final = sorted(((t2, a, b, w) for a, b, _, w, _, t2 in rows if w), key=lambda r: r[0])
    final_battles = [(a, b, w) for _, a, b, w in final]
    out = {}
    for ladder, battles in (("blind", blind), ("energy", final_battles)):
        counts = PairCounts.from_battles(battles, names=names)
        table = leaderboard(counts, rounds=rounds, seed=0)
        elo = online_elo(battles, names)
        for row in table:
            row["elo"] = round(elo[row["name"]], 2)
        out[ladder] = table
    return out, json.dumps(out), len(rows)


def full_scan(rounds: int):
    from analysis.leaderboard.board import board_compute, board_inputs_from_records
    from analysis.leaderboard.selectors.fit_settings import fit_options
    from analysis.leaderboard.selectors.records import battle_records

    inputs = board_inputs_from_records(battle_records())
    return {k: board_compute(v, rounds=rounds, figures=False, **fit_options()) for k, v in inputs.items()}


def refit_parts(rounds: int, prior: float) -> tuple[float, float, int, float]:
    """Seconds to add up the daily sums (all days), to read the context rows, how many, and the
    refit's computation with the prior on and the contexts (style control, price of energy)."""
    from django.test.utils import override_settings

    from analysis.leaderboard.selectors.boards import board_inputs_from_tables, leaderboard_compute

    _, t_sums = timed(board_inputs_from_tables, contexts=False)
    inputs, t_all = timed(board_inputs_from_tables)
    contexts = sum(len(inp.contexts or []) for inp in inputs.values())
    with override_settings(ANALYSIS_PRIOR_SCALE=prior):
        _, t_prior = timed(leaderboard_compute, rounds=rounds, figures=True)
    return t_sums, t_all - t_sums, contexts, t_prior


def dated_boards(rounds: int, prior: float, first_day) -> None:
    """Date-filtered boards as the page shows them (figures included): cold, then cached; 7 days against a
    scan of its votes (the path before the daily sums)."""
    import datetime as dt

    from analysis.leaderboard.selectors.filters import Filters
    from analysis.leaderboard.selectors.records import battle_records

    day = dt.timedelta(days=1)
    ranges = {
        "one day": (first_day + 30 * day, first_day + 30 * day),
        "7 days": (first_day + 50 * day, first_day + 56 * day),
        "30 days": (first_day, first_day + 29 * day),
        "since the first day (all 60)": (first_day, None),
    }
    start, end = Filters("chat", *ranges["7 days"]).bounds()
    boards_timed(
        f"date-filtered board (page, figures; {rounds} rounds, prior {prior:g})",
        {label: Filters("chat", since, until) for label, (since, until) in ranges.items()},
        "7 days", lambda: battle_records(kind="chat", start=start, end=end), rounds, prior,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--contenders", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours (the median is reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--database", default="arena_bench")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database (default: drop it)")
    parser.add_argument("--skip-scan", action="store_true", help="skip our full-scan comparison")
    parser.add_argument("--prior", type=float, default=400.0,
                        help="prior scale (rating points) of the refit-with-prior and date-filtered timings")
    args = parser.parse_args(argv)

    print(f"creating database {args.database} on {args.server}")
    database_create(args.server, args.database)
    try:
        run(args)
    finally:
        if args.keep:
            print(f"kept database {args.database}")
        else:
            database_drop(args.server, args.database)
            print(f"dropped database {args.database}")


def run(args) -> None:
    django_setup(f"{args.server.rstrip('/')}/{args.database}")
    from django.db import connection

    from analysis.leaderboard.services.rebuild import aggregates_rebuild
    from analysis.models import PairCount

    rng = np.random.default_rng(args.seed)
    ids, strength, jpt = contenders_create(args.contenders, rng)
    data, t_gen = timed(battles_generate, args.battles, ids, strength, jpt, rng)
    _, t_copy = timed(rows_copy, data)
    result, t_rebuild = timed(aggregates_rebuild)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"setup (not timed below): {args.battles:,} battles among {args.contenders} contenders generated in "
        f"{t_gen:.1f} s, copied in {t_copy:.1f} s; aggregates built once in {t_rebuild:.1f} s "
        f"({result.pair_rows:,} pair-outcome rows)\n"
    )

    times_ours, times_nofig = [], []
    for _ in range(args.repeat):
        (snapshot, body), t = timed(ours, args.rounds)
        times_ours.append(t)
        (_, _), t_nofig = timed(ours_without_figures, args.rounds)
        times_nofig.append(t_nofig)
    t_ours, t_nofig = statistics.median(times_ours), statistics.median(times_nofig)
    (fc, fc_body, n_rows), t_fc = timed(fastchat_style, args.rounds)
    board = snapshot.data["boards"]["chat"]
    same = all(
        [(r["name"], r["rating"], r["lower"], r["upper"], r["rank"]) for r in fc[lad]]
        == [(r["name"], r["rating"], r["lower"], r["upper"], r["rank"]) for r in board["ladders"][lad]["rows"]]
        for lad in ("blind", "energy")
    )
    elo_same = all(
        max(abs(a["elo"] - b["elo"]) for a, b in zip(
            sorted(fc[lad], key=lambda r: r["name"]), sorted(board["ladders"][lad]["rows"], key=lambda r: r["name"]),
            strict=True,
        )) < 0.01
        for lad in ("blind", "energy")
    )

    print(f"pair-outcome rows read by ours: {PairCount.objects.count():,}; battle rows read by FastChat-style: "
          f"{n_rows:,}")
    print(f"ratings, intervals and ranks identical in both: {same}; online Elo identical: {elo_same}")
    truth = strength - strength.mean() + 1000
    fitted = {r["name"]: r["rating"] for r in board["ladders"]["blind"]["rows"]}
    error = max(abs(fitted[f"contender-{i:02d}"] - truth[i]) for i in range(len(truth)))
    widths = [r["upper"] - r["lower"] for r in board["ladders"]["blind"]["rows"]]
    print(f"blind ladder: max |rating - true strength| {error:.1f} points; median 95% interval width "
          f"{statistics.median(widths):.1f} points; GEA switch rate {board['gea']['overall']['rate']:.3f} "
          f"(drawn with 0.4)")
    print(f"JSON leaderboard: {len(body):,} bytes; snapshot with figures: {len(json.dumps(snapshot.data)):,} bytes\n")

    title = f"database -> JSON leaderboard, both ladders, {args.rounds} bootstrap rounds"
    print(f"{title:<72}{'seconds':>9}")
    print(f"{'ours: refit from the counts, with figures (median of ' + str(args.repeat) + ')':<72}{t_ours:9.3f}")
    print(f"{'ours: the same without the plotly figures':<72}{t_nofig:9.3f}")
    print(f"{'FastChat-style: load every battle row, then fit (ratings and Elo only)':<72}{t_fc:9.3f}")
    print(f"\nratio FastChat-style / ours: {t_fc / t_ours:.1f}x (with figures), {t_fc / t_nofig:.1f}x (without)")
    print(f"ours, every run (s): {', '.join(f'{t:.3f}' for t in times_ours)}")

    if not args.skip_scan:
        scan, t_scan = timed(full_scan, args.rounds)
        equal = all(
            [{k: v for k, v in r.items()} for r in scan["chat"]["ladders"][lad]["rows"]]
            == board["ladders"][lad]["rows"]
            for lad in ("blind", "energy")
        )
        print(f"our full scan (votes and responses -> the same board, the date-filter path): {t_scan:.3f} s; "
              f"same ladders as the refit: {equal}")

    t_sums, t_contexts, n_contexts, t_prior = refit_parts(args.rounds, args.prior)
    print(f"\nrefit parts: daily sums added up (all days, {PairCount.objects.count():,} pair-outcome rows) "
          f"{t_sums:.3f} s; {n_contexts:,} context rows read {t_contexts:.3f} s")
    print(f"{'ours: refit computation with prior ' + format(args.prior, 'g') + ' and contexts, with figures':<72}"
          f"{t_prior:9.3f}")
    dated_boards(args.rounds, args.prior, _day(float(data["t"][0])))
    category_boards(args.rounds, args.prior)

    # the steady state: each refit follows new votes and reuses what they did not change
    vote_rng = np.random.default_rng(args.seed + 1)
    steady = {}
    for label, ladder in (("after a blind vote (one ladder refitted)", "blind"),
                          ("after a blind and a second vote (both ladders)", "energy")):
        runs = []
        for _ in range(args.repeat):
            vote_cast_one(ids, vote_rng, ladder)
            (_, _), t = timed(ours, args.rounds, True)
            runs.append(t)
        steady[label] = statistics.median(runs)
        print(f"{'ours, refit ' + label:<72}{steady[label]:9.3f}")


if __name__ == "__main__":
    main()
