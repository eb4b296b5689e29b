"""The GEA switch statistics computed vote by vote, as the paper states them (arXiv 2507.13302).

The reference the leaderboard's statistics from counts (``analysis.leaderboard.gea.switch_stats_many``)
are tested against: a Wilson interval per group of votes, per pair of contenders, per family.
Only the tests use it (it moved here from ``analysis/gea.py``), with ``mean_with_ci``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np

from analysis.leaderboard.gea import GeaSums, GeaVote, vote_counts


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


def _proportion_ci(k: int, n: int):
    """Rate and 95% Wilson score interval of k successes out of n votes, written out from the textbook
    formula (Wilson 1927; Newcombe 1998, method 3): p̃ ± z√(p(1-p)/n + z²/4n²) / (1 + z²/n)."""
    if n == 0:
        return None, None, None
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def switch_rate(votes: Iterable[GeaVote]) -> SwitchStats:
    """GEA switch rate towards the less energy-hungry answer, with a Wilson interval, vote by vote.

    Which votes are eligible, and how they count, is ``gea.vote_counts`` (the one rule).
    """
    sums = GeaSums()
    for v in votes:
        sums.add(vote_counts(v) or {})
    rate, lower, upper = _proportion_ci(sums.switched, sums.eligible)
    o_rate, o_lower, o_upper = _proportion_ci(sums.opposite_switched, sums.opposite_eligible)
    return SwitchStats(
        n_eligible=sums.eligible,
        n_switched=sums.switched,
        rate=rate,
        lower=lower,
        upper=upper,
        n_to_tie=sums.to_tie,
        n_to_bothbad=sums.to_bothbad,
        to_tie_or_bothbad_rate=(sums.to_tie + sums.to_bothbad) / sums.eligible if sums.eligible else None,
        opposite_n_eligible=sums.opposite_eligible,
        opposite_n_switched=sums.opposite_switched,
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


def switch_rate_by(votes: Iterable[GeaVote], key: str | Callable[[GeaVote], str | None]) -> dict[str, SwitchStats]:
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
    return {k: switch_rate(groups[k]) for k in sorted(groups)}


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
