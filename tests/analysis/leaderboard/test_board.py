"""The board: its GEA statistics equal the vote-by-vote reference, energy rows, mean intervals."""

import json
import math
import statistics

import pytest

from analysis.leaderboard.board import (
    BoardInputs,
    board_compute,
    board_inputs_from_records,
    board_style_view,
    mean_ci_from_sums,
)
from analysis.leaderboard.gea import GeaVote
from analysis.leaderboard.services.refit import leaderboard_refit
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

    assert board["overall"] == pytest.approx(reference.switch_rate(hand).to_dict())
    by_pair, by_family = (reference.switch_rate_by(hand, key) for key in ("pair", "family"))
    assert list(board["by_pair"]) == list(by_pair) and list(board["by_family"]) == list(by_family)
    for got, want in [*zip(board["by_pair"].values(), by_pair.values(), strict=True),
                      *zip(board["by_family"].values(), by_family.values(), strict=True)]:
        assert got == pytest.approx(want.to_dict())
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
    factor = math.exp(1.959963984540054 * statistics.stdev([3.0, 5.0]) / math.sqrt(2) / 4.0)
    assert rows["Big A"]["joules_lower"] == pytest.approx(4.0 / factor, abs=1e-4)
    assert rows["Big A"]["joules_upper"] == pytest.approx(4.0 * factor, abs=1e-4)
    assert rows["Big A"]["joules_per_token_mean"] == pytest.approx(0.4)
    assert rows["Small A"]["joules_per_token_mean"] == pytest.approx(0.075)
    assert rows["Small A"]["output_tokens_mean"] == 15.0
    assert board["energy"][0]["name"] == board["side_by_side"][0]["name"]  # same order as the ladders


def test_mean_interval_from_sums():
    values = [1.0, 2.0, 3.0, 4.0]
    mean, lower, upper = mean_ci_from_sums(len(values), sum(values), sum(v * v for v in values))
    factor = math.exp(1.959963984540054 * statistics.stdev(values) / math.sqrt(len(values)) / 2.5)
    assert mean == 2.5
    assert (lower, upper) == pytest.approx((2.5 / factor, 2.5 * factor))
    assert mean_ci_from_sums(1, 3.0, 9.0) == (3.0, None, None)
    assert mean_ci_from_sums(0, 0.0, 0.0) == (None, None, None)


@pytest.mark.parametrize("values", [[0.1, 50.0], [0.2, 0.3, 90.0], [138.0, 139.0]])
def test_an_energy_interval_never_goes_below_zero(values):
    mean, lower, upper = mean_ci_from_sums(len(values), sum(values), sum(v * v for v in values))
    assert 0 < lower < mean < upper
    # close to mean ± 1.96 SE where the SE is small against the mean
    if max(values) / min(values) < 1.05:
        half = 1.959963984540054 * statistics.stdev(values) / math.sqrt(len(values))
        assert (lower, upper) == pytest.approx((mean - half, mean + half), rel=1e-3)


def test_board_with_contexts_has_style_control_and_the_price_of_energy(style_records):
    inputs = board_inputs_from_records(style_records(300))["chat"]
    assert len(inputs.contexts) == 300
    board = board_compute(inputs, rounds=2, figures=False, prior=400, provisional=20)
    json.dumps(board, allow_nan=False)  # JSON-safe
    for ladder in ("blind", "energy"):
        style = board["style_control"][ladder]
        assert style["battles"] + style["left_out"] == board["ladders"][ladder]["battles"]
        assert style["left_out"] == 1 or ladder == "energy"  # the first battle lacks a bold count
        assert [c["feature"] for c in style["coefficients"]] == ["length", "headers", "lists", "bold"]
        plain_fields = set(board["ladders"][ladder]["rows"][0])
        assert {r["name"] for r in style["rows"]} == {"Long", "Short", "Other"}
        assert all(set(r) == plain_fields for r in style["rows"])
    price = board["energy_price"]
    assert price["overall"]["battles"] > 30 and price["overall"]["points"] is not None
    assert set(price["by_family"]) == {"Fam A"}  # the only family with two contenders


def test_board_without_contexts_has_no_contextual_sections(style_records):
    inputs = board_inputs_from_records(style_records(20))["chat"]
    plain = BoardInputs(inputs.kind, inputs.families, inputs.pairs, inputs.elo, inputs.energy, inputs.gea)
    board = board_compute(plain, rounds=1, figures=False)
    assert "style_control" not in board and "energy_price" not in board


def test_style_view_replaces_both_ladders(style_records):
    board = board_compute(board_inputs_from_records(style_records(200))["chat"], rounds=1, figures=False, prior=400)
    view = board_style_view(board)
    assert view["view"] == "style" and view["energy"] == board["energy"] and view["gea"] == board["gea"]
    for ladder in ("blind", "energy"):
        assert view["ladders"][ladder]["rows"] == board["style_control"][ladder]["rows"]
        assert view["ladders"][ladder]["battles"] == board["style_control"][ladder]["battles"]
        assert len(view["ladders"][ladder]["coefficients"]) == 4
    assert [r["name"] for r in view["side_by_side"]] == [r["name"] for r in view["ladders"]["blind"]["rows"]]
    assert board_style_view({k: v for k, v in board.items() if k != "style_control"}) is None
