import random
from collections import Counter

import pytest

from arena.sampling import (
    DEFAULT_FLOOR,
    Candidate,
    PairStats,
    SamplingError,
    active_probabilities,
    information_gains,
    pair_key,
    sample_pair,
)


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


# --- active -----------------------------------------------------------------------------------


def _pair_counts(candidates, policy, rng, draws, **kwargs):
    pairs = Counter()
    for _ in range(draws):
        a, b = sample_pair(candidates, policy, rng, **kwargs)
        assert a.id != b.id
        pairs[pair_key(a.id, b.id)] += 1
    return pairs


def test_active_prefers_under_sampled_pairs(candidates):
    # (1, 2) has 2 battles, every other pair 50: the next vote on (1, 2) shrinks its interval most
    stats = {pair_key(a.id, b.id): PairStats(50) for a in candidates for b in candidates if a.id < b.id}
    stats[(1, 2)] = PairStats(2)
    pairs = _pair_counts(candidates, "active", random.Random(4), 3000, pair_stats=stats)
    assert pairs[(1, 2)] > 0.6 * 3000
    assert all(pairs[key] > 0 for key in stats)  # the floor: nobody starved


def test_active_prefers_uncertain_pairs_at_equal_counts(candidates):
    # same counts; (3, 4) is an even pair (Σ = ¼), the others one-sided (p = 0.95)
    stats = {pair_key(a.id, b.id): PairStats(20, 0.95 * 0.05) for a in candidates for b in candidates if a.id < b.id}
    stats[(3, 4)] = PairStats(20, 0.25)
    pairs = _pair_counts(candidates, "active", random.Random(5), 4000, pair_stats=stats)
    others = [count for key, count in pairs.items() if key != (3, 4)]
    assert pairs[(3, 4)] > 1.8 * max(others)


def test_active_plays_unplayed_pairs_first(candidates):
    stats = {pair_key(a.id, b.id): PairStats(10) for a in candidates for b in candidates if a.id < b.id}
    del stats[(2, 4)]  # never played
    probabilities = active_probabilities(candidates, stats)
    assert probabilities[(2, 4)] == pytest.approx(1 - DEFAULT_FLOOR + DEFAULT_FLOOR / 6)
    assert sum(probabilities.values()) == pytest.approx(1.0)


def test_active_without_any_stats_is_uniform_over_pairs(candidates):
    pairs = _pair_counts(candidates, "active", random.Random(6), 3000)
    assert len(pairs) == 6
    assert max(pairs.values()) / min(pairs.values()) < 1.3


@pytest.mark.parametrize("floor", [0.0, 0.05, DEFAULT_FLOOR, 0.5, 1.0])
def test_every_pair_keeps_the_floor(candidates, floor):
    # a lopsided history: one pair played once, the others thousands of times, some one-sided
    stats = {(1, 2): PairStats(1), (1, 3): PairStats(5000, 0.0), (1, 4): PairStats(5000, 0.01),
             (2, 3): PairStats(3000), (2, 4): PairStats(4000), (3, 4): PairStats(5000, 0.25)}
    probabilities = active_probabilities(candidates, stats, floor=floor)
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert min(probabilities.values()) >= floor / 6 - 1e-12
    if floor == 1.0:
        assert list(probabilities.values()) == pytest.approx([1 / 6] * 6)


def test_a_starved_pair_is_still_drawn_at_the_floor_rate(candidates):
    stats = {(1, 2): PairStats(1), (1, 3): PairStats(5000, 0.0)}  # (1, 3): Σ = 0, nothing left to learn
    pairs = _pair_counts(candidates, "active", random.Random(7), 20_000, pair_stats=stats)
    assert pairs[(1, 3)] / 20_000 == pytest.approx(DEFAULT_FLOOR / 6, rel=0.25)


def test_active_same_family_keeps_to_one_family():
    family = [Candidate(1, "x"), Candidate(2, "x"), Candidate(3, "x"), Candidate(4, "y"), Candidate(5, "y"),
              Candidate(6, "z")]
    # the cross-family pairs are the most under-sampled: they must still never be drawn
    stats = {(1, 2): PairStats(100), (1, 3): PairStats(100), (2, 3): PairStats(3), (4, 5): PairStats(100)}
    pairs = _pair_counts(family, "active", random.Random(8), 3000, pair_stats=stats, same_family=True)
    assert set(pairs) == {(1, 2), (1, 3), (2, 3), (4, 5)}
    assert pairs[(2, 3)] == max(pairs.values())
    assert set(active_probabilities(family, stats, same_family=True)) == set(pairs)


def test_same_family_flag_turns_uniform_into_same_family(candidates):
    for _ in range(100):
        a, b = sample_pair(candidates, "uniform", random.Random(), same_family=True)
        assert a.family == b.family == "x"
    with pytest.raises(SamplingError, match="family"):
        sample_pair([Candidate(1, "x"), Candidate(2, "y")], "active", random.Random(0), same_family=True)


def test_pair_stats_from_score():
    assert PairStats.from_score(0, 0.0) == PairStats(0, 0.25)
    assert PairStats.from_score(8, 8.0).variance == pytest.approx(0.9 * 0.1)  # shrunk: (8+1)/(8+2)
    assert PairStats.from_score(4, 2.0).variance == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pair_stats": {(1, 2): PairStats(-1)}}, r"Pair \(1, 2\): battles must be a whole number"),
        ({"pair_stats": {(1, 2): PairStats(2.5)}}, "battles must be a whole number"),
        ({"pair_stats": {(1, 2): PairStats(3, 0.3)}}, r"variance must lie in \[0, 0.25\]"),
        ({"pair_stats": {(1, 2): PairStats(3, float("nan"))}}, "variance must lie"),
        ({"pair_stats": {(1, 2): (3, 0.1)}}, "must be PairStats, not tuple"),
        ({"pair_stats": [((1, 2), PairStats(3))]}, "must be a mapping of pairs, not list"),
        ({"floor": -0.1}, r"floor must lie in \[0, 1\]"),
        ({"floor": 1.5}, "floor must lie"),
        ({"floor": float("nan")}, "floor must lie"),
    ],
)
def test_active_bad_inputs_are_refused_with_a_message(candidates, kwargs, message):
    with pytest.raises(SamplingError, match=message):
        sample_pair(candidates, "active", random.Random(0), **kwargs)


def test_active_refuses_too_few_and_repeated_candidates(candidates):
    with pytest.raises(SamplingError, match="at least two"):
        sample_pair(candidates[:1], "active")
    with pytest.raises(SamplingError, match="only once"):
        sample_pair([Candidate(1, "x"), Candidate(1, "x")], "active")
    with pytest.raises(SamplingError, match=r"score must lie in \[0, 3\]"):
        PairStats.from_score(3, 4.0)
    with pytest.raises(SamplingError, match="whole number"):
        PairStats.from_score(-2, 0.0)


# --- active with rating estimates (the information rule) --------------------------------------


def _estimated(ratings: dict[int, float], battles: int = 30) -> dict[tuple[int, int], PairStats]:
    return {
        (a, b): PairStats(battles, difference=ratings[a] - ratings[b]) for a in ratings for b in ratings if a < b
    }


def test_active_with_estimates_prefers_the_uncertain_near_tied_pair():
    line = [Candidate(cid, "x") for cid in range(1, 7)]
    # 1 and 2 nearly tied; everyone else 150 points apart: only (1, 2)'s order is in doubt
    stats = _estimated({1: 1000.0, 2: 1010.0, 3: 1160.0, 4: 1310.0, 5: 1460.0, 6: 1610.0})
    probabilities = active_probabilities(line, stats)
    assert max(probabilities, key=probabilities.get) == (1, 2)
    assert probabilities[(1, 2)] > 0.5
    assert probabilities[(1, 6)] < 1.2 * DEFAULT_FLOOR / 15  # a settled pair keeps about the floor


def test_active_with_estimates_prefers_the_less_played_of_two_tied_pairs():
    stats = _estimated({1: 1000.0, 2: 1000.0, 3: 1300.0, 4: 1300.0}, battles=40)
    stats[(3, 4)] = PairStats(5, difference=0.0)  # as tied, far fewer votes: its interval is the wider
    gains = dict(zip(stats, information_gains(list(stats), stats), strict=True))
    assert gains[(3, 4)] > gains[(1, 2)] > gains[(1, 3)]
    assert all(gain >= 0 for gain in gains.values())


@pytest.mark.parametrize("floor", [0.0, DEFAULT_FLOOR, 0.5])
def test_active_with_estimates_keeps_the_floor(floor):
    line = [Candidate(cid, "x") for cid in range(1, 7)]
    stats = _estimated({1: 1000.0, 2: 1001.0, 3: 1600.0, 4: 2200.0, 5: 2800.0, 6: 3400.0}, battles=500)
    probabilities = active_probabilities(line, stats, floor=floor)
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert min(probabilities.values()) >= floor / 15 - 1e-12


def test_active_with_estimates_and_the_same_family_constraint():
    family = [Candidate(1, "x"), Candidate(2, "x"), Candidate(3, "x"), Candidate(4, "y"), Candidate(5, "y")]
    # the cross-family pair (3, 4) is the tied one: still never drawn
    stats = _estimated({1: 1000.0, 2: 1200.0, 3: 1400.0, 4: 1400.0, 5: 1700.0})
    pairs = _pair_counts(family, "active", random.Random(9), 2000, pair_stats=stats, same_family=True)
    assert set(pairs) <= {(1, 2), (1, 3), (2, 3), (4, 5)}
    assert set(active_probabilities(family, stats, same_family=True)) == {(1, 2), (1, 3), (2, 3), (4, 5)}


def test_active_without_estimates_falls_back_to_the_counts_only_rule(candidates):
    counts = {pair_key(a.id, b.id): PairStats(20, 0.2) for a in candidates for b in candidates if a.id < b.id}
    counts[(1, 2)] = PairStats(3, 0.2)
    with_none = {key: PairStats(s.battles, s.variance, None) for key, s in counts.items()}
    assert active_probabilities(candidates, with_none) == active_probabilities(candidates, counts)
    # the paper's rule: proportional to sqrt(Σ)(1/sqrt(n) - 1/sqrt(n+1)), then the floor
    gain = {key: (1 / s.battles**0.5 - 1 / (s.battles + 1) ** 0.5) for key, s in counts.items()}
    expected = {key: 0.9 * g / sum(gain.values()) + 0.1 / 6 for key, g in gain.items()}
    assert active_probabilities(candidates, counts) == pytest.approx(expected)


def test_active_with_a_bad_rating_difference_is_refused(candidates):
    for bad in (float("nan"), float("inf"), "12", True):
        with pytest.raises(SamplingError, match=r"Pair \(1, 2\): the rating difference must be a finite number"):
            active_probabilities(candidates, {(1, 2): PairStats(3, 0.2, bad)})
