"""Reads of the analysis app: leaderboard inputs, the board itself, battle logs.

Three sources feed one computation (:func:`board_compute`):

* the running aggregates (``PairCount``, ``EloRating``, ``EnergyStat``, ``GeaCount``), read in
  O(contenders²) rows: :func:`board_inputs_from_tables`, used by the refit and by default;
* a scan of the counted battles (votes with their responses, plus imported battles), for date
  filters and for the battle log export: :func:`battle_records` then :func:`board_inputs_from_records`;
* a battle log file in FastChat's clean-battle format, without touching the database:
  :class:`BattleLogReader` then :func:`board_inputs_from_records`.

Both inputs carry the same numbers when nothing is filtered (tested), so the board of a file
exported from the database equals the board of the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import hmac
import html
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import FilteredRelation, Q

from analysis.leaderboard import gea
from analysis.leaderboard.ratings import (
    FASTCHAT_WINNER,
    PairCounts,
    battle_count_matrix,
    leaderboard,
    online_elo,
    win_rate_matrix,
)
from analysis.models import (
    Competitor,
    EloRating,
    EnergyStat,
    GeaCount,
    ImportedBattle,
    LeaderboardSnapshot,
    PairCount,
)
from arena.choices import BLIND, ENERGY, LADDERS, OTHER_SIDE

# our choice codes <-> FastChat's clean-battle "winner" spelling
TO_FASTCHAT = FASTCHAT_WINNER
FROM_FASTCHAT = {value: key for key, value in TO_FASTCHAT.items()}
DEFAULT_KIND = "chat"
SNAPSHOT_VERSION = 1  # bump when the layout of a snapshot changes: older ones are then recomputed
GEA_ROUNDS = 1000
Z95 = 1.959963984540054


def bootstrap_rounds() -> int:
    return settings.ANALYSIS_BOOTSTRAP_ROUNDS


# ---------------------------------------------------------------------------------------------
# Inputs of a board


@dataclass
class EnergySums:
    """Running sums of one competitor's energy readings (per response and per output token)."""

    responses: int = 0
    joules_sum: float = 0.0
    joules_sq_sum: float = 0.0
    token_responses: int = 0
    jpt_sum: float = 0.0
    jpt_sq_sum: float = 0.0
    output_tokens_sum: int = 0

    @staticmethod
    def deltas(joules: float | None, output_tokens: int | None) -> dict | None:
        """The increments of one response, or None when it has no usable joule reading."""
        if joules is None or not math.isfinite(joules):
            return None
        tokens = int(output_tokens or 0)
        d = {"responses": 1, "joules_sum": joules, "joules_sq_sum": joules * joules, "output_tokens_sum": tokens}
        if tokens > 0:
            jpt = joules / tokens
            d |= {"token_responses": 1, "jpt_sum": jpt, "jpt_sq_sum": jpt * jpt}
        return d

    def add(self, joules: float | None, output_tokens: int | None) -> None:
        for name, value in (self.deltas(joules, output_tokens) or {}).items():
            setattr(self, name, getattr(self, name) + value)


GEA_FIELDS = ("eligible", "switched", "to_tie", "to_bothbad", "opposite_eligible", "opposite_switched")


@dataclass
class GeaSums:
    """Counts behind ``gea.switch_rate`` for a group of votes."""

    eligible: int = 0
    switched: int = 0
    to_tie: int = 0
    to_bothbad: int = 0
    opposite_eligible: int = 0
    opposite_switched: int = 0

    @staticmethod
    def deltas(vote: gea.GeaVote) -> dict | None:
        """The increments of one vote (``gea.switch_rate``'s rules), or None when it is not eligible."""
        side = vote.blind_side_energy()
        if side is None:
            return None
        switched = vote.after == OTHER_SIDE[vote.blind]
        if side == "more":
            return {
                "eligible": 1,
                "switched": int(switched),
                "to_tie": int(vote.after == "tie"),
                "to_bothbad": int(vote.after == "bothbad"),
            }
        return {"opposite_eligible": 1, "opposite_switched": int(switched)}

    def add(self, other: GeaSums | dict) -> None:
        items = other.items() if isinstance(other, dict) else ((f, getattr(other, f)) for f in GEA_FIELDS)
        for name, value in items:
            setattr(self, name, getattr(self, name) + value)


@dataclass
class BoardInputs:
    """Everything a board of one kind is computed from (all keyed by competitor name)."""

    kind: str
    families: dict[str, str] = field(default_factory=dict)
    pairs: dict[str, list[tuple[str, str, str, int]]] = field(default_factory=lambda: {lad: [] for lad in LADDERS})
    elo: dict[str, dict[str, float]] = field(default_factory=lambda: {lad: {} for lad in LADDERS})
    energy: dict[str, EnergySums] = field(default_factory=dict)
    gea: dict[tuple[str, str], GeaSums] = field(default_factory=dict)

    def names(self) -> list[str]:
        found = set(self.energy)
        for ladder in LADDERS:
            found.update(self.elo[ladder])
            for a, b, _, _ in self.pairs[ladder]:
                found.update((a, b))
        return sorted(found)


def board_inputs_from_tables(*, kind: str | None = None) -> dict[str, BoardInputs]:
    """The running aggregates, by kind: a handful of queries over O(contenders²) rows."""
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

    rows = PairCount.objects.filter(count__gt=0).values_list(
        "ladder", "competitor_a_id", "competitor_b_id", "outcome", "count"
    )
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
    for ladder, cid, rating in EloRating.objects.values_list("ladder", "competitor_id", "rating"):
        if cid in competitors:
            of(cid).elo[ladder][competitors[cid][0]] = rating
    energy_fields = [f.name for f in EnergyStat._meta.fields if f.name not in ("id", "competitor")]
    for values in EnergyStat.objects.values_list("competitor_id", *energy_fields):
        if values[0] in competitors:
            sums = EnergySums(**dict(zip(energy_fields, values[1:], strict=True)))
            of(values[0]).energy[competitors[values[0]][0]] = sums
    for values in GeaCount.objects.values_list("competitor_lo_id", "competitor_hi_id", *GEA_FIELDS):
        lo, hi = values[:2]
        if lo in competitors and hi in competitors:
            key = tuple(sorted((competitors[lo][0], competitors[hi][0])))
            of(hi)
            sums = of(lo).gea.setdefault(key, GeaSums())
            sums.add(dict(zip(GEA_FIELDS, values[2:], strict=True)))
    return inputs


@dataclass(frozen=True, slots=True)
class BattleRecord:
    """One counted battle as in the exported log: FastChat's fields plus energy and the second vote.

    ``winner``/``winner_after`` use our codes (a, b, tie, bothbad); times are Unix seconds.
    """

    key: str
    kind: str
    model_a: str
    model_b: str
    family_a: str
    family_b: str
    winner: str
    tstamp: float
    winner_after: str | None = None
    tstamp_after: float | None = None
    energy_a_j: float | None = None
    energy_b_j: float | None = None
    output_tokens_a: int | None = None
    output_tokens_b: int | None = None
    energy_source_a: str = ""
    energy_source_b: str = ""

    def gea_vote(self) -> gea.GeaVote:
        return gea.GeaVote(
            self.model_a, self.model_b, self.family_a or None, self.family_b or None,
            self.energy_a_j, self.energy_b_j, self.winner, self.winner_after,
        )

    def to_json(self) -> dict:
        """The exported line: FastChat's clean-battle fields first, then ours."""
        return {
            "question_id": self.key,
            "model_a": self.model_a,
            "model_b": self.model_b,
            "winner": TO_FASTCHAT[self.winner],
            "tstamp": self.tstamp,
            "anony": True,
            "turn": 1,
            "kind": self.kind,
            "family_a": self.family_a,
            "family_b": self.family_b,
            "winner_after_energy": TO_FASTCHAT[self.winner_after] if self.winner_after else None,
            "tstamp_after_energy": self.tstamp_after,
            "energy_a_j": self.energy_a_j,
            "energy_b_j": self.energy_b_j,
            "output_tokens_a": self.output_tokens_a,
            "output_tokens_b": self.output_tokens_b,
            "energy_source_a": self.energy_source_a,
            "energy_source_b": self.energy_source_b,
        }


def board_inputs_from_records(records: Iterable[BattleRecord], *, kind: str | None = None) -> dict[str, BoardInputs]:
    """Aggregate individual battles, by kind. Online Elo runs in time order (ties: input order)."""
    inputs: dict[str, BoardInputs] = {}
    tallies: dict[str, Counter] = {}
    sequences: dict[str, dict[str, list]] = {}
    for i, r in enumerate(records):
        if kind is not None and r.kind != kind:
            continue
        inp = inputs.get(r.kind)
        if inp is None:
            inp = inputs[r.kind] = BoardInputs(r.kind)
            tallies[r.kind] = Counter()
            sequences[r.kind] = {lad: [] for lad in LADDERS}
        for name, family in ((r.model_a, r.family_a), (r.model_b, r.family_b)):
            if family or name not in inp.families:
                inp.families[name] = family or ""
        tally, seq = tallies[r.kind], sequences[r.kind]
        tally[(BLIND, r.model_a, r.model_b, r.winner)] += 1
        seq[BLIND].append((r.tstamp, i, r.model_a, r.model_b, r.winner))
        sides = ((r.model_a, r.energy_a_j, r.output_tokens_a), (r.model_b, r.energy_b_j, r.output_tokens_b))
        for name, joules, tokens in sides:
            if EnergySums.deltas(joules, tokens) is not None:
                inp.energy.setdefault(name, EnergySums()).add(joules, tokens)
        if r.winner_after:
            tally[(ENERGY, r.model_a, r.model_b, r.winner_after)] += 1
            when = r.tstamp_after if r.tstamp_after is not None else r.tstamp
            seq[ENERGY].append((when, i, r.model_a, r.model_b, r.winner_after))
            deltas = GeaSums.deltas(r.gea_vote())
            if deltas:
                inp.gea.setdefault(tuple(sorted((r.model_a, r.model_b))), GeaSums()).add(deltas)
    for k, inp in inputs.items():
        for (ladder, a, b, outcome), count in sorted(tallies[k].items()):
            inp.pairs[ladder].append((a, b, outcome, count))
        for ladder in LADDERS:
            battles = sorted(sequences[k][ladder], key=lambda row: (row[0], row[1]))
            names = sorted({n for row in battles for n in row[2:4]})
            inp.elo[ladder] = online_elo(((a, b, w) for _, _, a, b, w in battles), names) if names else {}
    return inputs


# ---------------------------------------------------------------------------------------------
# The board: ratings, intervals, ranks, Elo, energy, GEA statistics, figures


def mean_ci_from_sums(n: int, total: float, sq_total: float) -> tuple[float | None, float | None, float | None]:
    """Mean and 95% interval (normal approximation, sample variance) from a count, sum and sum of squares.

    One value gives no interval (None bounds); no value gives (None, None, None).
    """
    if n <= 0:
        return None, None, None
    mean = total / n
    if n < 2:
        return mean, None, None
    variance = max(sq_total - n * mean * mean, 0.0) / (n - 1)
    half = Z95 * math.sqrt(variance / n)
    return mean, mean - half, mean + half


def switch_stats_from_sums(sums: GeaSums, *, seed: int = 0, rounds: int = GEA_ROUNDS) -> dict:
    """``gea.switch_rate`` from counts: the same random draws, hence the same figures (tested)."""
    return switch_stats_many([sums], seed=seed, rounds=rounds)[0]


def _gea_key_of(sums: GeaSums) -> tuple:
    return tuple(getattr(sums, f) for f in GEA_FIELDS)


def switch_stats_many(
    groups: list[GeaSums], *, seed: int = 0, rounds: int = GEA_ROUNDS, memo: dict | None = None
) -> list[dict]:
    """:func:`switch_stats_from_sums` of many groups (``gea.switch_rate_by`` from counts).

    Each group draws from its own generator seeded with ``seed``, in ``gea._proportion_ci``'s
    order (the main direction only when it has votes, then the opposite one), so the figures equal
    ``gea.switch_rate`` on the same votes; the percentiles of all groups are taken in one call
    (row by row, the same values), which keeps a leaderboard of 1,000+ pairs fast. ``memo`` maps
    ``_gea_key`` tuples to results already computed with the same seed and rounds.
    """
    memo = memo or {}
    todo: list[tuple[np.random.Generator, int, float]] = []
    slots: list[list[int | None] | None] = []
    for sums in groups:
        if _gea_key_of(sums) in memo:
            slots.append(None)
            continue
        rng = np.random.default_rng(seed)
        slot: list[int | None] = []
        for k, n in ((sums.switched, sums.eligible), (sums.opposite_switched, sums.opposite_eligible)):
            if n == 0:
                slot.append(None)
                continue
            slot.append(len(todo))
            todo.append((rng, n, k / n))
        slots.append(slot)
    bounds = None
    if todo and rounds > 0:
        draws = np.empty((len(todo), rounds))
        for row, (rng, n, rate) in enumerate(todo):
            # in gea._proportion_ci's order: the main direction first, then the opposite one
            draws[row] = rng.binomial(n, rate, size=rounds)
        draws /= np.array([n for _, n, _ in todo], dtype=np.float64)[:, None]
        bounds = np.percentile(draws, [2.5, 97.5], axis=1, overwrite_input=True)
    out = []
    for sums, slot in zip(groups, slots, strict=True):
        if slot is None:
            out.append(dict(memo[_gea_key_of(sums)]))
            continue
        ci = []
        for (k, n), row in zip(
            ((sums.switched, sums.eligible), (sums.opposite_switched, sums.opposite_eligible)), slot, strict=True
        ):
            if row is None:
                ci.append((None, None, None))
            elif bounds is None:
                ci.append((k / n, k / n, k / n))
            else:
                ci.append((k / n, float(bounds[0, row]), float(bounds[1, row])))
        (rate, lower, upper), (o_rate, o_lower, o_upper) = ci
        # the fields of gea.SwitchStats, in its order (built directly: asdict is slow for 1,000+ groups)
        out.append({
            "n_eligible": sums.eligible,
            "n_switched": sums.switched,
            "rate": rate,
            "lower": lower,
            "upper": upper,
            "n_to_tie": sums.to_tie,
            "n_to_bothbad": sums.to_bothbad,
            "to_tie_or_bothbad_rate": (sums.to_tie + sums.to_bothbad) / sums.eligible if sums.eligible else None,
            "opposite_n_eligible": sums.opposite_eligible,
            "opposite_n_switched": sums.opposite_switched,
            "opposite_rate": o_rate,
            "opposite_lower": o_lower,
            "opposite_upper": o_upper,
        })
    return out


def pareto_frontier(points: Iterable[tuple[str, float, float]]) -> list[str]:
    """Names on the frontier of (energy, rating): nobody uses at most as much energy with at least
    as high a rating (one of them strictly). Ordered by energy."""
    pts = sorted(((e, -r, name) for name, e, r in points), key=lambda p: (p[0], p[1], p[2]))
    frontier, best = [], -math.inf
    for _energy, neg_rating, name in pts:
        rating = -neg_rating
        if rating > best:
            frontier.append(name)
            best = rating
    return frontier


def _round(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(float(x), digits)


def _matrix(m: np.ndarray, order: list[int], digits: int | None = None) -> list[list]:
    out = []
    for i in order:
        row = []
        for j in order:
            v = float(m[i, j])
            row.append(None if not math.isfinite(v) else (int(v) if digits is None else round(v, digits)))
        out.append(row)
    return out


def _energy_row(name: str, family: str, sums: EnergySums | None) -> dict:
    sums = sums or EnergySums()
    j, j_lo, j_hi = mean_ci_from_sums(sums.responses, sums.joules_sum, sums.joules_sq_sum)
    t, t_lo, t_hi = mean_ci_from_sums(sums.token_responses, sums.jpt_sum, sums.jpt_sq_sum)
    return {
        "name": name,
        "family": family,
        "responses": sums.responses,
        "joules_mean": _round(j, 4),
        "joules_lower": _round(j_lo, 4),
        "joules_upper": _round(j_hi, 4),
        "joules_per_token_mean": _round(t, 6),
        "joules_per_token_lower": _round(t_lo, 6),
        "joules_per_token_upper": _round(t_hi, 6),
        "output_tokens_mean": _round(sums.output_tokens_sum / sums.responses, 1) if sums.responses else None,
    }


def _fit_key(counts: PairCounts, rounds: int, seed: int) -> str:
    """Fingerprint of a fit's inputs: equal keys give equal ratings, intervals and ranks."""
    digest = hashlib.sha256(json.dumps([counts.names, rounds, seed]).encode())
    for array in (counts.a_idx, counts.b_idx, counts.outcome, counts.count):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.hexdigest()


def _gea_key(stats: dict) -> tuple:
    return tuple(stats[k] for k in (
        "n_eligible", "n_switched", "n_to_tie", "n_to_bothbad", "opposite_n_eligible", "opposite_n_switched"
    ))


def board_compute(
    inputs: BoardInputs, *, rounds: int | None = None, seed: int = 0, figures: bool = True,
    previous: dict | None = None,
) -> dict:
    """One kind's leaderboard: both ladders (Bradley-Terry with bootstrap intervals and ranks, online
    Elo), rank changes, win-rate and battle-count matrices, energy per contender, GEA statistics,
    and plotly figures. JSON-serialisable. Cost: O(contenders²) per bootstrap round.

    With ``previous`` (the last board of this kind), results whose inputs did not change are
    taken from it instead of being recomputed: a ladder whose pair-outcome counts are the same (a
    vote moves one ladder at a time), and GEA groups with the same counts. All of them are
    deterministic functions of their inputs, so the board is the same as a full computation.
    """
    rounds = bootstrap_rounds() if rounds is None else rounds
    names = inputs.names()
    families = {name: inputs.families.get(name, "") for name in names}
    previous = previous or {}
    ladders, by_name, matrices = {}, {}, {}
    for ladder in LADDERS:
        counts = PairCounts.from_rows(names, inputs.pairs[ladder])
        key = _fit_key(counts, rounds, seed)
        before = previous.get("ladders", {}).get(ladder) or {}
        if before.get("fit_key") == key:
            rows = [dict(row) for row in before["rows"]]
        else:
            rows = leaderboard(counts, rounds=rounds, seed=seed) if names else []
        for row in rows:
            row["family"] = families[row["name"]]
            elo = inputs.elo[ladder].get(row["name"])
            row["elo"] = _round(elo) if row["battles"] else None
        ladders[ladder] = {"battles": counts.total, "rows": rows, "fit_key": key}
        by_name[ladder] = {row["name"]: row for row in rows}
        matrices[ladder] = (counts, win_rate_matrix(counts), battle_count_matrix(counts))
    # one order for every table and figure: the blind ladder's
    order_names = [row["name"] for row in ladders[BLIND]["rows"]]
    index = {name: i for i, name in enumerate(names)}
    order = [index[name] for name in order_names]
    side_by_side = []
    for name in order_names:
        blind, energy = by_name[BLIND][name], by_name[ENERGY][name]
        change = blind["rank"] - energy["rank"] if blind["rank"] and energy["rank"] else None
        side_by_side.append(
            {"name": name, "family": families[name], "blind": blind, "energy": energy, "rank_change": change}
        )
    energy_rows = [_energy_row(name, families[name], inputs.energy.get(name)) for name in order_names]

    overall, by_family = GeaSums(), {}
    for (a, b), sums in inputs.gea.items():
        overall.add(sums)
        if families.get(a) and families.get(a) == families.get(b):
            by_family.setdefault(families[a], GeaSums()).add(sums)
    pairs, families_sorted = sorted(inputs.gea.items()), sorted(by_family.items())
    memo = {}
    before = previous.get("gea") or {}
    if before.get("seed") == seed and before.get("rounds") == GEA_ROUNDS:
        for stats in [before["overall"], *before["by_pair"].values(), *before["by_family"].values()]:
            memo[_gea_key(stats)] = stats
    groups = [overall] + [s for _, s in pairs] + [s for _, s in families_sorted]
    stats = switch_stats_many(groups, seed=seed, memo=memo)
    gea_stats = {
        "seed": seed,
        "rounds": GEA_ROUNDS,
        "overall": stats[0],
        "by_pair": {f"{a} vs {b}": st for ((a, b), _), st in zip(pairs, stats[1 : 1 + len(pairs)], strict=True)},
        "by_family": {fam: st for (fam, _), st in zip(families_sorted, stats[1 + len(pairs) :], strict=True)},
    }
    board = {
        "kind": inputs.kind,
        "rounds": rounds,
        "names": order_names,
        "ladders": ladders,
        "side_by_side": side_by_side,
        "energy": energy_rows,
        "gea": gea_stats,
        "matrices": {
            ladder: {
                "names": order_names,
                "win_rate": _matrix(matrices[ladder][1], order, 4),
                "battles": _matrix(matrices[ladder][2], order),
            }
            for ladder in LADDERS
        },
    }
    if figures:
        board["figures"] = figures_build(board)
    return board


def board_empty(kind: str, *, figures: bool = True) -> dict:
    return board_compute(BoardInputs(kind), rounds=0, figures=figures)


# ---------------------------------------------------------------------------------------------
# Figures (plotly figure JSON, rendered in the browser by the bundled plotly.min.js)

LADDER_LABELS = {BLIND: "blind", ENERGY: "energy-aware"}
_COLOURS = {BLIND: "#2f5fb3", ENERGY: "#1f6b43"}


def _label(name: str) -> str:
    # plotly reads a few HTML-like tags in labels: names are shown as text, never as markup
    return html.escape(name, quote=False)


def _figure_json(fig) -> dict:
    import plotly.io as pio

    return json.loads(pio.to_json(fig, validate=False))


def figures_build(board: dict) -> dict:
    """Rating against energy per response (with the Pareto frontier of each ladder) and the
    win-rate and battle-count heatmaps of each ladder."""
    import plotly.graph_objects as go

    energy = {row["name"]: row for row in board["energy"]}
    scatter = go.Figure()
    for ladder in LADDERS:
        points = []
        for row in board["ladders"][ladder]["rows"]:
            e = energy.get(row["name"], {})
            if row["rating"] is not None and e.get("joules_mean") is not None:
                points.append((row, e))
        if not points:
            continue
        rating = [r["rating"] for r, _ in points]
        joules = [e["joules_mean"] for _, e in points]
        scatter.add_trace(go.Scatter(
            x=joules, y=rating, mode="markers", name=f"{LADDER_LABELS[ladder]} ladder",
            marker={"size": 10, "color": _COLOURS[ladder]},
            text=[_label(r["name"]) for r, _ in points],
            error_y={"type": "data", "symmetric": False,
                     "array": [r["upper"] - r["rating"] for r, _ in points],
                     "arrayminus": [r["rating"] - r["lower"] for r, _ in points], "thickness": 1},
            error_x={"type": "data", "symmetric": False,
                     "array": [(e["joules_upper"] - e["joules_mean"]) if e["joules_upper"] is not None else 0
                               for _, e in points],
                     "arrayminus": [(e["joules_mean"] - e["joules_lower"]) if e["joules_lower"] is not None else 0
                                    for _, e in points], "thickness": 1},
            hovertemplate="%{text}<br>rating %{y:.0f}<br>%{x:.3g} J per response<extra></extra>",
        ))
        frontier = pareto_frontier((r["name"], e["joules_mean"], r["rating"]) for r, e in points)
        lookup = {r["name"]: (e["joules_mean"], r["rating"]) for r, e in points}
        scatter.add_trace(go.Scatter(
            x=[lookup[n][0] for n in frontier], y=[lookup[n][1] for n in frontier],
            mode="lines", line={"dash": "dash", "color": _COLOURS[ladder], "shape": "hv"},
            name=f"Pareto frontier ({LADDER_LABELS[ladder]})", hoverinfo="skip",
        ))
    scatter.update_layout(
        title="Rating against energy per response", xaxis_title="mean energy per response (J)",
        yaxis_title="Bradley-Terry rating", template="none", margin={"t": 50, "r": 20, "b": 50, "l": 60},
        legend={"orientation": "h", "y": -0.2}, xaxis={"automargin": True}, yaxis={"automargin": True},
    )
    figures = {"energy_scatter": _figure_json(scatter)}
    for ladder in LADDERS:
        m = board["matrices"][ladder]
        labels = [_label(n) for n in m["names"]]
        win = go.Figure(go.Heatmap(
            z=m["win_rate"], x=labels, y=labels, zmin=0, zmax=1, colorscale="RdBu",
            hovertemplate="%{y} beat %{x} in %{z:.0%} of decisive battles<extra></extra>",
        ))
        win.update_layout(title=f"Win rate, {LADDER_LABELS[ladder]} ladder (row beats column; ties left out)",
                          template="none", margin={"t": 50},
                          xaxis={"automargin": True}, yaxis={"autorange": "reversed", "automargin": True})
        count = go.Figure(go.Heatmap(
            z=m["battles"], x=labels, y=labels, colorscale="Blues",
            hovertemplate="%{y} and %{x}: %{z} battles<extra></extra>",
        ))
        count.update_layout(title=f"Battles per pair, {LADDER_LABELS[ladder]} ladder",
                            template="none", margin={"t": 50},
                          xaxis={"automargin": True}, yaxis={"autorange": "reversed", "automargin": True})
        figures[f"win_rate_{ladder}"] = _figure_json(win)
        figures[f"battles_{ladder}"] = _figure_json(count)
    return figures


# ---------------------------------------------------------------------------------------------
# The whole leaderboard, from the aggregates (the refit) or from a scan (filters)


def leaderboard_compute(
    *, rounds: int | None = None, seed: int = 0, figures: bool = True, previous: dict | None = None
) -> dict:
    """Boards of every kind that has a competitor, from the running aggregates (O(contenders²)).

    ``previous``: the data of the last snapshot, whose unchanged parts are reused (see :func:`board_compute`).
    """
    inputs = board_inputs_from_tables()
    inputs.setdefault(DEFAULT_KIND, BoardInputs(DEFAULT_KIND))
    rounds = bootstrap_rounds() if rounds is None else rounds
    before = (previous or {}).get("boards", {}) if (previous or {}).get("version") == SNAPSHOT_VERSION else {}
    return {
        "version": SNAPSHOT_VERSION,
        "rounds": rounds,
        "kinds": sorted(inputs),
        "boards": {
            k: board_compute(inp, rounds=rounds, seed=seed, figures=figures, previous=before.get(k))
            for k, inp in sorted(inputs.items())
        },
    }


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


@dataclass(frozen=True)
class Filters:
    kind: str = DEFAULT_KIND
    since: dt.date | None = None
    until: dt.date | None = None

    @property
    def has_dates(self) -> bool:
        return self.since is not None or self.until is not None

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """[start, end) in UTC; ``until`` is inclusive."""
        start = dt.datetime.combine(self.since, dt.time(), tzinfo=dt.UTC) if self.since else None
        # The last day of the calendar has no day after it: no upper bound then.
        if self.until and self.until < dt.date.max:
            end = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        else:
            end = None
        return start, end

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def filters_parse(*, kind: str | None = None, since: str | None = None, until: str | None = None) -> Filters:
    """Filters from query strings; ValueError with a message for a person."""
    from modelhub.models import Model

    kind = (kind or DEFAULT_KIND).strip()
    if kind not in Model.Kind.values:
        raise ValueError(f"Unknown kind {kind!r}: use one of {', '.join(Model.Kind.values)}.")
    dates = []
    for label, value in (("since", since), ("until", until)):
        value = (value or "").strip()
        if not value:
            dates.append(None)
            continue
        try:
            dates.append(dt.date.fromisoformat(value))
        except ValueError:
            raise ValueError(f"{label} must be a date like 2025-01-31, not {value!r}.") from None
    if dates[0] and dates[1] and dates[0] > dates[1]:
        raise ValueError("The start date is after the end date.")
    return Filters(kind, dates[0], dates[1])


def leaderboard_view(*, filters: Filters, snapshot: LeaderboardSnapshot | None, figures: bool = True) -> dict:
    """The board a page or the API shows: from the snapshot, or computed from a scan when dates are set."""
    if filters.has_dates:
        start, end = filters.bounds()
        inputs = board_inputs_from_records(battle_records(kind=filters.kind, start=start, end=end), kind=filters.kind)
        board = board_compute(inputs.get(filters.kind) or BoardInputs(filters.kind), figures=figures)
        computed_at, kinds = None, None
    else:
        boards = snapshot.data["boards"] if snapshot else {}
        board = boards.get(filters.kind) or board_empty(filters.kind, figures=figures)
        computed_at = snapshot.computed_at if snapshot else None
        kinds = sorted(boards)
        if not figures:
            board = {k: v for k, v in board.items() if k != "figures"}
    board = {
        **board,
        "ladders": {lad: {k: v for k, v in data.items() if k != "fit_key"} for lad, data in board["ladders"].items()},
    }
    return {
        "computed_at": computed_at.isoformat() if computed_at else None,
        "live": not filters.has_dates,
        "filters": filters.as_dict(),
        "kinds": kinds or [filters.kind],
        **board,
    }


# ---------------------------------------------------------------------------------------------
# Battle records from the database (scan) and the exported log


def instance_prefix() -> str:
    """Prefix of this database's battle ids in exported logs (so a re-import is recognised)."""
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:analysis.battles".encode()).hexdigest()
    return f"arena-{digest[:10]}"


def _contender_names() -> dict[int, tuple[str, str, str]]:
    """contender id -> (name as ranked, family, kind); the competitor's name once it has one."""
    from modelhub.models import Contender

    named = dict(Competitor.objects.filter(contender__isnull=False).values_list("contender_id", "name"))
    return {
        cid: (named.get(cid, name), family, kind)
        for cid, name, family, kind in Contender.objects.values_list("id", "name", "model__family", "model__kind")
    }


def counted_battles_q(prefix: str = "") -> Q:
    """``Battle.counts_for_ranking`` as a query (mode anonymous, no error, no identity leak)."""
    from arena.models import Battle

    return Q(**{
        f"{prefix}mode": Battle.Mode.ANONYMOUS, f"{prefix}has_error": False, f"{prefix}identity_leak": False,
        f"{prefix}repeated_prompt": False,
    })


def battle_export_key(battle_id: int) -> str:
    """The key of one of our battles in exported logs: this arena's prefix (so a re-import is
    recognised) and a keyed hash of the battle id, which nobody without the secret key can tie back
    to the battle, its page or its session."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"battle:{battle_id}".encode(), hashlib.sha256).hexdigest()
    return f"{instance_prefix()}-{digest[:20]}"


def _own_records(*, kind, start, end, now: dt.datetime | None = None) -> Iterator[BattleRecord]:
    from arena.models import Vote
    from arena.selectors import battles_public_q

    contenders = _contender_names()
    # Counted, and public under the blind protocol: revealed, or no longer open to votes.
    votes = Vote.objects.filter(counted_battles_q("battle__"), battles_public_q("battle__", vote_path="", now=now))
    if kind:
        votes = votes.filter(battle__contender_a__model__kind=kind)
    if start:
        votes = votes.filter(blind_at__gte=start)
    if end:
        votes = votes.filter(blind_at__lt=end)
    votes = votes.annotate(
        ra=FilteredRelation("battle__responses", condition=Q(battle__responses__side="a")),
        rb=FilteredRelation("battle__responses", condition=Q(battle__responses__side="b")),
    ).order_by("blind_at", "battle_id").values_list(
        "battle_id", "blind_choice", "final_choice", "blind_at", "final_at",
        "battle__contender_a_id", "battle__contender_b_id",
        "ra__joules", "rb__joules", "ra__output_tokens", "rb__output_tokens",
        "ra__energy_source", "rb__energy_source",
    )
    for bid, blind, final, blind_at, final_at, ca, cb, ja, jb, ta, tb, sa, sb in votes.iterator(chunk_size=5000):
        name_a, family_a, kind_a = contenders[ca]
        name_b, family_b, _ = contenders[cb]
        yield BattleRecord(
            key=battle_export_key(bid), kind=kind_a, model_a=name_a, model_b=name_b, family_a=family_a,
            family_b=family_b, winner=blind, tstamp=blind_at.timestamp(), winner_after=final or None,
            tstamp_after=final_at.timestamp() if final and final_at else None, energy_a_j=ja, energy_b_j=jb,
            output_tokens_a=ta, output_tokens_b=tb, energy_source_a=sa or "", energy_source_b=sb or "",
        )


def _imported_records(*, kind, start, end) -> Iterator[BattleRecord]:
    rows = ImportedBattle.objects.all()
    if kind:
        rows = rows.filter(kind=kind)
    if start:
        rows = rows.filter(tstamp__gte=start)
    if end:
        rows = rows.filter(tstamp__lt=end)
    rows = rows.order_by("tstamp", "id").values_list(
        "source_key", "kind", "competitor_a__name", "competitor_b__name", "competitor_a__family",
        "competitor_b__family", "winner", "tstamp", "winner_after", "tstamp_after", "energy_a_j", "energy_b_j",
        "output_tokens_a", "output_tokens_b", "energy_source_a", "energy_source_b",
    )
    for key, k, a, b, fa, fb, w, ts, wa, tsa, ea, eb, ta, tb, sa, sb in rows.iterator(chunk_size=5000):
        yield BattleRecord(
            key=key, kind=k, model_a=a, model_b=b, family_a=fa, family_b=fb, winner=w, tstamp=ts.timestamp(),
            winner_after=wa or None, tstamp_after=tsa.timestamp() if wa and tsa else None, energy_a_j=ea,
            energy_b_j=eb, output_tokens_a=ta, output_tokens_b=tb, energy_source_a=sa, energy_source_b=sb,
        )


def battle_records(
    *, kind: str | None = None, start: dt.datetime | None = None, end: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Iterator[BattleRecord]:
    """Every counted battle with a vote (ours and imported), in time order of the first vote.

    A scan: O(votes). Named-mode battles, battles with an error or an identity leak never appear, nor
    battles still open to votes and not yet revealed (``arena.selectors.battles_public_q`` at ``now``).
    """
    own = _own_records(kind=kind, start=start, end=end, now=now)
    imported = _imported_records(kind=kind, start=start, end=end)
    return heapq.merge(own, imported, key=lambda r: r.tstamp)


def battle_log_lines(records: Iterable[BattleRecord]) -> Iterator[str]:
    for record in records:
        yield json.dumps(record.to_json(), ensure_ascii=False, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------------------------
# Battle log files (FastChat clean-battle format), read without the database


class BattleLogError(ValueError):
    """A malformed battle log; the message names the line (or item) and what is wrong."""


def _number(obj: dict, key: str, *, required: bool = False, minimum: float | None = None) -> float | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ValueError(f'"{key}" is missing')
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f'"{key}" must be a number, not {value!r}')
    if minimum is not None and value < minimum:
        raise ValueError(f'"{key}" must be at least {minimum}, not {value!r}')
    return float(value)


def _text(obj: dict, key: str, *, required: bool = False, limit: int = 200) -> str:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f'"{key}" is missing')
        return ""
    if not isinstance(value, str):
        raise ValueError(f'"{key}" must be a string, not {value!r}')
    if len(value) > limit:
        raise ValueError(f'"{key}" is longer than {limit} characters')
    return value


def _winner(obj: dict, key: str, *, required: bool) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if value not in FROM_FASTCHAT:
        allowed = ", ".join(f'"{w}"' for w in FROM_FASTCHAT)
        raise ValueError(f'"{key}" must be one of {allowed}, not {value!r}')
    return FROM_FASTCHAT[value]


def record_from_json(obj: object, *, default_kind: str = DEFAULT_KIND) -> BattleRecord | None:
    """One battle of a log; None for a named (``"anony": false``) battle, which FastChat leaves out.

    Raises ValueError naming the bad field.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, not {type(obj).__name__}")
    model_a, model_b = _text(obj, "model_a", required=True), _text(obj, "model_b", required=True)
    if model_a == model_b:
        raise ValueError(f'"model_a" and "model_b" are the same ({model_a!r})')
    winner = _winner(obj, "winner", required=True)
    tstamp = _number(obj, "tstamp", required=True)
    if obj.get("anony", True) is False:
        return None
    after = _winner(obj, "winner_after_energy", required=False)
    tokens = []
    for key in ("output_tokens_a", "output_tokens_b"):
        value = _number(obj, key, minimum=0)
        if value is not None and value != int(value):
            raise ValueError(f'"{key}" must be a whole number, not {obj[key]!r}')
        tokens.append(None if value is None else int(value))
    qid = obj.get("question_id")
    if qid is not None and (isinstance(qid, bool) or not isinstance(qid, (str, int))):
        raise ValueError(f'"question_id" must be a string or a number, not {qid!r}')
    return BattleRecord(
        key=str(qid) if qid is not None and str(qid) else "",
        kind=_text(obj, "kind", limit=20) or default_kind,
        model_a=model_a,
        model_b=model_b,
        family_a=_text(obj, "family_a", limit=100),
        family_b=_text(obj, "family_b", limit=100),
        winner=winner,
        tstamp=tstamp,
        winner_after=after,
        tstamp_after=_number(obj, "tstamp_after_energy") if after else None,
        energy_a_j=_number(obj, "energy_a_j", minimum=0),
        energy_b_j=_number(obj, "energy_b_j", minimum=0),
        output_tokens_a=tokens[0],
        output_tokens_b=tokens[1],
        energy_source_a=_text(obj, "energy_source_a", limit=20),
        energy_source_b=_text(obj, "energy_source_b", limit=20),
    )


class BattleLogReader:
    """Iterate the battles of a ``.jsonl`` file (one JSON object per line) or a ``.json`` file
    (a JSON array, as FastChat publishes its clean battle logs).

    Raises :class:`BattleLogError` naming the line of the first malformed battle. Battles marked
    ``"anony": false`` are skipped and counted in ``skipped``. A battle without ``question_id``
    gets a key from its content (and its occurrence number), so a re-import is recognised.
    """

    def __init__(self, path: str | Path, *, default_kind: str = DEFAULT_KIND) -> None:
        self.path = Path(path)
        self.default_kind = default_kind
        self.skipped = 0
        self.read = 0

    def __iter__(self) -> Iterator[BattleRecord]:
        self.skipped = self.read = 0
        seen: Counter = Counter()
        for where, obj in self._objects():
            try:
                record = record_from_json(obj, default_kind=self.default_kind)
            except ValueError as error:
                raise BattleLogError(f"{self.path.name}, {where()}: {error}") from None
            if record is None:
                self.skipped += 1
                continue
            if not record.key:
                digest = hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:32]
                seen[digest] += 1
                record = replace(record, key=f"sha256-{digest}-{seen[digest]}")
            self.read += 1
            yield record

    def _objects(self) -> Iterator[tuple[Callable[[], str], object]]:
        """(where, object) pairs; ``where()`` names the line (worked out only for an error)."""
        try:
            handle = self.path.open(encoding="utf-8")
        except OSError as error:
            raise BattleLogError(f"Cannot read {self.path}: {error.strerror or error}") from None
        with handle:
            first = handle.read(1)
            while first and first.isspace():
                first = handle.read(1)
            if first == "[":
                handle.seek(0)
                yield from self._array(handle.read())
                return
            handle.seek(0)
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as error:
                    raise BattleLogError(f"{self.path.name}, line {number}: not valid JSON ({error})") from None
                yield (lambda number=number: f"line {number}"), obj

    def _array(self, text: str) -> Iterator[tuple[Callable[[], str], object]]:
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise BattleLogError(f"{self.path.name}, line {error.lineno}: not valid JSON ({error.msg})") from None
        if not isinstance(items, list):
            raise BattleLogError(f"{self.path.name}: expected a JSON array of battles, or one battle per line")
        for i, obj in enumerate(items):
            yield (lambda i=i: f"line {_array_item_line(text, i)} (battle {i + 1})"), obj


def _array_item_line(text: str, index: int) -> int:
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    for i in range(index + 1):
        while text[pos].isspace() or text[pos] == ",":
            pos += 1
        if i == index:
            return text.count("\n", 0, pos) + 1
        _, pos = decoder.raw_decode(text, pos)
    return 1
