"""A board of one kind, computed from its inputs: both ladders (Bradley-Terry with bootstrap
intervals and ranks, online Elo), rank changes, win-rate and battle-count matrices, energy per
contender, the GEA switch statistics, the summary in plain words (``summary.board_summary``), and
the figures.

Plain Python/numpy, no Django. The inputs come from the running aggregates
(``selectors.board_inputs_from_tables``) or from individual battles (:func:`board_inputs_from_records`:
a scan of the database, or a battle log file); both carry the same numbers when nothing is filtered
(tested), so the board of a log exported from the database equals the board of the database.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from analysis.jsonsafe import json_float
from analysis.leaderboard import gea
from analysis.leaderboard.contextual import ContextRow, energy_price, style_control
from analysis.leaderboard.figures import figures_build
from analysis.leaderboard.ratings import (
    Z95,
    PairCounts,
    battle_count_matrix,
    leaderboard,
    online_elo,
    prior_reg,
    win_rate_matrix,
)
from analysis.leaderboard.reveal import RevealVote, reveal_analysis
from analysis.leaderboard.summary import board_summary
from arena.choices import BLIND, ENERGY, LADDERS
from arena.formatting import energy_shown
from arena.reveal import shows_energy

if TYPE_CHECKING:
    from analysis.leaderboard.battle_log import BattleRecord



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


@dataclass
class BoardInputs:
    """Everything a board of one kind is computed from (all keyed by competitor name)."""

    kind: str
    families: dict[str, str] = field(default_factory=dict)
    pairs: dict[str, list[tuple[str, str, str, int]]] = field(default_factory=lambda: {lad: [] for lad in LADDERS})
    elo: dict[str, dict[str, float]] = field(default_factory=lambda: {lad: {} for lad in LADDERS})
    energy: dict[str, EnergySums] = field(default_factory=dict)
    gea: dict[tuple[str, str], gea.GeaSums] = field(default_factory=dict)
    # per-battle features for style control and the price of energy; None = not loaded (the board
    # then has no "style_control"/"energy_price" sections)
    contexts: list[ContextRow] | None = None

    def names(self) -> list[str]:
        found = set(self.energy)
        for ladder in LADDERS:
            found.update(self.elo[ladder])
            for a, b, _, _ in self.pairs[ladder]:
                found.update((a, b))
        return sorted(found)


def board_inputs_from_records(records: Iterable[BattleRecord], *, kind: str | None = None) -> dict[str, BoardInputs]:
    """Aggregate individual battles, by kind. Online Elo runs in time order (ties: input order).
    Each battle is also kept as a :class:`ContextRow` (``contexts``), for style control and the
    price of energy."""
    inputs: dict[str, BoardInputs] = {}
    tallies: dict[str, Counter] = {}
    sequences: dict[str, dict[str, list]] = {}
    for i, r in enumerate(records):
        if kind is not None and r.kind != kind:
            continue
        inp = inputs.get(r.kind)
        if inp is None:
            inp = inputs[r.kind] = BoardInputs(r.kind, contexts=[])
            tallies[r.kind] = Counter()
            sequences[r.kind] = {lad: [] for lad in LADDERS}
        for name, family in ((r.model_a, r.family_a), (r.model_b, r.family_b)):
            if family or name not in inp.families:
                inp.families[name] = family or ""
        inp.contexts.append(ContextRow(
            r.model_a, r.model_b, r.winner, r.winner_after, r.output_tokens_a, r.output_tokens_b,
            r.headers_a, r.headers_b, r.lists_a, r.lists_b, r.bold_a, r.bold_b, r.energy_a_j, r.energy_b_j, r.reveal,
        ))
        tally, seq = tallies[r.kind], sequences[r.kind]
        tally[(BLIND, r.model_a, r.model_b, r.winner)] += 1
        seq[BLIND].append((r.tstamp, i, r.model_a, r.model_b, r.winner))
        sides = ((r.model_a, r.energy_a_j, r.output_tokens_a), (r.model_b, r.energy_b_j, r.output_tokens_b))
        for name, joules, tokens in sides:
            if EnergySums.deltas(joules, tokens) is not None:
                inp.energy.setdefault(name, EnergySums()).add(joules, tokens)
        if r.winner_after and energy_shown(r.energy_a_j, r.energy_b_j) and shows_energy(r.reveal):
            tally[(ENERGY, r.model_a, r.model_b, r.winner_after)] += 1
            when = r.tstamp_after if r.tstamp_after is not None else r.tstamp
            seq[ENERGY].append((when, i, r.model_a, r.model_b, r.winner_after))
            deltas = gea.vote_counts(r.gea_vote())
            if deltas:
                inp.gea.setdefault(tuple(sorted((r.model_a, r.model_b))), gea.GeaSums()).add(deltas)
    for k, inp in inputs.items():
        for (ladder, a, b, outcome), count in sorted(tallies[k].items()):
            inp.pairs[ladder].append((a, b, outcome, count))
        for ladder in LADDERS:
            battles = sorted(sequences[k][ladder], key=lambda row: (row[0], row[1]))
            names = sorted({n for row in battles for n in row[2:4]})
            inp.elo[ladder] = online_elo(((a, b, w) for _, _, a, b, w in battles), names) if names else {}
    return inputs


# ---------------------------------------------------------------------------------------------
# The board


def mean_ci_from_sums(n: int, total: float, sq_total: float) -> tuple[float | None, float | None, float | None]:
    """Mean and 95% interval from a count, sum and sum of squares of positive values (energies).

    The interval is taken on the log scale (the delta method: mean ÷ and × exp(1.96 · SE / mean)),
    so it never goes below zero and is close to mean ± 1.96 SE when the SE is small against the
    mean. One value gives no interval (None bounds); no value gives (None, None, None).
    """
    if n <= 0:
        return None, None, None
    mean = total / n
    if n < 2 or mean <= 0:
        return mean, None, None
    variance = max(sq_total - n * mean * mean, 0.0) / (n - 1)
    factor = math.exp(Z95 * math.sqrt(variance / n) / mean)
    return mean, mean / factor, mean * factor


def _round(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(float(x), digits)


def _matrix(m: np.ndarray, order: list[int], digits: int | None = None) -> list[list]:
    out = []
    for i in order:
        row = []
        for j in order:
            v = json_float(m[i, j])
            row.append(None if v is None else (int(v) if digits is None else round(v, digits)))
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


def _fit_key(counts: PairCounts, rounds: int, seed: int, prior: float = 0.0, provisional: int = 0) -> str:
    """Fingerprint of a fit's inputs: equal keys give equal ratings, intervals and ranks."""
    digest = hashlib.sha256(json.dumps([counts.names, rounds, seed, float(prior), int(provisional)]).encode())
    for array in (counts.a_idx, counts.b_idx, counts.outcome, counts.count):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.hexdigest()



def board_compute(
    inputs: BoardInputs,
    *,
    rounds: int,
    seed: int = 0,
    figures: bool = True,
    previous: dict | None = None,
    prior: float = 0.0,
    provisional: int = 0,
) -> dict:
    """One kind's leaderboard: both ladders (Bradley-Terry with ``rounds`` bootstrap rounds for the
    intervals and ranks, online Elo), rank changes, win-rate and battle-count matrices, energy per
    contender, GEA statistics, and plotly figures. JSON-serialisable. Cost: O(contenders²) per
    bootstrap round.

    With ``previous`` (the last board of this kind), results whose inputs did not change are
    taken from it instead of being recomputed: a ladder whose pair-outcome counts are the same (a
    vote moves one ladder at a time). Fits are deterministic functions of their inputs, so the
    board is the same as a full computation. (The GEA statistics are closed-form: always computed.)

    ``prior``: the scale (rating points) of the Gaussian prior of the Bradley-Terry fits, 0 for
    FastChat's maximum likelihood; ``provisional``: contenders with fewer battles than this in a
    ladder are provisional there (marked, and ranked after the others; see ``ratings.leaderboard``).
    """
    prior_reg(prior)  # a negative or non-finite scale raises ValueError before anything is computed
    names = inputs.names()
    families = {name: inputs.families.get(name, "") for name in names}
    previous = previous or {}
    ladders, matrices = {}, {}
    for ladder in LADDERS:
        before = previous.get("ladders", {}).get(ladder) or {}
        ladders[ladder], matrices[ladder] = _ladder(
            inputs, ladder, names, families, rounds, seed, before, prior=prior, provisional=provisional
        )
    # one order for every table and figure: the blind ladder's
    order_names = [row["name"] for row in ladders[BLIND]["rows"]]
    index = {name: i for i, name in enumerate(names)}
    order = [index[name] for name in order_names]
    board = {
        "kind": inputs.kind,
        "rounds": rounds,
        "prior": float(prior),
        "provisional_battles": int(provisional),
        "names": order_names,
        "ladders": ladders,
        "side_by_side": _side_by_side(ladders, order_names, families),
        "energy": [_energy_row(name, families[name], inputs.energy.get(name)) for name in order_names],
        "gea": _gea_stats(inputs.gea, families),
        "matrices": {
            ladder: {
                "names": order_names,
                "win_rate": _matrix(matrices[ladder][0], order, 4),
                "battles": _matrix(matrices[ladder][1], order),
            }
            for ladder in LADDERS
        },
    }
    if inputs.contexts is not None:
        started = time.perf_counter()
        key = _contexts_key(inputs.contexts, prior, provisional)
        if (previous.get("contextual") or {}).get("key") == key and all(k in previous for k in CONTEXTUAL_KEYS):
            board |= {k: previous[k] for k in CONTEXTUAL_KEYS if k in previous}
        else:
            board |= _contextual(inputs.contexts, names, families, prior=prior, provisional=provisional)
            # when and at what cost, so a refit can space out these per-battle fits at scale
            board["contextual"] = {
                "key": key, "battles": len(inputs.contexts), "computed_at": time.time(),
                "seconds": time.perf_counter() - started,
            }
    board["summary"] = board_summary(board)
    if figures:
        board["figures"] = figures_build(board)
    return board


# the per-battle sections of a board
CONTEXTUAL_KEYS = ("style_control", "energy_price", "reveal_conditions", "contextual")


def _contexts_key(contexts: list[ContextRow], prior: float, provisional: int) -> str:
    """Fingerprint of the per-battle fits' inputs (in chunks: a million rows are one long text)."""
    digest = hashlib.sha256(json.dumps([float(prior), int(provisional), len(contexts)]).encode())
    for start in range(0, len(contexts), 10_000):
        digest.update(repr(contexts[start : start + 10_000]).encode())
    return digest.hexdigest()


def _contextual(
    contexts: list[ContextRow], names: list[str], families: dict[str, str], *, prior: float, provisional: int
) -> dict:
    """The style-controlled ladders and the price of energy (see ``contextual``). The caller reuses a
    previous board's instead when the battles' digest is unchanged (the fits take seconds at a million
    battles)."""
    # contenders of the battles are the board's; the union only guards against a partial input
    names = sorted(set(names).union(map(attrgetter("model_a"), contexts), map(attrgetter("model_b"), contexts)))
    style = {}
    for ladder in LADDERS:
        style[ladder] = style_control(contexts, names, ladder=ladder, prior=prior, provisional=provisional)
        for row in style[ladder]["rows"]:
            row["family"] = families.get(row["name"], "")
            row["elo"] = None  # online Elo has no style control
    reveal = reveal_analysis(
        RevealVote(r.reveal, r.winner, r.winner_after, r.energy_a_j, r.energy_b_j) for r in contexts
    )
    return {
        "style_control": style, "energy_price": energy_price(contexts, names, families, prior=prior),
        "reveal_conditions": reveal,
    }


def board_style_view(board: dict) -> dict | None:
    """The board with both ladders replaced by their style-controlled fits (the same row fields;
    each ladder also carries its ``coefficients`` and ``left_out``) and ``"view": "style"``, or
    None when the board has no style control. Everything else (energy, GEA, matrices, figures) is
    the plain board's."""
    style = board.get("style_control")
    if not style:
        return None
    ladders = {
        ladder: {
            **{k: v for k, v in board["ladders"][ladder].items() if k != "fit_key"},
            **{k: style[ladder][k] for k in ("battles", "rows", "coefficients", "left_out")},
        }
        for ladder in LADDERS
    }
    order = [row["name"] for row in ladders[BLIND]["rows"]]
    families = {row["name"]: row["family"] for row in ladders[BLIND]["rows"]}
    view = {**board, "view": "style", "ladders": ladders, "side_by_side": _side_by_side(ladders, order, families)}
    return view | {"summary": board_summary(view)}


def board_empty(kind: str, *, figures: bool = True) -> dict:
    return board_compute(BoardInputs(kind), rounds=0, figures=figures)


def _ladder(
    inputs: BoardInputs, ladder: str, names: list[str], families: dict[str, str], rounds: int, seed: int,
    before: dict,
    *,
    prior: float = 0.0,
    provisional: int = 0,
) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
    """One ladder (its rows taken from ``before``, the previous board's, when the fit's inputs are
    the same), and its win-rate and battle-count matrices (in ``names`` order)."""
    counts = PairCounts.from_rows(names, inputs.pairs[ladder])
    key = _fit_key(counts, rounds, seed, prior, provisional)
    if before.get("fit_key") == key:
        rows = [dict(row) for row in before["rows"]]
    else:
        rows = (
            leaderboard(counts, rounds=rounds, seed=seed, prior=prior, provisional=provisional) if names else []
        )
    for row in rows:
        row["family"] = families[row["name"]]
        elo = inputs.elo[ladder].get(row["name"])
        row["elo"] = _round(elo) if row["battles"] else None
    ladder_data = {"battles": counts.total, "rows": rows, "fit_key": key}
    return ladder_data, (win_rate_matrix(counts), battle_count_matrix(counts))


def _side_by_side(ladders: dict, order_names: list[str], families: dict[str, str]) -> list[dict]:
    """Each contender's rows of both ladders, and how many places the energy reveal moved it up."""
    by_name = {ladder: {row["name"]: row for row in ladders[ladder]["rows"]} for ladder in LADDERS}
    out = []
    for name in order_names:
        blind, energy = by_name[BLIND][name], by_name[ENERGY][name]
        change = blind["rank"] - energy["rank"] if blind["rank"] and energy["rank"] else None
        out.append({"name": name, "family": families[name], "blind": blind, "energy": energy, "rank_change": change})
    return out


def _gea_stats(pair_sums: dict[tuple[str, str], gea.GeaSums], families: dict[str, str]) -> dict:
    """The switch statistics overall, per pair, and per family (both sides of the same family)."""
    overall, by_family = gea.GeaSums(), {}
    for (a, b), sums in pair_sums.items():
        overall.add(sums)
        if families.get(a) and families.get(a) == families.get(b):
            by_family.setdefault(families[a], gea.GeaSums()).add(sums)
    return {
        "interval": "95% Wilson score",
        "overall": gea.switch_stats(overall),
        "by_pair": {f"{a} vs {b}": gea.switch_stats(sums) for (a, b), sums in sorted(pair_sums.items())},
        "by_family": {family: gea.switch_stats(sums) for family, sums in sorted(by_family.items())},
    }
