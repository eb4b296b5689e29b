"""Drawing the pair of contenders for a battle. Plain Python: no Django imports."""

import random
from collections.abc import Sequence
from dataclasses import dataclass

POLICIES = ("uniform", "weighted", "same-family")


class SamplingError(ValueError):
    """Not enough contenders for the policy; the message is shown to the person."""


@dataclass(frozen=True)
class Candidate:
    id: int
    family: str
    weight: float = 1.0


def _weighted_choice(candidates: Sequence[Candidate], rng: random.Random) -> Candidate:
    weights = [max(c.weight, 0.0) for c in candidates]
    if sum(weights) <= 0:
        return rng.choice(list(candidates))
    return rng.choices(list(candidates), weights=weights, k=1)[0]


def sample_pair(
    candidates: Sequence[Candidate], policy: str, rng: random.Random | None = None
) -> tuple[Candidate, Candidate]:
    """Two different contenders, sides shuffled.

    uniform: every pair equally likely. weighted: each side drawn in proportion to its weight.
    same-family: the GEA setting, two contenders of one family (differing in size, precision or
    decoding); a family is drawn uniformly among those with two or more contenders.
    """
    rng = rng or random.Random()
    if policy not in POLICIES:
        raise SamplingError(f"Unknown sampling policy '{policy}' (known: {', '.join(POLICIES)}).")
    if len(candidates) < 2:
        raise SamplingError("The arena needs at least two ready contenders; none can battle right now.")
    if policy == "uniform":
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
