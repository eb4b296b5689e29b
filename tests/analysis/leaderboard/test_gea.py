"""GEA switch statistics: the vote-by-vote reference, and the statistics from counts equal it."""

import json

import numpy as np
import pytest

from analysis.leaderboard.gea import GeaSums, GeaVote, switch_stats, vote_counts, wilson_interval
from tests.analysis.leaderboard.gea_reference import mean_with_ci, switch_rate, switch_rate_by


def vote(blind, after, energy_a=10.0, energy_b=2.0, a="big", b="small", family_a="fam", family_b="fam"):
    return GeaVote(a, b, family_a, family_b, energy_a, energy_b, blind, after)


@pytest.fixture
def ten_eligible():
    """10 votes whose blind choice used more energy; 4 switch, 1 moves to tie, 1 to both bad."""
    votes = [
        vote("a", "b"),  # a used 10 J > b 2 J, switched to b
        vote("a", "b"),
        vote("b", "a", energy_a=1.0, energy_b=5.0),  # chose b (more), switched to a
        vote("b", "a", energy_a=1.0, energy_b=5.0),
        vote("a", "a"),  # kept
        vote("a", "a"),
        vote("a", "a"),
        vote("b", "b", energy_a=1.0, energy_b=5.0),
        vote("a", "tie"),
        vote("a", "bothbad"),
    ]
    return votes


@pytest.fixture
def ineligible():
    return [
        vote("tie", "b"),  # blind choice not a single side
        vote("bothbad", "a"),
        vote("a", "b", energy_a=3.0, energy_b=3.0),  # equal energy
        vote("a", "b", energy_a=139.0, energy_b=138.0),  # "about the same energy", as the reveal said
        vote("a", "b", energy_a=None),  # missing energy
        vote("a", "b", energy_b=float("nan")),
        vote("a", None),  # no second vote
    ]


@pytest.fixture
def opposite():
    """Blind choice used less energy: 3 votes, 1 switches to the energy-hungry side."""
    return [
        vote("b", "a"),  # b used 2 J < a 10 J, switched to a
        vote("b", "b"),
        vote("a", "a", energy_a=1.0, energy_b=4.0),
    ]


def test_switch_rate_counts(ten_eligible, ineligible, opposite):
    stats = switch_rate(ten_eligible + ineligible + opposite)
    assert stats.n_eligible == 10
    assert stats.n_switched == 4
    assert stats.rate == pytest.approx(0.4)
    assert stats.n_to_tie == 1 and stats.n_to_bothbad == 1
    assert stats.to_tie_or_bothbad_rate == pytest.approx(0.2)
    assert stats.opposite_n_eligible == 3
    assert stats.opposite_n_switched == 1
    assert stats.opposite_rate == pytest.approx(1 / 3)


def test_ineligible_votes_are_ignored(ten_eligible, ineligible):
    assert switch_rate(ten_eligible + ineligible) == switch_rate(ten_eligible)
    empty = switch_rate(ineligible)
    assert empty.n_eligible == 0 and empty.opposite_n_eligible == 0
    assert empty.rate is None and empty.lower is None and empty.opposite_rate is None


def test_ci_contains_rate_and_stays_in_range(ten_eligible, opposite):
    stats = switch_rate(ten_eligible + opposite)
    assert 0.0 <= stats.lower <= stats.rate <= stats.upper <= 1.0
    assert stats.lower < stats.upper  # 4 of 10 is not certain
    assert 0.0 <= stats.opposite_lower <= stats.opposite_rate <= stats.opposite_upper <= 1.0
    json.dumps(stats.to_dict(), allow_nan=False)


@pytest.mark.parametrize(("k", "n", "lower", "upper"), [
    (4, 10, 0.1682, 0.6873),  # the Wilson interval of 4/10 (Newcombe 1998, Table I's method 3 on 4/10)
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (81, 263, 0.2553, 0.3662),  # Newcombe 1998, Table II example: 81/263
])
def test_wilson_interval_known_values(k, n, lower, upper):
    rate, low, high = wilson_interval(k, n)
    assert rate == k / n
    assert (low, high) == pytest.approx((lower, upper), abs=1e-4)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_small_numbers_are_never_printed_as_certain(n):
    """At 0 votes there is no rate; at 1 or 2 every rate, 0 % and 100 % included, has a wide
    interval inside [0, 1] (a bootstrap printed "0% (0–0%)" and "100% (100–100%)")."""
    for k in range(n + 1):
        rate, low, high = wilson_interval(k, n)
        if n == 0:
            assert (rate, low, high) == (None, None, None)
            continue
        assert 0.0 <= low <= rate <= high <= 1.0
        assert high - low > 0.6, (k, n, low, high)


def test_energies_about_the_same_are_not_a_move_to_less_energy():
    assert vote_counts(vote("a", "b", energy_a=139.0, energy_b=138.0)) is None  # the reveal: "about the same"
    assert vote_counts(vote("a", "b", energy_a=106.0, energy_b=100.0)) == {
        "eligible": 1, "switched": 1, "to_tie": 0, "to_bothbad": 0}


def test_ci_narrows_with_more_votes(ten_eligible):
    few = switch_rate(ten_eligible)
    many = switch_rate(ten_eligible * 20)
    assert many.rate == pytest.approx(few.rate)
    assert many.upper - many.lower < 0.5 * (few.upper - few.lower)


def test_all_switched():
    stats = switch_rate([vote("a", "b")] * 5)
    assert stats.rate == 1.0 and stats.upper == 1.0
    assert stats.lower == pytest.approx(0.5655, abs=1e-4)  # 5 of 5 is not certainty


def test_switch_rate_by_pair():
    votes = [
        vote("a", "b", a="big", b="small"),
        vote("b", "b", a="small", b="big", energy_a=2.0, energy_b=10.0),  # same pair, seats swapped
        vote("a", "a", a="big", b="mid"),
    ]
    by_pair = switch_rate_by(votes, "pair")
    assert list(by_pair) == ["big vs mid", "big vs small"]
    assert by_pair["big vs small"].n_eligible == 2
    assert by_pair["big vs small"].n_switched == 1
    assert by_pair["big vs mid"].n_switched == 0


def test_switch_rate_by_family():
    votes = [
        vote("a", "b", family_a="llama", family_b="llama"),
        vote("a", "b", family_a="llama", family_b="llama"),
        vote("a", "a", family_a="llama", family_b="llama"),
        vote("a", "a", family_a="qwen", family_b="qwen"),
        vote("a", "b", family_a="llama", family_b="qwen"),  # cross-family: dropped
        vote("a", "b", family_a=None, family_b=None),  # unknown family: dropped
    ]
    by_family = switch_rate_by(votes, "family")
    assert list(by_family) == ["llama", "qwen"]
    assert by_family["llama"].n_eligible == 3
    assert by_family["llama"].rate == pytest.approx(2 / 3)
    assert by_family["qwen"].rate == 0.0


def test_switch_rate_by_callable():
    votes = [vote("a", "b"), vote("a", "a", a="other")]
    got = switch_rate_by(votes, lambda v: v.contender_a if v.contender_a == "big" else None)
    assert list(got) == ["big"] and got["big"].n_switched == 1


def test_bad_choice_rejected():
    with pytest.raises(ValueError, match="blind"):
        vote("model_a", "a")
    with pytest.raises(ValueError, match="after"):
        vote("a", "left")


def test_mean_with_ci():
    values = [1.0, 2.0, 3.0, 4.0, None, float("nan"), 10.0]
    mean, lower, upper = mean_with_ci(values, seed=1)
    assert mean == pytest.approx(4.0)
    assert 1.0 <= lower < mean < upper <= 10.0
    assert mean_with_ci(values, seed=1) == (mean, lower, upper)


def test_mean_with_ci_edge_cases():
    assert mean_with_ci([]) == (None, None, None)
    assert mean_with_ci([None, float("inf")]) == (None, None, None)
    assert mean_with_ci([2.5]) == (2.5, 2.5, 2.5)


def test_mean_with_ci_width_is_about_two_standard_errors():
    rng = np.random.default_rng(0)
    values = rng.normal(5.0, 2.0, size=400)
    mean, lower, upper = mean_with_ci(values, rounds=2000)
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert upper - lower == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert lower < mean < upper


def test_switch_stats_from_sums_equal_switch_rate():
    votes = [GeaVote("x", "y", None, None, 2, 1, "a", after) for after in ["b", "b", "a", "tie", "bothbad"]]
    votes += [GeaVote("x", "y", None, None, 2, 1, "b", after) for after in ["a", "b", "b"]]
    sums = GeaSums()
    for v in votes:
        sums.add(vote_counts(v) or {})
    assert switch_stats(sums) == pytest.approx(switch_rate(votes).to_dict())
    assert switch_stats(GeaSums())["rate"] is None
