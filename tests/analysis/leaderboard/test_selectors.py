"""Reads: the aggregates and a scan of the votes agree, for every date range; filters; the cache of
date-filtered boards; the scan holds imported battles."""

import datetime as dt

import pytest
from django.core.cache import cache

from analysis.leaderboard.board import CONTEXTUAL_KEYS, board_compute, board_inputs_from_records
from analysis.leaderboard.selectors import boards
from analysis.leaderboard.selectors.boards import ELO_NOTE, board_inputs_from_tables, leaderboard_view
from analysis.leaderboard.selectors.filters import Filters, filters_parse, ranked_kind_choices
from analysis.leaderboard.selectors.records import battle_records
from analysis.leaderboard.services.rebuild import aggregates_rebuild
from analysis.leaderboard.services.refit import leaderboard_refit
from analysis.models import ImportedBattle
from arena.models import Vote
from modelhub.models import Model


def assert_same_inputs(tables, scan, *, elo: bool = True) -> None:
    """Inputs from the daily sums equal those of a scan of the same battles (Elo only when ``elo``)."""
    for ladder in ("blind", "energy"):
        assert sorted(tables.pairs[ladder]) == sorted(scan.pairs[ladder])
        if elo:
            assert tables.elo[ladder] == pytest.approx(scan.elo[ladder], abs=1e-9)
        else:
            assert tables.elo[ladder] == {}
    assert tables.energy.keys() == scan.energy.keys()
    for name, sums in tables.energy.items():
        assert vars(sums) == pytest.approx(vars(scan.energy[name]))
    assert {k: vars(v) for k, v in tables.gea.items()} == {k: vars(v) for k, v in scan.gea.items()}
    assert tables.families == scan.families


def test_aggregates_and_a_scan_of_the_votes_agree(quad, make_battle, vote, random_votes):
    random_votes(quad, make_battle, vote, 50, seed=1)
    tables = board_inputs_from_tables()["chat"]
    scan = board_inputs_from_records(battle_records())["chat"]
    assert_same_inputs(tables, scan)
    assert tables.families == {"Big A": "Fam A", "Small A": "Fam A", "Big B": "Fam B", "Small B": "Fam B"}
    assert tables.contexts == scan.contexts and len(tables.contexts) == 50
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
    aggregates_rebuild()  # the vote moved to another day after it was counted
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
    assert march["elo_note"] == ELO_NOTE and chat["elo_note"] is None
    assert [row["elo"] for row in march["ladders"]["blind"]["rows"]] == [None, None]  # Elo is all time only
    assert all(row["elo"] is not None for row in chat["ladders"]["blind"]["rows"])
    recent = leaderboard_view(filters=filters_parse(since="2024-03-02"), snapshot=snapshot, figures=False)
    assert recent["ladders"]["blind"]["battles"] == 1 and recent["ladders"]["energy"]["battles"] == 0
    completion = leaderboard_view(filters=Filters("completion"), snapshot=snapshot, figures=False)
    assert completion["names"] == [] and completion["ladders"]["blind"]["rows"] == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"kind": "video"}, "Unknown kind 'video': use one of chat, encoder"),
     ({"kind": "completion"}, "Completion models are not ranked"), ({"since": "yesterday"}, "since must be a date"),
     ({"since": "2025-02-02", "until": "2025-02-01"}, "after the end")],
)
def test_bad_filters_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        filters_parse(**kwargs)


def test_the_kinds_offered_are_the_ranked_ones():
    assert [value for value, _ in ranked_kind_choices()] == ["chat", "encoder"]
    assert filters_parse(kind=" encoder ").kind == "encoder"


DAYS = [dt.date(2025, 1, d) for d in (5, 6, 7, 9)]


RANGES = {
    "all": (None, None), "since": (DAYS[1], None), "until": (None, DAYS[1]), "one day": (DAYS[1], DAYS[1]),
    "two days": (DAYS[1], DAYS[2]), "a day without votes": (dt.date(2025, 1, 8), dt.date(2025, 1, 8)),
    "the future": (dt.date(2030, 1, 1), None), "every day": (DAYS[0], DAYS[-1]),
}


def test_a_date_range_from_the_daily_sums_equals_the_scan(quad, make_battle, dated_votes):
    dated_votes(quad, make_battle, 60, seed=3, days=DAYS)
    for label, (since, until) in RANGES.items():
        assert assert_same_range(since, until), label


def assert_same_range(since: dt.date | None, until: dt.date | None) -> bool:
    start, end = Filters(since=since, until=until).bounds()
    scan = board_inputs_from_records(battle_records(kind="chat", start=start, end=end)).get("chat")
    tables = board_inputs_from_tables(kind="chat", since=since, until=until).get("chat")
    if scan is None:  # nothing in the range
        assert tables is None
        return True
    dated = since is not None or until is not None
    assert_same_inputs(tables, scan, elo=not dated)
    assert tables.contexts == scan.contexts  # same battles, same order (time of the blind vote)
    left = board_compute(tables, rounds=5, figures=False)
    right = board_compute(scan, rounds=5, figures=False)
    for ladder in ("blind", "energy"):
        rows = [{k: v for k, v in row.items() if k != "elo" or not dated} for row in left["ladders"][ladder]["rows"]]
        assert rows == [{k: v for k, v in row.items() if k != "elo" or not dated}
                        for row in right["ladders"][ladder]["rows"]]
    for section in ("names", "energy", "gea", "matrices"):
        assert left[section] == right[section]
    return True


def test_the_rebuild_gives_the_same_daily_sums_as_the_fold(quad, make_battle, dated_votes):
    dated_votes(quad, make_battle, 40, seed=4, days=DAYS)
    folded = {since: board_inputs_from_tables(since=since, until=since) for since in DAYS}
    aggregates_rebuild()
    for since, before in folded.items():
        after = board_inputs_from_tables(since=since, until=since)
        assert_same_inputs(after["chat"], before["chat"], elo=False)
        assert after["chat"].contexts == before["chat"].contexts


def test_a_date_filtered_board_is_computed_once_per_snapshot(quad, make_battle, vote, monkeypatch):
    cache.clear()
    vote(make_battle(quad[0], quad[1]), "a", "b")
    snapshot = leaderboard_refit(push=False, rounds=2)
    calls = []
    real = boards.board_inputs_from_tables
    monkeypatch.setattr(boards, "board_inputs_from_tables",
                        lambda **kw: (kw.get("since") and calls.append(kw)) or real(**kw))
    today = filters_parse(since=dt.datetime.now(dt.UTC).date().isoformat())
    first = leaderboard_view(filters=today, snapshot=snapshot, figures=False)
    assert leaderboard_view(filters=today, snapshot=snapshot, figures=False) == first
    assert len(calls) == 1 and calls[0]["contexts"] is False  # the date board has no per-battle sections
    vote(make_battle(quad[0], quad[2]), "b")
    newer = leaderboard_refit(push=False, rounds=2)
    assert leaderboard_view(filters=today, snapshot=newer, figures=False)["ladders"]["blind"]["battles"] == 2
    assert len(calls) == 2


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


def test_per_battle_fits_are_spaced_out_by_their_cost(quad, make_battle, vote, settings):
    vote(make_battle(quad[0], quad[1]), "a", "b")
    first = leaderboard_refit(push=False, rounds=2).data["boards"]["chat"]
    assert first["contextual"]["battles"] == 1 and "style_control" in first
    vote(make_battle(quad[0], quad[2]), "b", "b")
    settings.ANALYSIS_CONTEXTUAL_SPACING = 1e9  # not due again: the last fits are kept, the ladders move
    kept = leaderboard_refit(push=False, rounds=2).data["boards"]["chat"]
    assert kept["ladders"]["blind"]["battles"] == 2
    assert {k: kept[k] for k in CONTEXTUAL_KEYS} == {k: first[k] for k in CONTEXTUAL_KEYS}
    settings.ANALYSIS_CONTEXTUAL_SPACING = 0  # due at every refit
    fresh = leaderboard_refit(push=False, rounds=2).data["boards"]["chat"]
    assert fresh["contextual"]["battles"] == 2
    assert fresh["contextual"]["computed_at"] > first["contextual"]["computed_at"]


def test_per_battle_fits_are_due_for_a_board_without_them():
    assert boards.contextual_due({})
    assert boards.contextual_due({"chat": {"contextual": {"computed_at": 1e12, "seconds": 1.0}}, "encoder": {}})
