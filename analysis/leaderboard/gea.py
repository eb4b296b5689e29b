"""Generative Energy Arena (GEA, arXiv 2507.13302) switch statistics.

A GEA vote is two choices on the same battle: a blind one, then, after the energy of each answer
is shown, a second one that may keep or change the first. The headline figure is the share of
votes whose blind choice was the answer that used more energy and whose second choice moved to the
answer that used less (about 46% in the paper).

Which votes count, and how (:func:`vote_counts`), is written once here; the leaderboard keeps the
counts per pair of contenders (:class:`GeaSums`) and draws the intervals from the counts
(:func:`switch_stats_many`). The same statistics computed vote by vote, as the paper states them,
are the reference the tests hold these to (``tests/analysis/leaderboard/gea_reference.py``).

Plain Python/numpy, no Django.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from arena.choices import BOTH_BAD, CHOICES, OTHER_SIDE, TIE


@dataclass(frozen=True)
class GeaVote:
    """One battle's two votes. ``after`` is None when the second vote was not cast."""

    contender_a: str
    contender_b: str
    family_a: str | None
    family_b: str | None
    energy_a_j: float | None
    energy_b_j: float | None
    blind: str
    after: str | None

    def __post_init__(self):
        if self.blind not in CHOICES:
            raise ValueError(f"blind must be one of {CHOICES}, not {self.blind!r}")
        if self.after is not None and self.after not in CHOICES:
            raise ValueError(f"after must be one of {CHOICES} or None, not {self.after!r}")

    def _energies(self) -> tuple[float, float] | None:
        """Both energies when known and finite, else None."""
        try:
            ea, eb = float(self.energy_a_j), float(self.energy_b_j)
        except (TypeError, ValueError):
            return None
        if not (math.isfinite(ea) and math.isfinite(eb)):
            return None
        return ea, eb

    def blind_side_energy(self) -> str | None:
        """ "more" or "less" when the blind choice was one side and energies differ, else None."""
        energies = self._energies()
        if energies is None or self.blind not in OTHER_SIDE or self.after is None:
            return None
        ea, eb = energies
        if ea == eb:
            return None
        mine, other = (ea, eb) if self.blind == "a" else (eb, ea)
        return "more" if mine > other else "less"


GEA_FIELDS = ("eligible", "switched", "to_tie", "to_bothbad", "opposite_eligible", "opposite_switched")
GEA_ROUNDS = 1000


def vote_counts(vote: GeaVote) -> dict[str, int] | None:
    """What one vote adds to the switch counts (the fields of :class:`GeaSums`), or None when it is
    not eligible: the blind choice was not a single side, an energy is missing or not finite, both
    energies are equal, or the second vote is missing.

    Main direction ("eligible"): the blind choice used strictly more energy; "switched" moved to
    the other side, "to_tie"/"to_bothbad" moved to "tie" or "both bad" instead (not switches).
    Opposite direction: the blind choice used less energy; "switched" moved to the hungrier side.
    """
    side = vote.blind_side_energy()
    if side is None:
        return None
    switched = vote.after == OTHER_SIDE[vote.blind]
    if side == "more":
        return {
            "eligible": 1,
            "switched": int(switched),
            "to_tie": int(vote.after == TIE),
            "to_bothbad": int(vote.after == BOTH_BAD),
        }
    return {"opposite_eligible": 1, "opposite_switched": int(switched)}


@dataclass
class GeaSums:
    """The switch counts of a group of votes (:func:`vote_counts` added up)."""

    eligible: int = 0
    switched: int = 0
    to_tie: int = 0
    to_bothbad: int = 0
    opposite_eligible: int = 0
    opposite_switched: int = 0

    def add(self, other: GeaSums | dict) -> None:
        items = other.items() if isinstance(other, dict) else ((f, getattr(other, f)) for f in GEA_FIELDS)
        for name, value in items:
            setattr(self, name, getattr(self, name) + value)

    def key(self) -> tuple:
        return tuple(getattr(self, f) for f in GEA_FIELDS)


def stats_key(stats: dict) -> tuple:
    """:meth:`GeaSums.key` of the counts behind one result of :func:`switch_stats_many`."""
    return tuple(stats[k] for k in (
        "n_eligible", "n_switched", "n_to_tie", "n_to_bothbad", "opposite_n_eligible", "opposite_n_switched"
    ))


def switch_stats_many(
    groups: list[GeaSums], *, seed: int = 0, rounds: int = GEA_ROUNDS, memo: dict | None = None
) -> list[dict]:
    """The switch statistics of each group: counts, rates and 95% percentile-bootstrap intervals.

    Resampling a group's n votes with replacement and counting successes is exactly a
    Binomial(n, k/n) draw, so that is what is drawn. Each group draws from its own generator
    seeded with ``seed``: the main direction first (only when it has votes), then the opposite
    one, so the figures of a group do not depend on the other groups and equal a vote-by-vote
    bootstrap of the same votes (tested). The percentiles of all groups are taken in one call (row
    by row, the same values), which keeps a leaderboard of 1,000+ pairs fast. Rates and bounds are
    None when their denominator is 0. ``memo`` maps :meth:`GeaSums.key` tuples to results already
    computed with the same seed and rounds.
    """
    memo = memo or {}
    todo: list[tuple[np.random.Generator, int, float]] = []
    slots: list[list[int | None] | None] = []
    for sums in groups:
        if sums.key() in memo:
            slots.append(None)
            continue
        rng = np.random.default_rng(seed)
        slot: list[int | None] = []
        for k, n in _directions(sums):
            if n == 0:
                slot.append(None)
                continue
            slot.append(len(todo))
            todo.append((rng, n, k / n))
        slots.append(slot)
    bounds = _bootstrap_bounds(todo, rounds)
    out = []
    for sums, slot in zip(groups, slots, strict=True):
        if slot is None:
            out.append(dict(memo[sums.key()]))
            continue
        ci = []
        for (k, n), row in zip(_directions(sums), slot, strict=True):
            if row is None:
                ci.append((None, None, None))
            elif bounds is None:
                ci.append((k / n, k / n, k / n))
            else:
                ci.append((k / n, float(bounds[0, row]), float(bounds[1, row])))
        out.append(_stats(sums, *ci))
    return out


def _directions(sums: GeaSums) -> tuple[tuple[int, int], tuple[int, int]]:
    """(successes, votes) of the main direction, then of the opposite one."""
    return (sums.switched, sums.eligible), (sums.opposite_switched, sums.opposite_eligible)


def _bootstrap_bounds(todo: list[tuple[np.random.Generator, int, float]], rounds: int) -> np.ndarray | None:
    """2.5th and 97.5th percentiles (2 x len(todo)) of ``rounds`` binomial draws per (rng, n, rate) row."""
    if not todo or rounds <= 0:
        return None
    draws = np.empty((len(todo), rounds))
    for row, (rng, n, rate) in enumerate(todo):
        draws[row] = rng.binomial(n, rate, size=rounds)
    draws /= np.array([n for _, n, _ in todo], dtype=np.float64)[:, None]
    return np.percentile(draws, [2.5, 97.5], axis=1, overwrite_input=True)


def _stats(sums: GeaSums, main: tuple, opposite: tuple) -> dict:
    """One group's result (built directly as a dict: dataclasses.asdict is slow for 1,000+ groups)."""
    (rate, lower, upper), (o_rate, o_lower, o_upper) = main, opposite
    return {
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
    }
