"""Drawing the pair of contenders for a battle. Plain Python: no Django imports."""

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

POLICIES = ("uniform", "weighted", "same-family", "active")

# Share of the active draw spread uniformly over the allowed pairs: every pair keeps at least
# DEFAULT_FLOOR / (number of pairs) probability, whatever the counts say (no pair is starved).
DEFAULT_FLOOR = 0.1
MAX_VARIANCE = 0.25  # the variance of one vote's score (0, ½ or 1) is at most ¼
# With rating estimates, pairs are drawn in proportion to (expected gain)^SHARPNESS: the plain gain
# spreads votes almost uniformly; 4 held up best on bench/sampling.py's held-out seeds (docs/sampling.md).
SHARPNESS = 4.0
_LOGIT_PER_POINT = math.log(10.0) / 400.0  # Bradley-Terry: logit of "a beats b" per rating point
_PRIOR_SD = 400.0  # the leaderboard's default prior (ANALYSIS_PRIOR_SCALE): keeps unplayed contenders finite


class SamplingError(ValueError):
    """Not enough contenders for the policy, or bad sampling inputs; the message is shown to the person."""


@dataclass(frozen=True)
class Candidate:
    id: int
    family: str
    weight: float = 1.0


@dataclass(frozen=True)
class PairStats:
    """What the active policy knows of one pair: counted battles so far, and Σ, the variance of one
    vote's score for side a (a win 1, a tie ½, a loss 0): p(1-p) for a win probability p, at most ¼
    (the default: nothing known, the pair is taken to be even)."""

    battles: int = 0
    variance: float = MAX_VARIANCE
    # the current estimate of rating(a) - rating(b) in rating points, a the pair's smaller id (None: no estimate)
    difference: float | None = None

    @classmethod
    def from_score(cls, battles: int, score: float) -> "PairStats":
        """From the pair's own record: ``score`` is side a's total (a win 1, a tie ½) over ``battles``
        votes. Σ = p(1-p) with p = (score + 1) / (battles + 2), the win rate shrunk towards ½ (a
        uniform prior), so that a pair with a one-sided first vote is not taken as settled."""
        if isinstance(battles, bool) or not isinstance(battles, int) or battles < 0:
            raise SamplingError(f"Battles must be a whole number ≥ 0, not {battles!r}.")
        if not 0.0 <= score <= battles:  # NaN fails too
            raise SamplingError(f"A pair's score must lie in [0, {battles}] (its battles), not {score!r}.")
        return cls(battles, vote_variance((score + 1.0) / (battles + 2.0)))


def pair_key(a: int, b: int) -> tuple[int, int]:
    """The key of an unordered pair in a ``pair_stats`` mapping: the two ids, smaller first."""
    return (a, b) if a < b else (b, a)


def vote_variance(p: float) -> float:
    """Σ of a pair whose side a wins with probability ``p``: the variance p(1-p) of one vote."""
    if not 0.0 <= p <= 1.0:
        raise SamplingError(f"A win probability must lie in [0, 1], not {p!r}.")
    return p * (1.0 - p)


def policy_label(policy: str, same_family: bool = False) -> str:
    """The policy a battle was drawn with, as stored on it: the same-family constraint included."""
    if not same_family:
        return policy
    return "active+same-family" if policy == "active" else "same-family"


def _weighted_choice(candidates: Sequence[Candidate], rng: random.Random) -> Candidate:
    weights = [max(c.weight, 0.0) for c in candidates]
    if sum(weights) <= 0:
        return rng.choice(list(candidates))
    return rng.choices(list(candidates), weights=weights, k=1)[0]


def _checked_stats(stats: object, key: tuple[int, int]) -> PairStats:
    if not isinstance(stats, PairStats):
        raise SamplingError(f"Pair statistics of {key} must be PairStats, not {type(stats).__name__}.")
    battles, variance = stats.battles, stats.variance
    if isinstance(battles, bool) or not isinstance(battles, int) or battles < 0:
        raise SamplingError(f"Pair {key}: battles must be a whole number ≥ 0, not {battles!r}.")
    if not isinstance(variance, int | float) or not 0.0 <= variance <= MAX_VARIANCE:  # NaN fails too
        raise SamplingError(f"Pair {key}: variance must lie in [0, {MAX_VARIANCE}], not {variance!r}.")
    difference = stats.difference
    if difference is not None and (
        isinstance(difference, bool) or not isinstance(difference, int | float) or not math.isfinite(difference)
    ):
        raise SamplingError(f"Pair {key}: the rating difference must be a finite number, not {difference!r}.")
    return stats


def information_gains(
    pairs: Sequence[tuple[int, int]], stats: Mapping[tuple[int, int], PairStats]
) -> list[float]:
    """Per pair, the expected drop in the number of misordered pairs from its next vote (≥ 0).

    The Bradley-Terry fit's Fisher information: a vote on (i, j) with win probability p adds
    p(1-p)·c·cᵀ (c = e_i - e_j, logit scale), plus the leaderboard's prior. Sherman-Morrison gives
    what one more vote on (i, j) takes off Var(R_k - R_l) of every pair (k, l); a pair's order is
    wrong with probability Φ(-|Δ|/sd), and the expected drop of that probability (its knowledge
    gradient, to first order) is φ(|Δ|/sd)·sqrt(drop)/sd, which is largest for near-tied pairs
    whose interval can still shrink. A missing difference counts as 0 (an even pair).
    """
    ids = sorted({side for pair in pairs for side in pair})
    index = {cid: k for k, cid in enumerate(ids)}
    i = np.array([index[a] for a, _ in pairs])
    j = np.array([index[b] for _, b in pairs])
    diff = np.array([(stats[key].difference or 0.0) * _LOGIT_PER_POINT for key in pairs])
    battles = np.array([stats[key].battles for key in pairs], dtype=float)
    p = 1.0 / (1.0 + np.exp(-diff))
    w = p * (1.0 - p)
    information = np.eye(len(ids)) / (_PRIOR_SD * _LOGIT_PER_POINT) ** 2
    np.add.at(information, (i, i), battles * w)
    np.add.at(information, (j, j), battles * w)
    np.add.at(information, (i, j), -battles * w)
    np.add.at(information, (j, i), -battles * w)
    covariance = np.linalg.inv(information)
    u = covariance[:, i] - covariance[:, j]  # C·c of each pair, one column per pair
    cross = u[i, :] - u[j, :]  # [target (k, l), voted (i, j)]: (e_k - e_l)ᵀ·C·(e_i - e_j)
    variance = np.maximum(np.diag(cross), 1e-12)  # Var(R_k - R_l), logit scale
    drop = w * cross**2 / (1.0 + w * variance)  # Sherman-Morrison
    sd = np.sqrt(variance)
    density = np.exp(-0.5 * (np.abs(diff) / sd) ** 2) / math.sqrt(2.0 * math.pi)
    return [float(g) for g in (density / sd) @ np.sqrt(drop)]


def active_probabilities(
    candidates: Sequence[Candidate],
    pair_stats: Mapping[tuple[int, int], PairStats] | None = None,
    *,
    floor: float = DEFAULT_FLOOR,
    same_family: bool = False,
) -> dict[tuple[int, int], float]:
    """The active policy's probability of each allowed pair (keys from :func:`pair_key`); they sum to 1.

    With rating estimates (any pair's ``difference`` set): pairs are drawn in proportion to the
    SHARPNESS-th power of :func:`information_gains`, the expected drop in misordered pairs from
    their next vote; battle counts enter through the Fisher information (docs/sampling.md).

    Without (no leaderboard yet), the Chatbot Arena rule (Chiang et al. 2024, section 5): a pair
    with ``n`` counted battles and vote variance Σ has a win-rate standard error sqrt(Σ/n); the next
    vote on it shrinks that by ``sqrt(Σ/n) - sqrt(Σ/(n+1))``, and pairs are drawn in proportion to
    this expected reduction.
    Under-sampled pairs and even pairs (Σ near ¼, whose order is the least settled) are favoured.
    Pairs never played (n = 0) would have an infinite reduction: they share the active part among
    themselves (in proportion to sqrt Σ) until each has a battle.

    The floor: the result is ``(1 - floor) * active + floor * uniform`` over the allowed pairs, so
    every pair keeps at least ``floor / pairs`` probability and none is starved, even one whose
    statistics are wrong (``floor=1`` is uniform over pairs). With ``same_family`` only pairs of two
    contenders of one family are allowed. Unknown pairs in ``pair_stats`` are ignored (contenders that
    are not ready now); pairs missing from it count as never played.
    """
    if isinstance(floor, bool) or not isinstance(floor, int | float) or not 0.0 <= floor <= 1.0:
        raise SamplingError(f"The active sampling floor must lie in [0, 1], not {floor!r}.")
    if len(candidates) < 2:
        raise SamplingError("The arena needs at least two ready contenders; none can battle right now.")
    ids = [c.id for c in candidates]
    if len(set(ids)) != len(ids):
        raise SamplingError("Each contender may appear only once among the candidates.")
    pair_stats = {} if pair_stats is None else pair_stats
    if not isinstance(pair_stats, Mapping):
        raise SamplingError(f"Pair statistics must be a mapping of pairs, not {type(pair_stats).__name__}.")
    pairs = [
        pair_key(a.id, b.id)
        for i, a in enumerate(candidates)
        for b in candidates[i + 1 :]
        if not same_family or a.family == b.family
    ]
    if not pairs:
        raise SamplingError("No model family has two ready contenders for a same-family battle.")
    stats = {key: _checked_stats(pair_stats.get(key, PairStats()), key) for key in pairs}
    unplayed = {key for key in pairs if stats[key].battles == 0}
    if any(s.difference is not None for s in stats.values()):  # rating estimates: the information rule
        gain = dict(zip(pairs, (g**SHARPNESS for g in information_gains(pairs, stats)), strict=True))
    elif unplayed:  # an infinite reduction: the unplayed pairs share the active part
        gain = {key: math.sqrt(stats[key].variance) if key in unplayed else 0.0 for key in pairs}
        if sum(gain.values()) <= 0:  # all known to be one-sided: share evenly
            gain = {key: float(key in unplayed) for key in pairs}
    else:
        gain = {
            key: math.sqrt(s.variance) * (1.0 / math.sqrt(s.battles) - 1.0 / math.sqrt(s.battles + 1))
            for key, s in stats.items()
        }
    total = sum(gain.values())
    uniform = 1.0 / len(pairs)
    if total <= 0:  # every Σ is 0: nothing to learn anywhere, draw uniformly
        return dict.fromkeys(pairs, uniform)
    return {key: (1.0 - floor) * gain[key] / total + floor * uniform for key in pairs}


def sample_pair(
    candidates: Sequence[Candidate],
    policy: str,
    rng: random.Random | None = None,
    *,
    pair_stats: Mapping[tuple[int, int], PairStats] | None = None,
    floor: float = DEFAULT_FLOOR,
    same_family: bool = False,
) -> tuple[Candidate, Candidate]:
    """Two different contenders, sides shuffled.

    uniform: every pair equally likely. weighted: each side drawn in proportion to its weight.
    same-family: the GEA setting, two contenders of one family (differing in size, precision or
    decoding); a family is drawn uniformly among those with two or more contenders.
    active: the pair whose next vote is expected to shrink the intervals most is favoured, from
    ``pair_stats`` (counted battles and vote variance per pair, see :func:`active_probabilities`),
    with a uniform ``floor`` so that no pair is starved; weights are not used (as in uniform).

    ``same_family=True`` restricts any policy to pairs within one family: active draws among the
    same-family pairs only; uniform and weighted become the same-family policy.
    """
    rng = rng or random.Random()
    if policy not in POLICIES:
        raise SamplingError(f"Unknown sampling policy '{policy}' (known: {', '.join(POLICIES)}).")
    if len(candidates) < 2:
        raise SamplingError("The arena needs at least two ready contenders; none can battle right now.")
    if same_family and policy != "active":
        policy = "same-family"
    if policy == "active":
        probabilities = active_probabilities(candidates, pair_stats, floor=floor, same_family=same_family)
        by_id = {c.id: c for c in candidates}
        keys = list(probabilities)
        a_id, b_id = rng.choices(keys, weights=[probabilities[k] for k in keys], k=1)[0]
        first, second = by_id[a_id], by_id[b_id]
    elif policy == "uniform":
        first, second = rng.sample(list(candidates), 2)
    else:
        pool = list(candidates)
        if policy == "same-family":
            families: dict[str, list[Candidate]] = {}
            for candidate in candidates:
                families.setdefault(candidate.family, []).append(candidate)
            eligible = sorted(name for name, members in families.items() if len(members) >= 2)
            if not eligible:
                raise SamplingError("No model family has two ready contenders for a same-family battle.")
            pool = families[rng.choice(eligible)]
        first = _weighted_choice(pool, rng)
        second = _weighted_choice([c for c in pool if c.id != first.id], rng)
    if rng.random() < 0.5:
        first, second = second, first
    return first, second
