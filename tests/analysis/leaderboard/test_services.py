"""The running aggregates move with each vote, in its transaction; daily sums and context rows;
the refit; the debounce; the rebuild; imports."""

import datetime as dt
import json
import math
import random
import threading
from datetime import timedelta
from importlib import import_module

import pytest
from django.db import connection, transaction
from django.utils import timezone

from analysis.leaderboard.battle_log import BattleLogError
from analysis.leaderboard.ratings import PairCounts, leaderboard, online_elo
from analysis.leaderboard.services import votes as vote_services
from analysis.leaderboard.services.rebuild import aggregates_rebuild, battles_import
from analysis.leaderboard.services.refit import leaderboard_refit
from analysis.leaderboard.services.votes import aggregates_fold, pair_counts_record
from analysis.models import (
    BattleContext,
    Competitor,
    EloRating,
    EnergyStat,
    GeaCount,
    ImportedBattle,
    LeaderboardSnapshot,
    PairCount,
    PendingVote,
    RefitState,
)
from arena.models import Battle, Response, Vote
from arena.services import vote_cast
from tests.factories import close_voting


def counts_table() -> dict:
    return {
        (row.ladder, row.competitor_a.name, row.competitor_b.name, row.outcome): row.count
        for row in PairCount.objects.select_related("competitor_a", "competitor_b")
    }


def elo_table() -> dict:
    return {(row.ladder, row.competitor.name): row.rating for row in EloRating.objects.select_related("competitor")}


@pytest.fixture
def trio(make_contender):
    return make_contender(name="Alpha"), make_contender(name="Beta"), make_contender(name="Gamma")


def test_each_vote_moves_its_ladder_count(trio, make_battle, vote):
    alpha, beta, _ = trio
    vote(make_battle(alpha, beta), "a", "b")
    vote(make_battle(beta, alpha), "tie")
    vote(make_battle(alpha, beta), "a")
    assert counts_table() == {
        ("blind", "Alpha", "Beta", "a"): 2,
        ("energy", "Alpha", "Beta", "b"): 1,
        ("blind", "Beta", "Alpha", "tie"): 1,
    }


def test_a_rolled_back_vote_leaves_no_count(trio, make_battle, vote):
    alpha, beta, _ = trio
    battle = make_battle(alpha, beta)
    with pytest.raises(RuntimeError), transaction.atomic():
        vote(battle, "a", "b")
        # written inside the vote's transaction...
        assert PairCount.objects.filter(ladder="energy").count() == 1
        raise RuntimeError("the request failed after the vote")
    # ... and gone with it
    assert aggregates_fold() == 0
    assert not Vote.objects.exists()
    assert not PairCount.objects.exists()
    assert not EloRating.objects.exists()
    assert not EnergyStat.objects.exists()
    assert not GeaCount.objects.exists()


@pytest.mark.parametrize(
    "flags",
    [{"mode": Battle.Mode.NAMED}, {"has_error": True}, {"identity_leak": True}],
    ids=["named", "has_error", "identity_leak"],
)
def test_excluded_battles_never_count(trio, make_battle, vote, flags):
    alpha, beta, _ = trio
    battle = vote(make_battle(alpha, beta, **flags), "a", "b")
    assert Vote.objects.get(battle=battle).final_choice == "b"  # the vote itself is stored
    pair_counts_record(battle=battle, ladder="blind", choice="a")
    aggregates_fold()
    for model in (PairCount, EloRating, EnergyStat, GeaCount, Competitor, PendingVote):
        assert not model.objects.exists(), model.__name__


def test_a_battle_flagged_after_its_vote_is_not_folded(trio, make_battle):
    battle = make_battle(*trio[:2])
    vote_cast(battle_id=battle.id, session_key=battle.session_key, stage="blind", choice="a")
    assert PendingVote.objects.count() == 1 and not PairCount.objects.exists()  # pending until the fold
    Battle.objects.filter(id=battle.id).update(identity_leak=True)
    close_voting(battle)
    assert aggregates_fold() == 1
    assert not PairCount.objects.exists() and not PendingVote.objects.exists()


def test_unknown_ladder_or_choice_is_refused(trio, make_battle):
    battle = make_battle(*trio[:2])
    with pytest.raises(ValueError, match="ladder"):
        pair_counts_record(battle=battle, ladder="named", choice="a")
    with pytest.raises(ValueError, match="choice"):
        pair_counts_record(battle=battle, ladder="blind", choice="c")


def test_elo_is_online_elo_in_vote_order(trio, make_battle, vote):
    alpha, beta, gamma = trio
    vote(make_battle(alpha, beta), "a")
    # by hand: equal ratings, expected score 0.5, K = 4 -> +-2
    assert elo_table() == {("blind", "Alpha"): 1002.0, ("blind", "Beta"): 998.0}
    rng = random.Random(3)
    names = {c.id: c.name for c in trio}
    sequence = [("Alpha", "Beta", "a")]
    for _ in range(25):
        a, b = rng.sample(trio, 2)
        choice = rng.choice(["a", "b", "tie", "bothbad"])
        vote(make_battle(a, b), choice)
        sequence.append((names[a.id], names[b.id], choice))
    expected = online_elo(sequence, ["Alpha", "Beta", "Gamma"])
    got = {name: rating for (ladder, name), rating in elo_table().items() if ladder == "blind"}
    assert got == pytest.approx(expected, abs=1e-9)
    assert {row.battles for row in EloRating.objects.all()} <= set(range(1, 27))
    assert sum(row.battles for row in EloRating.objects.all()) == 2 * len(sequence)


def test_energy_sums_count_both_answers_once_per_battle(trio, make_battle, vote):
    alpha, beta, _ = trio
    vote(make_battle(alpha, beta, joules=(2.0, 1.0), tokens=(10, 20)), "a", "b")
    vote(make_battle(beta, alpha, joules=(3.0, 4.0), tokens=(0, 10)), "b")
    vote(make_battle(alpha, beta, joules=(None, 5.0), tokens=(10, 10)), "tie")
    a = EnergyStat.objects.get(competitor__name="Alpha")
    b = EnergyStat.objects.get(competitor__name="Beta")
    # Alpha: 2 J / 10 tokens and 4 J / 10 tokens (its reading-less answer is left out)
    assert (a.responses, a.joules_sum, a.joules_sq_sum) == (2, 6.0, 20.0)
    assert (a.token_responses, a.jpt_sum, a.output_tokens_sum) == (2, pytest.approx(0.6), 20)
    # Beta: 1 J / 20 tokens, 3 J / 0 tokens (no per-token figure), 5 J / 10 tokens
    assert (b.responses, b.joules_sum, b.joules_sq_sum) == (3, 9.0, 35.0)
    assert (b.token_responses, b.jpt_sum, b.output_tokens_sum) == (2, pytest.approx(0.55), 30)


def test_gea_counts_on_votes_with_known_answers(trio, make_battle, vote):
    alpha, beta, _ = trio
    more_a = {"joules": (2.0, 1.0)}  # side a used more energy
    vote(make_battle(alpha, beta, **more_a), "a", "b")  # eligible, switched to the smaller
    vote(make_battle(alpha, beta, **more_a), "a", "a")  # eligible, kept
    vote(make_battle(alpha, beta, **more_a), "a", "tie")  # eligible, moved to a tie
    vote(make_battle(beta, alpha, joules=(5.0, 6.0)), "a", "b")  # blind chose less: opposite, switched
    vote(make_battle(alpha, beta, **more_a), "tie", "a")  # blind was not a side: not eligible
    vote(make_battle(alpha, beta, **more_a), "a")  # no second vote: not eligible
    vote(make_battle(alpha, beta, joules=(1.0, 1.0)), "a", "b")  # equal energy: not eligible
    row = GeaCount.objects.get()
    assert (row.eligible, row.switched, row.to_tie, row.to_bothbad) == (3, 1, 1, 0)
    assert (row.opposite_eligible, row.opposite_switched) == (1, 1)
    board = leaderboard_refit(push=False, rounds=5).data["boards"]["chat"]
    assert board["gea"]["overall"]["rate"] == pytest.approx(1 / 3)
    assert board["gea"]["overall"]["opposite_rate"] == 1.0
    assert list(board["gea"]["by_pair"]) == ["Alpha vs Beta"]


def test_refit_equals_the_ratings_kernel_on_the_same_counts(trio, make_battle, vote, settings):
    rng = random.Random(7)
    strength = {c.id: s for c, s in zip(trio, (0.8, 0.5, 0.2), strict=True)}
    for _ in range(60):
        a, b = rng.sample(trio, 2)
        p = strength[a.id] / (strength[a.id] + strength[b.id])
        blind = "a" if rng.random() < p else rng.choice(["b", "tie"])
        vote(make_battle(a, b), blind, rng.choice(["a", "b", "tie", "bothbad"]))
    snapshot = leaderboard_refit(push=False, rounds=30)
    board = snapshot.data["boards"]["chat"]
    names = sorted(c.name for c in trio)
    for ladder in ("blind", "energy"):
        rows = [(a, b, outcome, n) for (lad, a, b, outcome), n in counts_table().items() if lad == ladder]
        expected = leaderboard(
            PairCounts.from_rows(names, rows), rounds=30, seed=0,
            prior=settings.ANALYSIS_PRIOR_SCALE, provisional=settings.ANALYSIS_PROVISIONAL_BATTLES,
        )
        got = board["ladders"][ladder]["rows"]
        keys = ("name", "rating", "lower", "upper", "rank", "battles", "wins", "ties", "losses")
        assert [{k: r[k] for k in keys} for r in got] == [{k: r[k] for k in keys} for r in expected]
        assert board["ladders"][ladder]["battles"] == 60
    blind_ranks = {r["name"]: r["rank"] for r in board["ladders"]["blind"]["rows"]}
    energy_ranks = {r["name"]: r["rank"] for r in board["ladders"]["energy"]["rows"]}
    for row in board["side_by_side"]:
        assert row["rank_change"] == blind_ranks[row["name"]] - energy_ranks[row["name"]]


def test_refit_keeps_one_snapshot(trio, make_battle, vote):
    vote(make_battle(*trio[:2]), "a")
    first = leaderboard_refit(push=False, rounds=2)
    second = leaderboard_refit(push=False, rounds=2)
    assert list(LeaderboardSnapshot.objects.values_list("id", flat=True)) == [second.id]
    assert second.computed_at >= first.computed_at
    assert second.data["kinds"] == ["chat"]


def test_refit_is_scheduled_once_per_pending_window(trio, make_battle, vote, monkeypatch, settings,
                                                    django_capture_on_commit_callbacks):
    settings.ANALYSIS_REFIT_DELAY_S = 1.5
    calls = []
    monkeypatch.setattr("analysis.tasks.refit_leaderboard.apply_async", lambda **kw: calls.append(kw))
    alpha, beta, _ = trio
    with django_capture_on_commit_callbacks(execute=True):
        vote(make_battle(alpha, beta), "a", "b")
    with django_capture_on_commit_callbacks(execute=True):
        vote(make_battle(alpha, beta), "b", "b")
    assert calls == [{"countdown": 1.5}]  # four votes, one refit pending
    leaderboard_refit(push=False, rounds=1)  # the refit clears the flag ...
    with django_capture_on_commit_callbacks(execute=True):
        vote(make_battle(alpha, beta), "tie", "tie")
    assert len(calls) == 2  # ... so the next vote schedules the next one
    # a refit scheduled long ago that never ran (a lost task) is scheduled again
    RefitState.objects.update(scheduled_at=timezone.now() - timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        vote(make_battle(alpha, beta), "tie", "tie")
    assert len(calls) == 3


def test_a_broker_failure_does_not_fail_the_vote(trio, make_battle, vote, monkeypatch,
                                                 django_capture_on_commit_callbacks):
    def refuse(**kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("analysis.tasks.refit_leaderboard.apply_async", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        battle = vote(make_battle(*trio[:2]), "a", "a")  # the final vote makes it public: a refit is due
    assert Vote.objects.filter(battle=battle).exists()
    assert RefitState.objects.get().scheduled_at is None  # the next vote tries again


def test_rebuild_recomputes_the_same_aggregates(trio, make_battle, vote):
    rng = random.Random(11)
    for _ in range(30):
        a, b = rng.sample(trio, 2)
        vote(make_battle(a, b, joules=(rng.uniform(1, 5), rng.uniform(1, 5)), tokens=(rng.randint(0, 9), 12)),
             rng.choice(["a", "b", "tie"]), rng.choice(["a", "b", "bothbad", None]))
    # half of them on an older day: the sums are kept per day of the blind vote
    Vote.objects.filter(battle_id__in=Battle.objects.order_by("id").values("id")[:15]).update(
        blind_at=dt.datetime(2025, 6, 1, 23, 59, tzinfo=dt.UTC)
    )
    aggregates_rebuild()
    before = tables_all()
    assert {day for *_, day in before[0]} == {dt.date(2025, 6, 1), dt.datetime.now(dt.UTC).date()}
    result = aggregates_rebuild()
    assert result.battles == 30
    assert_same_tables(tables_all(), before)


def tables_all() -> tuple:
    return counts_table_by_day(), elo_table(), energy_rows(), gea_rows(), context_rows()


def assert_same_tables(after: tuple, before: tuple) -> None:
    assert after[0] == before[0]
    assert after[1] == pytest.approx(before[1], abs=1e-9)
    assert after[2].keys() == before[2].keys()
    for key in before[2]:
        assert after[2][key] == pytest.approx(before[2][key])
    assert after[3] == before[3]
    assert after[4] == before[4]


def counts_table_by_day() -> dict:
    return {
        (row.ladder, row.competitor_a.name, row.competitor_b.name, row.outcome, row.day): row.count
        for row in PairCount.objects.select_related("competitor_a", "competitor_b")
    }


def energy_rows() -> dict:
    fields = ["responses", "joules_sum", "joules_sq_sum", "token_responses", "jpt_sum", "jpt_sq_sum",
              "output_tokens_sum"]
    rows = EnergyStat.objects.select_related("competitor")
    return {(row.competitor.name, row.day): [getattr(row, f) for f in fields] for row in rows}


def gea_rows() -> dict:
    return {
        (row.competitor_lo.name, row.competitor_hi.name, row.day): (
            row.eligible, row.switched, row.to_tie, row.to_bothbad, row.opposite_eligible, row.opposite_switched
        )
        for row in GeaCount.objects.select_related("competitor_lo", "competitor_hi")
    }


CONTEXT_FIELDS = ("kind", "tstamp", "competitor_a__name", "competitor_b__name", "winner", "winner_after", "tokens_a",
                  "tokens_b", "headers_a", "headers_b", "lists_a", "lists_b", "bold_a", "bold_b", "energy_a_j",
                  "energy_b_j")


def context_rows() -> list:
    return list(BattleContext.objects.order_by("tstamp", "id").values_list(*CONTEXT_FIELDS))


def test_a_fold_keeps_one_context_row_per_battle_and_sums_per_day(trio, make_battle, vote):
    alpha, beta, _ = trio
    battle = make_battle(alpha, beta, joules=(2.0, 1.5), tokens=(10, 20))
    Response.objects.filter(battle=battle, side="a").update(header_count=2, list_count=5, bold_count=1)
    vote(battle, "a", "b")
    vote(make_battle(beta, alpha, joules=(3.0, 1.0), tokens=(7, 8)), "tie")
    blind_at = Vote.objects.get(battle=battle).blind_at
    assert context_rows() == [
        ("chat", blind_at, "Alpha", "Beta", "a", "b", 10, 20, 2, None, 5, None, 1, None, 2.0, 1.5),
        ("chat", Vote.objects.exclude(battle=battle).get().blind_at, "Beta", "Alpha", "tie", "", 7, 8, None, None,
         None, None, None, None, 3.0, 1.0),
    ]
    assert set(PairCount.objects.values_list("day", flat=True)) == {blind_at.date()}
    assert set(EnergyStat.objects.values_list("day", flat=True)) == set(GeaCount.objects.values_list("day", flat=True))


def test_a_second_vote_folded_after_its_blind_vote_completes_the_context(trio, make_battle):
    battle = make_battle(*trio[:2])
    vote_cast(battle_id=battle.id, session_key=battle.session_key, stage="blind", choice="a")
    vote_cast(battle_id=battle.id, session_key=battle.session_key, stage="final", choice="tie")
    assert aggregates_fold(limit=1) == 1  # the blind vote alone: the batch ends between the two
    assert BattleContext.objects.get().winner_after == ""
    assert aggregates_fold() == 1
    assert BattleContext.objects.get().winner_after == "tie"
    assert PairCount.objects.get(ladder="energy").outcome == "tie"


def test_the_migration_recomputes_sums_without_a_day(trio, make_battle, vote):
    """Before the daily sums, rows had no day (the migration gives them 1970-01-01) and no contexts."""
    from django.apps import apps

    rng = random.Random(5)
    for _ in range(12):
        a, b = rng.sample(trio, 2)
        vote(make_battle(a, b), rng.choice(["a", "b", "tie"]), rng.choice(["a", "b", None]))
    expected = tables_all()
    for model in (PairCount, EnergyStat, GeaCount):
        model.objects.update(day=dt.date(1970, 1, 1))
    BattleContext.objects.all().delete()
    import_module("analysis.migrations.0005_daily_aggregates_battle_context").aggregates_recompute(apps, None)
    assert_same_tables(tables_all(), expected)


def test_a_contender_adopts_an_imported_competitor_of_its_name(make_contender, make_battle, vote):
    imported = Competitor.objects.create(name="Alpha", family="", kind="chat")
    alpha, beta = make_contender(name="Alpha", family="Greek"), make_contender(name="Beta")
    vote(make_battle(alpha, beta), "a")
    imported.refresh_from_db()
    assert imported.contender_id == alpha.id and imported.family == "Greek"
    assert Competitor.objects.count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are tested on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_votes_lose_no_count(make_contender, make_battle, monkeypatch):
    monkeypatch.setattr(vote_services, "leaderboard_refit_schedule", lambda: False)
    alpha, beta = make_contender(name="Alpha"), make_contender(name="Beta")
    battles = [make_battle(alpha, beta) for _ in range(24)]
    for battle in battles:
        close_voting(battle)  # public: folded without a final vote
    errors, barrier = [], threading.Barrier(8)

    def work(chunk):
        from django.db import connection as conn

        try:
            barrier.wait()
            for battle in chunk:
                with transaction.atomic():
                    pair_counts_record(battle=battle, ladder="blind", choice="a")
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(battles[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert PendingVote.objects.count() == 24
    assert aggregates_fold() == 24
    assert PairCount.objects.get().count == 24
    assert sorted(EloRating.objects.values_list("battles", flat=True)) == [24, 24]
    ratings = dict(EloRating.objects.values_list("competitor__name", "rating"))
    expected = online_elo([("Alpha", "Beta", "a")] * 24, ["Alpha", "Beta"])
    assert ratings == pytest.approx(expected, abs=1e-9)
    assert EnergyStat.objects.get(competitor__name="Alpha").responses == 24
    assert math.isclose(EnergyStat.objects.get(competitor__name="Beta").joules_sum, 24.0)


def test_reusing_the_previous_snapshot_gives_the_same_board(trio, make_battle, vote, settings):
    settings.ANALYSIS_CONTEXTUAL_SPACING = 0  # per-battle fits at every refit, as a cold one does
    rng = random.Random(5)
    for _ in range(20):
        a, b = rng.sample(trio, 2)
        vote(make_battle(a, b, joules=(rng.uniform(1, 3), rng.uniform(1, 3))), rng.choice("ab"),
             rng.choice(["a", "b", None]))
    leaderboard_refit(push=False, rounds=8)
    vote(make_battle(trio[0], trio[2]), "a")  # moves the blind ladder only
    warm = leaderboard_refit(push=False, rounds=8).data
    cold = leaderboard_refit(push=False, rounds=8, reuse=False).data
    assert without_fit_times(warm) == without_fit_times(cold)
    vote(make_battle(trio[0], trio[2]), "b", "a")  # both ladders and the GEA counts
    warm = leaderboard_refit(push=False, rounds=8).data
    assert without_fit_times(warm) == without_fit_times(leaderboard_refit(push=False, rounds=8, reuse=False).data)
    assert warm["boards"]["chat"]["ladders"]["blind"]["battles"] == 22


FIT_TIMES = ("computed_at", "seconds")


def without_fit_times(data: dict) -> dict:
    """A snapshot's data but for when and how fast its per-battle fits ran (a fresh fit has its own)."""
    boards = {
        kind: {**board, "contextual": {k: v for k, v in board["contextual"].items() if k not in FIT_TIMES}}
        for kind, board in data["boards"].items()
    }
    return {**data, "boards": boards}


def test_votes_stay_pending_until_the_battle_is_revealed_or_closed(trio, make_battle, monkeypatch):
    from analysis.leaderboard.services.votes import pending_votes_release

    monkeypatch.setattr(vote_services, "leaderboard_refit_schedule", lambda: True)  # its own tests are above
    revealed, left = make_battle(*trio[:2]), make_battle(*trio[:2])
    for battle in (revealed, left):
        vote_cast(battle_id=battle.id, session_key=battle.session_key, stage="blind", choice="a")
    assert aggregates_fold() == 0 and PendingVote.objects.count() == 2  # blind votes: nothing public yet
    assert pending_votes_release() is False
    vote_cast(battle_id=revealed.id, session_key=revealed.session_key, stage="final", choice="b")
    assert aggregates_fold() == 2  # the revealed battle's two votes
    assert sorted(PairCount.objects.values_list("ladder", "count")) == [("blind", 1), ("energy", 1)]
    close_voting(left)  # its vote window ends without a final vote
    assert pending_votes_release() is True  # the workers' periodic check queues the refit
    assert aggregates_fold() == 1
    assert PairCount.objects.get(ladder="blind", outcome="a").count == 2 and not PendingVote.objects.exists()


def test_the_blind_vote_queues_no_refit_and_the_final_vote_does(
    trio, make_battle, monkeypatch, django_capture_on_commit_callbacks
):
    scheduled = []
    monkeypatch.setattr(vote_services, "leaderboard_refit_schedule", lambda: scheduled.append(1))
    battle = make_battle(*trio[:2])
    with django_capture_on_commit_callbacks(execute=True):
        vote_cast(battle_id=battle.id, session_key=battle.session_key, stage="blind", choice="a")
    assert scheduled == []
    with django_capture_on_commit_callbacks(execute=True):
        vote_cast(battle_id=battle.id, session_key=battle.session_key, stage="final", choice="a")
    assert scheduled == [1]


def test_a_refit_that_changes_nothing_keeps_the_snapshot(trio, make_battle, vote):
    vote(make_battle(*trio[:2]), "a", "b")
    first = leaderboard_refit(push=False, rounds=8)
    assert leaderboard_refit(push=False, rounds=8).id == first.id
    unrevealed = make_battle(*trio[:2])
    vote_cast(battle_id=unrevealed.id, session_key=unrevealed.session_key, stage="blind", choice="b")
    assert leaderboard_refit(push=False, rounds=8).id == first.id  # a blind vote shows nowhere
    vote(make_battle(*trio[:2]), "b", "b")
    assert leaderboard_refit(push=False, rounds=8).id != first.id


def test_a_rebuild_keeps_the_votes_of_battles_still_open(trio, make_battle, vote):
    vote(make_battle(*trio[:2]), "a", "a")
    open_battle = make_battle(*trio[:2])
    vote_cast(battle_id=open_battle.id, session_key=open_battle.session_key, stage="blind", choice="b")
    aggregates_rebuild()
    assert PendingVote.objects.filter(battle=open_battle).count() == 1
    assert PairCount.objects.get(ladder="blind").outcome == "a"
    vote_cast(battle_id=open_battle.id, session_key=open_battle.session_key, stage="final", choice="b")
    aggregates_fold()
    assert sorted(PairCount.objects.filter(ladder="blind").values_list("outcome", "count")) == [("a", 1), ("b", 1)]


def write_log(path, lines) -> str:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return str(path)


GOOD = [
    {"question_id": "x1", "model_a": "Ext A", "model_b": "Ext B", "winner": "model_a", "tstamp": 1.7e9,
     "conv_metadata": {"sum_assistant_a_tokens": 50, "sum_assistant_b_tokens": 80, "header_count_a": 2,
                       "header_count_b": {"h1": 1, "h2": 2}, "list_count_a": 0, "list_count_b": 4,
                       "bold_count_a": 1, "bold_count_b": 0}},
    {"question_id": "x2", "model_a": "Ext B", "model_b": "Ext A", "winner": "tie", "tstamp": 1.7e9 + 86_400,
     "winner_after_energy": "model_b", "energy_a_j": 3.0, "energy_b_j": 1.0},
]


def test_an_import_stores_the_markdown_counts_and_contexts(db, tmp_path):
    result = battles_import(path=write_log(tmp_path / "log.jsonl", GOOD))
    assert result.imported == 2
    first = ImportedBattle.objects.get(source_key="x1")
    assert (first.headers_a, first.headers_b, first.lists_a, first.lists_b, first.bold_a, first.bold_b) == (
        2, 3, 0, 4, 1, 0)
    day = dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    assert context_rows() == [
        ("chat", day, "Ext A", "Ext B", "a", "", 50, 80, 2, 3, 0, 4, 1, 0, None, None),
        ("chat", day + timedelta(days=1), "Ext B", "Ext A", "tie", "b", None, None, None, None, None, None, None,
         None, 3.0, 1.0),
    ]
    assert sorted(PairCount.objects.values_list("ladder", "day", "count")) == [
        ("blind", day.date(), 1), ("blind", day.date() + timedelta(days=1), 1),
        ("energy", day.date() + timedelta(days=1), 1),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"model_a": "Ext A", "model_b": "Ext C", "winner": "model_c", "tstamp": 1.7e9}, r'line 3: "winner" must be'),
        ({"model_a": "Ext A", "model_b": "", "winner": "tie", "tstamp": 1.7e9}, r'line 3: "model_b" is missing'),
        ({"model_a": "Ext A", "model_b": "Ext C", "winner": "tie", "tstamp": 1.7e9, "conv_metadata": [1]},
         r'line 3: "conv_metadata" must be an object'),
        ({"model_a": "Ext A", "model_b": "Ext C", "winner": "tie", "tstamp": 1.7e9,
          "conv_metadata": {"header_count_a": -1}}, r'line 3: "conv_metadata.header_count_a" must be'),
        ('{"model_a": "Ext A", "model_b"', "line 3: not valid JSON"),
        ({"model_a": "Ext A", "model_b": "Ext C", "winner": "tie", "tstamp": 1.7e9, "kind": "completion"},
         r'line 3: "kind" must be one of chat, encoder'),
    ],
    ids=["winner", "model", "conv_metadata", "count", "json", "kind"],
)
def test_a_malformed_line_imports_nothing(trio, make_battle, vote, tmp_path, line, message):
    vote(make_battle(*trio[:2]), "a", "b")
    before = tables_all(), Competitor.objects.count()
    with pytest.raises(BattleLogError, match=message):
        battles_import(path=write_log(tmp_path / "log.jsonl", [*GOOD, line]))
    assert not ImportedBattle.objects.exists()
    assert (tables_all(), Competitor.objects.count()) == before


def test_an_import_that_mixes_kinds_imports_nothing(make_contender, tmp_path):
    make_contender(name="Enc", kind="encoder")
    Competitor.objects.create(name="Enc", kind="encoder")
    lines = [*GOOD, {"question_id": "x3", "model_a": "Ext A", "model_b": "Enc", "winner": "tie", "tstamp": 1.7e9}]
    with pytest.raises(BattleLogError, match="battle 'x3': 'Enc' is a encoder model here, not chat"):
        battles_import(path=write_log(tmp_path / "log.jsonl", lines))
    assert not ImportedBattle.objects.exists() and list(Competitor.objects.values_list("name", flat=True)) == ["Enc"]
    with pytest.raises(BattleLogError, match="kind 'completion' is not ranked"):
        battles_import(path=write_log(tmp_path / "log.jsonl", GOOD), kind="completion")


def test_a_second_vote_without_both_energies_stays_out_of_the_energy_aware_ladder(trio, make_battle, vote):
    """An engine served without a meter: its side has no joules (source "none"), the reveal says "not
    measured", and the second vote is no energy-aware vote; the blind vote still counts."""
    alpha, beta, _ = trio
    vote(make_battle(alpha, beta), "a", "b")
    unmeasured = make_battle(alpha, beta, joules=(None, 1.0))
    unmeasured.responses.filter(side="a").update(energy_source="none", energy_method="not measured: meter 'none'")
    vote(unmeasured, "a", "b")
    assert Vote.objects.get(battle=unmeasured).final_choice == "b"  # stored, only not counted there
    ladders: dict[str, int] = {}
    for row in PairCount.objects.all():
        ladders[row.ladder] = ladders.get(row.ladder, 0) + row.count
    assert ladders == {"blind": 2, "energy": 1}
    assert sum(row.battles for row in EloRating.objects.filter(ladder="energy")) == 2  # one battle, two sides
    # The leaderboard says how many were left out, and why (page, JSON and the command read this).
    from analysis.leaderboard.selectors.boards import battles_unmeasured

    left_out = battles_unmeasured(kind="chat")
    assert left_out["battles"] == 1 and "not measured" in left_out["reason"]


def test_a_control_groups_second_vote_is_a_second_look_not_an_energy_aware_vote(trio, make_battle, vote):
    """Both battles: the blind vote picked the hungrier answer (a, 2 J against 1 J), the second moved to the
    cheaper one. Shown the joules, that is an energy-aware vote and a switch; in control, neither."""
    alpha, beta, _ = trio
    vote(make_battle(alpha, beta), "a", "b")
    control = make_battle(alpha, beta)
    Battle.objects.filter(id=control.id).update(reveal="control")
    control.refresh_from_db()
    vote(control, "a", "b")
    ladders: dict[str, int] = {}
    for row in PairCount.objects.all():
        ladders[row.ladder] = ladders.get(row.ladder, 0) + row.count
    assert ladders == {"blind": 2, "energy": 1}
    assert sum(GeaCount.objects.values_list("eligible", flat=True)) == 1
    assert sum(GeaCount.objects.values_list("switched", flat=True)) == 1
    assert sorted(BattleContext.objects.values_list("reveal", "winner_after")) == [("control", "b"), ("joules", "b")]
    # A rebuild from the battles gives the same (the rule holds in both paths).
    aggregates_rebuild()
    rebuilt: dict[str, int] = {}
    for row in PairCount.objects.all():
        rebuilt[row.ladder] = rebuilt.get(row.ladder, 0) + row.count
    assert rebuilt == ladders


def test_the_battle_log_carries_the_condition_and_an_import_reproduces_the_analysis(trio, make_battle, vote, tmp_path):
    from analysis.leaderboard.battle_log import BattleLogReader
    from analysis.leaderboard.board import board_compute, board_inputs_from_records
    from analysis.leaderboard.selectors.boards import leaderboard_compute
    from analysis.leaderboard.selectors.records import battle_records

    alpha, beta, gamma = trio
    rng = random.Random(5)
    for number in range(40):
        a, b = rng.sample(trio, 2)
        battle = make_battle(a, b, joules=(rng.uniform(1, 9), rng.uniform(1, 9)), session_key=f"s{number}")
        Battle.objects.filter(id=battle.id).update(reveal=rng.choice(["joules", "relative", "control"]))
        battle.refresh_from_db()
        vote(battle, rng.choice(["a", "b", "tie"]), rng.choice(["a", "b", "tie"]))
    live = leaderboard_compute(rounds=0)["boards"]["chat"]["reveal_conditions"]
    assert sum(c["battles"] for c in live["conditions"].values()) == 40
    lines = [record.to_json() for record in battle_records()]
    assert {line["reveal"] for line in lines} == {"joules", "relative", "control"}
    records = list(BattleLogReader(write_log(tmp_path / "log.jsonl", lines)))
    from_file = board_compute(board_inputs_from_records(records)["chat"], rounds=0)["reveal_conditions"]
    assert from_file == live


def category_rows() -> list[tuple]:
    from analysis.models import CategoryPairCount

    return sorted(CategoryPairCount.objects.values_list(
        "category", "ladder", "competitor_a__name", "competitor_b__name", "outcome", "count"))


def test_category_ladders_come_from_their_own_daily_sums(trio, make_battle, vote, client, tmp_path):
    """A battle counts in each of its categories; a category's ladder is the board of its battles alone,
    fitted from CategoryPairCount (no scan); a rebuild writes the same sums; the battle log carries them."""
    from django.core.management import call_command

    from analysis.leaderboard.board import board_compute, board_inputs_from_records
    from analysis.leaderboard.selectors.records import battle_records

    rng = random.Random(11)
    tags = [["coding", "en"], ["math", "en"], ["coding", "math"], ["en"]]
    for number in range(40):
        a, b = rng.sample(trio, 2)
        battle = make_battle(a, b, session_key=f"c{number}")
        Battle.objects.filter(id=battle.id).update(categories=tags[number % 4])
        battle.refresh_from_db()
        vote(battle, rng.choice(["a", "b", "tie"]), rng.choice(["a", "b"]))
    folded = category_rows()
    assert {row[0] for row in folded} == {"coding", "math", "en"}
    assert sum(row[5] for row in folded if row[:2] == ("coding", "blind")) == 20
    aggregates_rebuild()
    assert category_rows() == folded  # the rebuild's sums are the fold's

    answer = client.get("/api/leaderboard.json?category=coding")
    assert answer.status_code == 200
    board = answer.json()
    coding = [r for r in battle_records() if "coding" in r.categories]
    assert len(coding) == 20 and {line["categories"][0] for line in (r.to_json() for r in coding)} == {"coding"}
    from analysis.leaderboard.selectors.fit_settings import fit_options

    expected = board_compute(board_inputs_from_records(coding)["chat"], rounds=3, figures=False, **fit_options())
    for ladder in ("blind", "energy"):
        got = {row["name"]: (row["battles"], row["rating"]) for row in board["ladders"][ladder]["rows"]}
        want = {row["name"]: (row["battles"], row["rating"]) for row in expected["ladders"][ladder]["rows"]}
        assert got.keys() == want.keys()
        for name in got:
            assert got[name][0] == want[name][0] and got[name][1] == pytest.approx(want[name][1], abs=0.01)
    assert board["elo_note"] and board["filters"]["category"] == "coding"
    assert {c["name"]: c["votes"] for c in board["categories"]} == {"coding": 20, "math": 20, "en": 30}
    leaderboard_refit(push=False, rounds=0)  # the live board carries the list from its snapshot
    live = client.get("/api/leaderboard.json").json()
    assert live["categories"] == board["categories"]

    refused = client.get("/api/leaderboard.json?category=poetry")
    assert refused.status_code == 400
    assert "Unknown category 'poetry': use one of coding, en, long_query, math, multi_turn" in refused.json()["error"]
    page = client.get("/leaderboard/?category=math").content.decode()
    assert "tagged “math”" in page and 'value="math" selected' in page
    out = tmp_path / "out.txt"
    with out.open("w") as stream:
        call_command("leaderboard", "--category", "math", "--rounds", "0", stdout=stream)
    assert "pair-outcome counts of the category math" in out.read_text()
