import random
from collections import Counter

import pytest

from arena.sampling import Candidate, SamplingError, sample_pair


@pytest.fixture
def candidates():
    return [Candidate(1, "x"), Candidate(2, "x"), Candidate(3, "y"), Candidate(4, "z")]


def test_uniform_draws_two_different_contenders_and_every_pair(candidates):
    rng = random.Random(1)
    pairs = Counter()
    for _ in range(3000):
        a, b = sample_pair(candidates, "uniform", rng)
        assert a.id != b.id
        pairs[(a.id, b.id)] += 1
    assert len(pairs) == 12  # every ordered pair: sides are shuffled
    assert max(pairs.values()) / min(pairs.values()) < 1.6


def test_weighted_never_draws_zero_weight_and_favours_heavy(candidates):
    weighted = [Candidate(1, "x", 10.0), Candidate(2, "x", 1.0), Candidate(3, "y", 1.0), Candidate(4, "z", 0.0)]
    rng = random.Random(2)
    seen = Counter()
    for _ in range(2000):
        for c in sample_pair(weighted, "weighted", rng):
            seen[c.id] += 1
    assert seen[4] == 0
    assert seen[1] > 1900  # nearly every battle includes the heavy contender


def test_same_family_pairs_within_a_family(candidates):
    rng = random.Random(3)
    for _ in range(200):
        a, b = sample_pair(candidates, "same-family", rng)
        assert a.family == b.family == "x"


def test_same_family_without_a_family_pair_is_refused():
    with pytest.raises(SamplingError, match="family"):
        sample_pair([Candidate(1, "x"), Candidate(2, "y")], "same-family", random.Random(0))


def test_too_few_contenders_and_unknown_policy_are_refused(candidates):
    with pytest.raises(SamplingError, match="at least two"):
        sample_pair(candidates[:1], "uniform")
    with pytest.raises(SamplingError, match="Unknown"):
        sample_pair(candidates, "alphabetical")
