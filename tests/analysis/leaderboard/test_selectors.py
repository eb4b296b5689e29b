"""Reads: the aggregates and a scan of the votes agree; GEA from the database; filters; log files."""

import datetime as dt
import json
import math
import random
import statistics

import pytest

from analysis.leaderboard import gea
from analysis.leaderboard.gea import GeaVote
from analysis.leaderboard.selectors import (
    BattleLogError,
    BattleLogReader,
    Filters,
    battle_records,
    board_compute,
    board_inputs_from_records,
    board_inputs_from_tables,
    filters_parse,
    leaderboard_view,
    mean_ci_from_sums,
    pareto_frontier,
    switch_stats_from_sums,
)
from analysis.leaderboard.services import leaderboard_refit
from analysis.models import ImportedBattle
from arena.models import Vote
from modelhub.models import Model


@pytest.fixture
def quad(make_contender):
    return [
        make_contender(name="Big A", family="Fam A"),
        make_contender(name="Small A", family="Fam A"),
        make_contender(name="Big B", family="Fam B"),
        make_contender(name="Small B", family="Fam B"),
    ]


def random_votes(contenders, make_battle, vote, n, seed):
    rng = random.Random(seed)
    for _ in range(n):
        a, b = rng.sample(contenders, 2)
        joules = (round(rng.uniform(0.5, 4), 3), round(rng.uniform(0.5, 4), 3))
        battle = make_battle(a, b, joules=joules, tokens=(rng.randint(0, 30), rng.randint(1, 30)))
        vote(battle, rng.choice(["a", "b", "tie", "bothbad"]), rng.choice(["a", "b", "tie", "bothbad", None]))


def test_aggregates_and_a_scan_of_the_votes_agree(quad, make_battle, vote):
    random_votes(quad, make_battle, vote, 50, seed=1)
    tables = board_inputs_from_tables()["chat"]
    scan = board_inputs_from_records(battle_records())["chat"]
    for ladder in ("blind", "energy"):
        assert sorted(tables.pairs[ladder]) == sorted(scan.pairs[ladder])
        assert tables.elo[ladder] == pytest.approx(scan.elo[ladder], abs=1e-9)
    assert tables.energy.keys() == scan.energy.keys()
    for name, sums in tables.energy.items():
        assert vars(sums) == pytest.approx(vars(scan.energy[name]))
    assert {k: vars(v) for k, v in tables.gea.items()} == {k: vars(v) for k, v in scan.gea.items()}
    assert tables.families == scan.families == {"Big A": "Fam A", "Small A": "Fam A", "Big B": "Fam B",
                                               "Small B": "Fam B"}
    left, right = board_compute(tables, rounds=10, figures=False), board_compute(scan, rounds=10, figures=False)
    assert left["ladders"] == right["ladders"]
    assert left["gea"] == right["gea"]


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

    assert board["overall"] == gea.switch_rate(hand).to_dict()
    assert board["by_pair"] == {k: v.to_dict() for k, v in gea.switch_rate_by(hand, "pair").items()}
    assert board["by_family"] == {k: v.to_dict() for k, v in gea.switch_rate_by(hand, "family").items()}
    # and the known answers: 5 votes chose the larger answer, 3 switched; 1 chose the smaller, 1 switched
    assert (board["overall"]["n_eligible"], board["overall"]["n_switched"]) == (6, 4)
    assert (board["overall"]["opposite_n_eligible"], board["overall"]["opposite_n_switched"]) == (1, 1)
    assert board["by_family"]["Fam A"]["n_eligible"] == 3 and board["by_family"]["Fam A"]["n_switched"] == 2
    assert board["by_family"]["Fam B"]["n_to_bothbad"] == 1


def test_switch_stats_from_sums_equal_switch_rate():
    votes = [GeaVote("x", "y", None, None, 2, 1, "a", after) for after in ["b", "b", "a", "tie", "bothbad"]]
    votes += [GeaVote("x", "y", None, None, 2, 1, "b", after) for after in ["a", "b", "b"]]
    from analysis.leaderboard.selectors import GeaSums

    sums = GeaSums()
    for v in votes:
        sums.add(GeaSums.deltas(v) or {})
    assert switch_stats_from_sums(sums, seed=4) == gea.switch_rate(votes, seed=4).to_dict()
    assert switch_stats_from_sums(GeaSums())["rate"] is None


def test_mean_interval_from_sums():
    values = [1.0, 2.0, 3.0, 4.0]
    mean, lower, upper = mean_ci_from_sums(len(values), sum(values), sum(v * v for v in values))
    half = 1.959963984540054 * statistics.stdev(values) / math.sqrt(len(values))
    assert mean == 2.5
    assert (lower, upper) == pytest.approx((2.5 - half, 2.5 + half))
    assert mean_ci_from_sums(1, 3.0, 9.0) == (3.0, None, None)
    assert mean_ci_from_sums(0, 0.0, 0.0) == (None, None, None)


def test_pareto_frontier():
    points = [("a", 1.0, 1000.0), ("b", 2.0, 1100.0), ("c", 3.0, 1050.0), ("d", 2.0, 900.0), ("e", 4.0, 1200.0),
              ("f", 1.0, 950.0)]
    assert pareto_frontier(points) == ["a", "b", "e"]
    assert pareto_frontier([]) == []


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


def test_kind_and_date_filters(quad, make_contender, make_battle, vote):
    big_a, small_a, big_b, _ = quad
    enc_1, enc_2 = make_contender(name="Enc 1", kind=Model.Kind.ENCODER), make_contender(name="Enc 2", kind="encoder")
    old = vote(make_battle(big_a, small_a), "a", "b")
    vote(make_battle(big_a, big_b), "b")
    vote(make_battle(enc_1, enc_2), "a")
    Vote.objects.filter(battle=old).update(blind_at=dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC))
    snapshot = leaderboard_refit(push=False, rounds=2)
    assert snapshot.data["kinds"] == ["chat", "encoder"]

    chat = leaderboard_view(filters=Filters("chat"), snapshot=snapshot, figures=False)
    assert chat["live"] and chat["ladders"]["blind"]["battles"] == 2 and "figures" not in chat
    encoder = leaderboard_view(filters=Filters("encoder"), snapshot=snapshot)
    assert encoder["names"] == ["Enc 1", "Enc 2"] and encoder["ladders"]["blind"]["battles"] == 1
    march = leaderboard_view(filters=filters_parse(kind="chat", since="2024-03-01", until="2024-03-01"),
                             snapshot=snapshot)
    assert not march["live"] and march["computed_at"] is None
    assert march["ladders"]["blind"]["battles"] == 1 and march["ladders"]["energy"]["battles"] == 1
    assert set(march["names"]) == {"Big A", "Small A"}
    recent = leaderboard_view(filters=filters_parse(since="2024-03-02"), snapshot=snapshot, figures=False)
    assert recent["ladders"]["blind"]["battles"] == 1 and recent["ladders"]["energy"]["battles"] == 0
    completion = leaderboard_view(filters=Filters("completion"), snapshot=snapshot, figures=False)
    assert completion["names"] == [] and completion["ladders"]["blind"]["rows"] == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"kind": "video"}, "Unknown kind"), ({"since": "yesterday"}, "since must be a date"),
     ({"since": "2025-02-02", "until": "2025-02-01"}, "after the end")],
)
def test_bad_filters_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        filters_parse(**kwargs)


def test_imported_battles_are_part_of_the_scan(quad, make_battle, vote):
    from analysis.models import Competitor

    ext = Competitor.objects.create(name="ext", kind="chat")
    big_a = quad[0]
    vote(make_battle(big_a, quad[1]), "a")
    alpha = Competitor.objects.get(name="Big A")
    ImportedBattle.objects.create(source_key="q1", competitor_a=ext, competitor_b=alpha, winner="b",
                                  tstamp=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    records = list(battle_records())
    assert [r.key for r in records][0] == "q1"  # time order: the imported battle is older
    assert [(r.model_a, r.model_b, r.winner) for r in records] == [("ext", "Big A", "b"), ("Big A", "Small A", "a")]


# --- battle log files -------------------------------------------------------------------------

GOOD = {"model_a": "x", "model_b": "y", "winner": "model_a", "tstamp": 1700000000.0}


def write_lines(path, lines):
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        ({"model_b": "y", "winner": "tie", "tstamp": 1}, '"model_a" is missing'),
        ({"model_a": "x", "model_b": "x", "winner": "tie", "tstamp": 1}, "are the same"),
        ({"model_a": "x", "model_b": "y", "winner": "model_c", "tstamp": 1}, '"winner" must be one of'),
        ({"model_a": "x", "model_b": "y", "winner": "tie"}, '"tstamp" is missing'),
        ({**GOOD, "tstamp": "noon"}, '"tstamp" must be a number'),
        ({**GOOD, "energy_a_j": -1}, '"energy_a_j" must be at least 0'),
        ({**GOOD, "output_tokens_b": 1.5}, "whole number"),
        ({**GOOD, "winner_after_energy": "a"}, '"winner_after_energy" must be one of'),
    ],
)
def test_a_malformed_line_is_named(tmp_path, bad, message):
    path = write_lines(tmp_path / "log.jsonl", [GOOD, "", GOOD, bad, GOOD])
    with pytest.raises(BattleLogError, match=message) as error:
        list(BattleLogReader(path))
    assert "log.jsonl, line 4" in str(error.value)


def test_a_malformed_item_of_a_json_array_is_named_by_line(tmp_path):
    items = [GOOD, GOOD, {**GOOD, "winner": "b wins"}]
    path = tmp_path / "log.json"
    path.write_text("[\n" + ",\n".join(json.dumps(item) for item in items) + "\n]\n")
    with pytest.raises(BattleLogError, match=r"line 4 \(battle 3\).*winner"):
        list(BattleLogReader(path))
    path.write_text('[\n{"model_a": "x",\n "model_b": }\n]')
    with pytest.raises(BattleLogError, match="line 3: not valid JSON"):
        list(BattleLogReader(path))


def test_log_reader_reads_fastchat_rows_and_skips_named_ones(tmp_path):
    rows = [
        {**GOOD, "judge": "arena_user_1", "anony": True, "language": "English"},
        {**GOOD, "winner": "tie (bothbad)", "anony": False},
        {**GOOD, "winner": "model_b", "question_id": "abc", "winner_after_energy": "tie",
         "tstamp_after_energy": 1700000005.0, "energy_a_j": 2.5, "energy_b_j": None, "kind": "encoder"},
        GOOD,  # the same content as the first row minus extra keys: a different key
    ]
    reader = BattleLogReader(write_lines(tmp_path / "log.jsonl", rows))
    records = list(reader)
    assert reader.skipped == 1 and reader.read == 3
    assert [r.winner for r in records] == ["a", "b", "a"]
    assert records[1].key == "abc" and records[1].winner_after == "tie" and records[1].kind == "encoder"
    assert records[1].energy_a_j == 2.5 and records[1].energy_b_j is None
    assert records[0].key.startswith("sha256-") and records[0].key != records[2].key
    again = list(BattleLogReader(tmp_path / "log.jsonl"))
    assert [r.key for r in again] == [r.key for r in records]  # stable keys: a re-import is recognised


def test_records_survive_the_log_format(quad, make_battle, vote, tmp_path):
    random_votes(quad, make_battle, vote, 12, seed=5)
    records = list(battle_records())
    path = tmp_path / "out.jsonl"
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in records))
    assert list(BattleLogReader(path)) == records


def test_missing_file_is_explained(tmp_path):
    with pytest.raises(BattleLogError, match="Cannot read"):
        list(BattleLogReader(tmp_path / "nope.jsonl"))
