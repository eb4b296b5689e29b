"""Generative Energy Arena (GEA, arXiv 2507.13302) switch statistics.

A GEA vote is two choices on the same battle: a blind one, then, after the energy of each answer
is shown, a second one that may keep or change the first. The headline figure is the share of
votes whose blind choice was the answer that used more energy and whose second choice moved to the
answer that used less (about 46% in the paper).

Plain Python/numpy, no Django.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np

from arena.choices import CHOICES, OTHER_SIDE


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


@dataclass(frozen=True)
class SwitchStats:
    """Switch statistics over a set of votes.

    Main direction ("eligible"): blind choice = the side that used strictly more energy;
    ``n_switched`` moved to the other side. ``n_to_tie``/``n_to_bothbad`` moved to "tie" or
    "both bad" instead (not counted as switches). Opposite direction: blind choice = the side
    that used less energy; ``opposite_n_switched`` moved to the more energy-hungry side.
    Rates and bounds are None when their denominator is 0.
    """

    n_eligible: int
    n_switched: int
    rate: float | None
    lower: float | None
    upper: float | None
    n_to_tie: int
    n_to_bothbad: int
    to_tie_or_bothbad_rate: float | None
    opposite_n_eligible: int
    opposite_n_switched: int
    opposite_rate: float | None
    opposite_lower: float | None
    opposite_upper: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def _proportion_ci(k: int, n: int, rng: np.random.Generator, rounds: int):
    """Rate and 95% percentile-bootstrap interval of k successes out of n votes.

    Resampling n votes with replacement and counting successes is exactly a Binomial(n, k/n)
    draw, so we draw that directly instead of materialising rounds x n indices.
    """
    if n == 0:
        return None, None, None
    rate = k / n
    boot = rng.binomial(n, rate, size=rounds) / n
    lower, upper = np.percentile(boot, [2.5, 97.5])
    return rate, float(lower), float(upper)


def switch_rate(votes: Iterable[GeaVote], seed: int = 0, rounds: int = 1000) -> SwitchStats:
    """GEA switch rate towards the less energy-hungry answer, with a seeded bootstrap CI.

    Votes are ineligible when the blind choice was not a single side, when an energy is missing
    or not finite, when both energies are equal, or when the second vote is missing.
    """
    n_elig = n_sw = n_tie = n_bad = 0
    n_opp = n_opp_sw = 0
    for v in votes:
        side = v.blind_side_energy()
        if side is None:
            continue
        switched = v.after == OTHER_SIDE[v.blind]
        if side == "more":
            n_elig += 1
            n_sw += switched
            n_tie += v.after == "tie"
            n_bad += v.after == "bothbad"
        else:
            n_opp += 1
            n_opp_sw += switched
    rng = np.random.default_rng(seed)
    rate, lower, upper = _proportion_ci(n_sw, n_elig, rng, rounds)
    o_rate, o_lower, o_upper = _proportion_ci(n_opp_sw, n_opp, rng, rounds)
    return SwitchStats(
        n_eligible=n_elig,
        n_switched=n_sw,
        rate=rate,
        lower=lower,
        upper=upper,
        n_to_tie=n_tie,
        n_to_bothbad=n_bad,
        to_tie_or_bothbad_rate=(n_tie + n_bad) / n_elig if n_elig else None,
        opposite_n_eligible=n_opp,
        opposite_n_switched=n_opp_sw,
        opposite_rate=o_rate,
        opposite_lower=o_lower,
        opposite_upper=o_upper,
    )


def _pair_key(v: GeaVote) -> str | None:
    first, second = sorted((v.contender_a, v.contender_b))
    return f"{first} vs {second}"


def _family_key(v: GeaVote) -> str | None:
    # within-family comparisons only: the GEA "larger vs smaller model of the same family" setting
    if v.family_a is not None and v.family_a == v.family_b:
        return v.family_a
    return None


_KEYS: dict[str, Callable[[GeaVote], str | None]] = {"pair": _pair_key, "family": _family_key}


def switch_rate_by(
    votes: Iterable[GeaVote],
    key: str | Callable[[GeaVote], str | None],
    seed: int = 0,
    rounds: int = 1000,
) -> dict[str, SwitchStats]:
    """:func:`switch_rate` per group, sorted by group name.

    ``key="pair"``: "A vs B" with the names sorted; ``key="family"``: only votes where both sides
    are of the same family, keyed by that family. A callable returning None drops the vote.
    """
    key_fn = _KEYS[key] if isinstance(key, str) else key
    groups: dict[str, list[GeaVote]] = {}
    for v in votes:
        k = key_fn(v)
        if k is not None:
            groups.setdefault(k, []).append(v)
    return {k: switch_rate(groups[k], seed=seed, rounds=rounds) for k in sorted(groups)}


def mean_with_ci(
    values: Iterable[float | None], seed: int = 0, rounds: int = 1000
) -> tuple[float | None, float | None, float | None]:
    """Mean and 95% percentile-bootstrap interval; None and non-finite values are skipped.

    Returns ``(None, None, None)`` when no value is left (JSON-friendly, no NaN).
    """
    x = np.array([float(v) for v in values if v is not None], dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return None, None, None
    mean = float(x.mean())
    rng = np.random.default_rng(seed)
    # chunk the resampling so that rounds x n indices never all sit in memory
    chunk = max(1, 2_000_000 // len(x))
    means = []
    for start in range(0, rounds, chunk):
        size = min(chunk, rounds - start)
        means.append(x[rng.integers(0, len(x), size=(size, len(x)))].mean(axis=1))
    if not means:
        return mean, mean, mean
    lower, upper = np.percentile(np.concatenate(means), [2.5, 97.5])
    return mean, float(lower), float(upper)
