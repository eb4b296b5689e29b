"""Reads: the aggregates and a scan of the votes agree; filters; the scan holds imported battles."""

import datetime as dt

import pytest

from analysis.leaderboard.board import board_compute, board_inputs_from_records
from analysis.leaderboard.selectors import (
    Filters,
    battle_records,
    board_inputs_from_tables,
    filters_parse,
    leaderboard_view,
)
from analysis.leaderboard.services import leaderboard_refit
from analysis.models import ImportedBattle
from arena.models import Vote
from modelhub.models import Model


def test_aggregates_and_a_scan_of_the_votes_agree(quad, make_battle, vote, random_votes):
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
