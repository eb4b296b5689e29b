"""Generative Energy Arena (GEA, arXiv 2507.13302) switch statistics.

A GEA vote is two choices on the same battle: a blind one, then, after the energy of each answer
is shown, a second one that may keep or change the first. The headline figure is the share of
votes whose blind choice was the answer that used more energy and whose second choice moved to the
answer that used less (about 46% in the paper).

Which votes count, and how (:func:`vote_counts`), is written once here; the leaderboard keeps the
counts per pair of contenders (:class:`GeaSums`) and computes the rates and their 95% Wilson score
intervals from the counts (:func:`switch_stats`). A Wilson interval never leaves [0, 1] and is
never of zero width for a rate of 0 or 1 ("0 of 2 switched" is not "certainly never"), where a
bootstrap of so few votes printed "0% (0–0%)". The same statistics computed vote by vote are the
reference the tests hold these to (``tests/analysis/leaderboard/gea_reference.py``).

Plain Python/numpy, no Django.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from analysis.leaderboard.ratings import Z95
from arena.choices import BOTH_BAD, CHOICES, OTHER_SIDE, TIE
from arena.formatting import energy_about_the_same


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
        """ "more" or "less" when the blind choice was one side and the energies differ (not "about
        the same": arena.formatting.energy_about_the_same, the rule the reveal states), else None."""
        energies = self._energies()
        if energies is None or self.blind not in OTHER_SIDE or self.after is None:
            return None
        ea, eb = energies
        if energy_about_the_same(ea, eb):
            return None
        mine, other = (ea, eb) if self.blind == "a" else (eb, ea)
        return "more" if mine > other else "less"


GEA_FIELDS = ("eligible", "switched", "to_tie", "to_bothbad", "opposite_eligible", "opposite_switched")


def vote_counts(vote: GeaVote) -> dict[str, int] | None:
    """What one vote adds to the switch counts (the fields of :class:`GeaSums`), or None when it is
    not eligible: the blind choice was not a single side, an energy is missing or not finite, the
    energies are about the same, or the second vote is missing.

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


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float | None, float | None, float | None]:
    """The rate ``successes / n`` and its Wilson score interval (95% by default); all None when n is 0."""
    if n <= 0:
        return None, None, None
    rate = successes / n
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denominator
    return rate, max(0.0, centre - half), min(1.0, centre + half)


def switch_stats(sums: GeaSums) -> dict:
    """The switch statistics of a group of votes: counts, rates and 95% Wilson intervals. Rates and
    bounds are None when their denominator is 0."""
    rate, lower, upper = wilson_interval(sums.switched, sums.eligible)
    o_rate, o_lower, o_upper = wilson_interval(sums.opposite_switched, sums.opposite_eligible)
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
