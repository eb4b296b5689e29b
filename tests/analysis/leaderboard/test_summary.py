"""The board's summary in plain words: who leads and how sure, what energy changes, the switch rate."""

import json

from analysis.leaderboard.board import (
    BoardInputs,
    board_compute,
    board_empty,
    board_inputs_from_records,
    board_style_view,
)
from analysis.leaderboard.gea import GeaSums, switch_stats
from analysis.leaderboard.summary import FEW_VOTES, SUMMARY_KEYS, board_summary


def row(name, rating, lower, upper, rank=1, provisional=False):
    return {"name": name, "rating": rating, "lower": lower, "upper": upper, "rank": rank, "battles": 30,
            "provisional": provisional}


def board(blind_rows, blind_n, energy_rows=(), energy_n=0, changes=None, gea=None, provisional=20):
    """A board dict with only what the summary reads."""
    changes = changes or {}
    return {
        "provisional_battles": provisional,
        "ladders": {"blind": {"battles": blind_n, "rows": list(blind_rows)},
                    "energy": {"battles": energy_n, "rows": list(energy_rows)}},
        "side_by_side": [{"name": r["name"], "rank_change": changes.get(r["name"])} for r in blind_rows],
        "gea": {"overall": switch_stats(gea or GeaSums())},
    }


def inputs(blind, energy=(), gea=None):
    """Board inputs from pair rows (a, b, outcome, count) of each ladder."""
    return BoardInputs("chat", pairs={"blind": list(blind), "energy": list(energy)}, gea=gea or {})


def test_no_vote_says_nobody_leads():
    summary = board_empty("chat", figures=False)["summary"]
    assert list(summary) == list(SUMMARY_KEYS)
    assert summary == {
        "leader": "No blind votes yet, so nobody leads.",
        "energy": "No votes after the energy reveal yet, so nothing to say about what energy changes.",
        "switches": "No vote yet where the first pick was the answer that used more energy, so no switch rate yet.",
    }


def test_one_vote_is_too_few_to_name_a_leader():
    one = inputs([("Alpha", "Beta", "a", 1)], [("Alpha", "Beta", "b", 1)], {("Alpha", "Beta"): GeaSums(1, 1)})
    summary = board_compute(one, rounds=20, figures=False, prior=400, provisional=20)["summary"]
    assert summary["leader"] == "Only 1 blind vote so far: too few to say who leads."
    assert "Alpha" not in summary["leader"] and "Beta" not in summary["leader"]
    assert summary["energy"] == "Only 1 vote after the energy reveal so far: too few to say what energy changes."
    # one switch of one: no "100%", the Wilson interval's range instead
    assert summary["switches"] == (
        "When the first pick was the answer that used more energy, voters switched to the one that used less "
        "in 1 of 1 vote: too few votes for a rate (it could be anywhere from 21% to 100%)."
    )


def test_two_votes_are_still_too_few():
    two = inputs([("Alpha", "Beta", "a", 2)], gea={("Alpha", "Beta"): GeaSums(2, 0)})
    summary = board_compute(two, rounds=20, figures=False, prior=400, provisional=20)["summary"]
    assert summary["leader"] == "Only 2 blind votes so far: too few to say who leads."
    assert summary["energy"].startswith("No votes after the energy reveal yet")
    assert "in 0 of 2 votes: too few votes for a rate (it could be anywhere from 0% to 66%)" in summary["switches"]


def test_a_clear_leader_is_called_clearly_ahead():
    # Alpha wins all of its 60 battles; Beta and Gamma are even
    clear = inputs([("Alpha", "Beta", "a", 30), ("Alpha", "Gamma", "a", 30), ("Beta", "Gamma", "tie", 15)])
    board_ = board_compute(clear, rounds=50, figures=False, prior=400, provisional=0)
    leader, second = board_["ladders"]["blind"]["rows"][:2]
    assert leader["name"] == "Alpha" and second["upper"] < leader["lower"]  # the premise: separated intervals
    assert board_["summary"]["leader"] == (
        f"Alpha leads the blind ladder after 75 votes and is clearly ahead: its 95% interval "
        f"({leader['lower']:.0f}–{leader['upper']:.0f}) lies above every other contender's."
    )


def test_overlapping_intervals_mean_no_clear_winner():
    rows = [row("Qwen 1.5B", 1050, 1000, 1100), row("Qwen 0.5B", 1040, 990, 1090),
            row("SmolLM2", 1030, 995, 1080), row("Tiny", 900, 850, 950, rank=4)]
    assert board_summary(board(rows, 42))["leader"] == (
        "Qwen 1.5B leads the blind ladder after 42 votes, but its 95% interval overlaps those of Qwen 0.5B and "
        "SmolLM2: no clear winner yet."
    )
    one_close = [rows[0], rows[1], row("Tiny", 900, 850, 950, rank=3)]
    assert "overlaps that of Qwen 0.5B: no clear winner yet." in board_summary(board(one_close, 42))["leader"]
    many = [rows[0]] + [row(f"C{i}", 1040, 990, 1090) for i in range(5)]
    assert "overlaps those of C0, C1, C2 and 2 others:" in board_summary(board(many, 42))["leader"]


def test_a_provisional_leader_is_too_early_to_call():
    rows = [row("Alpha", 1100, 900, 1300, provisional=True), row("Beta", 900, 700, 1100, provisional=True)]
    assert board_summary(board(rows, FEW_VOTES))["leader"] == (
        f"Alpha is ahead after {FEW_VOTES} blind votes, but no contender has 20 battles yet: too early to call."
    )


def test_what_energy_changes():
    blind = [row("Big", 1100, 1060, 1140), row("Small", 900, 860, 940, rank=2)]
    flipped = [row("Small", 1100, 1060, 1140), row("Big", 900, 860, 940, rank=2)]
    summary = board_summary(board(blind, 40, flipped, 30, changes={"Big": -1, "Small": 1}))
    assert summary["energy"] == (
        "Knowing the energy, voters put Small on top instead of Big, clearly ahead. "
        "Compared with the blind ladder: Big down 1 place and Small up 1 place."
    )
    close = [row("Big", 1010, 950, 1070), row("Small", 990, 930, 1050)]
    kept = board_summary(board(blind, 40, close, 30))["energy"]
    assert kept == "Knowing the energy, voters keep Big on top, but not clearly ahead. No contender changes rank."


def test_switch_rate_in_words_with_its_interval():
    summary = board_summary(board([], 0, gea=GeaSums(eligible=12, switched=5)))
    stats = switch_stats(GeaSums(eligible=12, switched=5))
    assert summary["switches"] == (
        "When the first pick was the answer that used more energy, voters switched to the one that used less "
        f"in 5 of 12 votes: 42% (95% interval {100 * stats['lower']:.0f}%–{100 * stats['upper']:.0f}%)."
    )
    assert "19%–68%" in summary["switches"]


def test_summary_is_json_and_follows_the_style_view(style_records):
    plain = board_compute(board_inputs_from_records(style_records(300))["chat"], rounds=2, figures=False, prior=400)
    json.dumps(plain["summary"], allow_nan=False)
    assert plain["summary"]["leader"].startswith(f"{plain['ladders']['blind']['rows'][0]['name']} leads the blind "
                                                 "ladder after 300 votes")
    view = board_style_view(plain)
    # the style view's summary speaks of its own (style-controlled) ladders
    assert view["summary"]["leader"].startswith(f"{view['ladders']['blind']['rows'][0]['name']} leads the blind "
                                                f"ladder after {view['ladders']['blind']['battles']} votes")
    assert view["summary"]["switches"] == plain["summary"]["switches"]
