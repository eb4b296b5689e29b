"""The board: its GEA statistics equal the vote-by-vote reference, energy rows, mean intervals."""

import math
import statistics

import pytest

from analysis.leaderboard.board import mean_ci_from_sums
from analysis.leaderboard.gea import GeaVote
from analysis.leaderboard.services import leaderboard_refit
from tests.analysis.leaderboard import gea_reference as reference


def test_gea_statistics_from_the_database_equal_the_kernel_on_the_same_votes(quad, make_battle, vote):
    big_a, small_a, big_b, small_b = quad
    # (contender a, contender b, joules a, joules b, blind, after): a hand-built vote set
    plan = [
        (big_a, small_a, 3.0, 1.0, "a", "b"),  # chose the larger, switched
        (big_a, small_a, 3.0, 1.0, "a", "b"),
        (small_a, big_a, 1.0, 3.0, "b", "b"),  # chose the larger, kept
        (small_a, big_a, 1.0, 3.0, "a", "b"),  # chose the smaller, switched to the larger
        (big_b, small_b, 2.0, 0.5, "a", "bothbad"),
        (big_b, small_b, 2.0, 0.5, "a", "b"),
        (big_a, big_b, 3.0, 2.0, "a", "b"),  # across families: in the pair and overall figures only
        (big_a, big_b, 3.0, 2.0, "tie", "a"),  # blind tie: never eligible
    ]
    for a, b, ja, jb, blind, after in plan:
        vote(make_battle(a, b, joules=(ja, jb)), blind, after)
    hand = [GeaVote(a.name, b.name, a.family, b.family, ja, jb, blind, after) for a, b, ja, jb, blind, after in plan]
    board = leaderboard_refit(push=False, rounds=1).data["boards"]["chat"]["gea"]

    assert board["overall"] == reference.switch_rate(hand).to_dict()
    assert board["by_pair"] == {k: v.to_dict() for k, v in reference.switch_rate_by(hand, "pair").items()}
    assert board["by_family"] == {k: v.to_dict() for k, v in reference.switch_rate_by(hand, "family").items()}
    # and the known answers: 5 votes chose the larger answer, 3 switched; 1 chose the smaller, 1 switched
    assert (board["overall"]["n_eligible"], board["overall"]["n_switched"]) == (6, 4)
    assert (board["overall"]["opposite_n_eligible"], board["overall"]["opposite_n_switched"]) == (1, 1)
    assert board["by_family"]["Fam A"]["n_eligible"] == 3 and board["by_family"]["Fam A"]["n_switched"] == 2
    assert board["by_family"]["Fam B"]["n_to_bothbad"] == 1


def test_energy_rows_of_the_board(quad, make_battle, vote):
    big_a, small_a = quad[:2]
    vote(make_battle(big_a, small_a, joules=(3.0, 1.0), tokens=(10, 10)), "a")
    vote(make_battle(big_a, small_a, joules=(5.0, 1.0), tokens=(10, 20)), "a")
    board = leaderboard_refit(push=False, rounds=2).data["boards"]["chat"]
    rows = {row["name"]: row for row in board["energy"]}
    assert rows["Big A"]["responses"] == 2
    assert rows["Big A"]["joules_mean"] == 4.0
    half = 1.959963984540054 * statistics.stdev([3.0, 5.0]) / math.sqrt(2)
    assert rows["Big A"]["joules_lower"] == pytest.approx(4.0 - half, abs=1e-4)
    assert rows["Big A"]["joules_per_token_mean"] == pytest.approx(0.4)
    assert rows["Small A"]["joules_per_token_mean"] == pytest.approx(0.075)
    assert rows["Small A"]["output_tokens_mean"] == 15.0
    assert board["energy"][0]["name"] == board["side_by_side"][0]["name"]  # same order as the ladders


def test_mean_interval_from_sums():
    values = [1.0, 2.0, 3.0, 4.0]
    mean, lower, upper = mean_ci_from_sums(len(values), sum(values), sum(v * v for v in values))
    half = 1.959963984540054 * statistics.stdev(values) / math.sqrt(len(values))
    assert mean == 2.5
    assert (lower, upper) == pytest.approx((2.5 - half, 2.5 + half))
    assert mean_ci_from_sums(1, 3.0, 9.0) == (3.0, None, None)
    assert mean_ci_from_sums(0, 0.0, 0.0) == (None, None, None)
