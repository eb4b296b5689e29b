import json

import pytest

from arena.selectors import battle_get_for_session, battle_state, response_answer
from arena.services import battle_create, vote_cast
from tests.factories import finish


@pytest.fixture
def battle(make_contender):
    make_contender(family="Fam")
    make_contender(family="Fam")
    return battle_create(prompt="hi", session_key="owner")


def test_state_hides_energy_and_names_until_the_votes(battle):
    assert battle_state(battle=battle)["stage"] == "generating"
    finish(battle, joules=(6.0, 2.0))
    state = battle_state(battle=battle)
    assert state["stage"] == "blind_vote"
    assert state["energy_summary"] is None
    assert all(side["energy"] is None and side["contender"] is None for side in state["sides"].values())
    serialized = json.dumps(state)
    assert battle.contender_a.name not in serialized and "estimated" not in serialized

    vote_cast(battle_id=battle.id, session_key="owner", stage="blind", choice="a")
    state = battle_state(battle=battle_get_for_session(battle_id=battle.id, session_key="owner"))
    assert state["stage"] == "final_vote"
    assert state["sides"]["a"]["energy"]["joules"] == 6.0
    assert state["sides"]["a"]["energy"]["joules_per_token"] == 0.6
    assert state["sides"]["a"]["energy"]["source"] == "estimate"
    assert state["energy_summary"]["ratio_text"] == "A used 3.0× the energy of B."
    assert all(side["contender"] is None for side in state["sides"].values())

    vote_cast(battle_id=battle.id, session_key="owner", stage="final", choice="b")
    state = battle_state(battle=battle_get_for_session(battle_id=battle.id, session_key="owner"))
    assert state["stage"] == "revealed"
    assert state["sides"]["a"]["contender"]["name"] == battle.contender_a.name
    assert state["vote"] == {"blind_choice": "a", "final_choice": "b", "changed": True}


@pytest.mark.parametrize(("status", "finish_reason", "cut_off"), [
    ("done", "length", True), ("done", "stop", False), ("timeout", "length", False), ("running", "", False),
])
def test_an_answer_is_cut_off_only_when_it_finished_at_its_token_limit(battle, status, finish_reason, cut_off):
    finish(battle)
    response = battle.responses.get(side="a")
    response.status, response.finish_reason = status, finish_reason
    response.save()
    assert response_answer(response)["cut_off"] is cut_off
    assert battle_state(battle=battle)["sides"]["a"]["cut_off"] is cut_off
    assert battle_state(battle=battle)["sides"]["b"]["cut_off"] is False
    assert response_answer(response)["text"] == "answer a"


def test_named_mode_shows_names_at_once(make_contender):
    a, b = make_contender(), make_contender()
    battle = battle_create(prompt="hi", session_key="owner", contender_a=a.slug, contender_b=b.slug, named=True)
    state = battle_state(battle=battle)
    assert state["sides"]["a"]["contender"]["name"] == a.name
    assert state["sides"]["a"]["energy"] is None


def test_battle_is_only_visible_to_its_session(battle):
    assert battle_get_for_session(battle_id=battle.id, session_key="owner") == battle
    assert battle_get_for_session(battle_id=battle.id, session_key="other") is None
    assert battle_get_for_session(battle_id=battle.id, session_key=None) is None


def _close(battle, settings) -> None:
    from datetime import timedelta

    from arena.models import Battle

    Battle.objects.filter(id=battle.id).update(
        created_at=battle.created_at - timedelta(seconds=settings.ARENA_VOTE_WINDOW_S + 1)
    )


def _public_ids() -> set[int]:
    from arena.models import Battle
    from arena.selectors import battles_public_q

    return set(Battle.objects.filter(battles_public_q()).values_list("id", flat=True))


def test_a_battle_is_public_once_revealed_failed_or_closed(make_contender, settings):
    from arena.models import Battle
    from arena.selectors import responses_public

    make_contender(family="Fam"), make_contender(family="Fam")
    revealed, blind_only, unvoted, failed, closed = (battle_create(prompt=f"p{i}", session_key="owner")
                                                     for i in range(5))
    for battle in (revealed, blind_only, unvoted, closed):
        finish(battle)
    finish(failed, status="failed")
    Battle.objects.filter(id=failed.id).update(has_error=True)
    assert _public_ids() == {failed.id}
    vote_cast(battle_id=revealed.id, session_key="owner", stage="blind", choice="a")
    vote_cast(battle_id=blind_only.id, session_key="owner", stage="blind", choice="a")
    assert _public_ids() == {failed.id}  # a blind vote reveals nothing yet
    vote_cast(battle_id=revealed.id, session_key="owner", stage="final", choice="a")
    _close(closed, settings)
    assert _public_ids() == {failed.id, revealed.id, closed.id}
    assert {r.battle_id for r in responses_public()} == {failed.id, revealed.id, closed.id}
    settings.ARENA_VOTE_WINDOW_S = 0  # every window has passed: everything is public
    assert _public_ids() == {revealed.id, blind_only.id, unvoted.id, failed.id, closed.id}


@pytest.mark.parametrize("voted", [False, True], ids=["unvoted", "after-the-blind-vote"])
def test_a_closed_battle_refuses_votes_and_shows_energy_and_names(battle, settings, voted):
    from arena.errors import ArenaError, NotNow

    finish(battle, joules=(6.0, 2.0))
    if voted:
        vote_cast(battle_id=battle.id, session_key="owner", stage="blind", choice="a")
    _close(battle, settings)
    state = battle_state(battle=battle_get_for_session(battle_id=battle.id, session_key="owner"))
    assert state["stage"] == "closed"
    assert state["sides"]["a"]["energy"]["joules"] == 6.0
    assert state["sides"]["b"]["contender"]["name"] == battle.contender_b.name
    for stage in ("blind", "final"):
        with pytest.raises(ArenaError, match="Voting on this battle has closed") as refused:
            vote_cast(battle_id=battle.id, session_key="owner", stage=stage, choice="b")
        assert isinstance(refused.value, NotNow)


def test_pages_show_a_side_of_a_lost_worker_as_failed_without_writing(battle, settings, client):
    """Expiry is the workers' job (their heartbeat); a page only shows what it will store."""
    from datetime import timedelta

    from django.utils import timezone

    from arena.answering import responses_expire_overdue
    from arena.models import Response
    from workers.models import WorkerHeartbeat

    settings.ARENA_WORKER_LOST_S = 30
    now = timezone.now()
    WorkerHeartbeat.objects.create(hostname="gone@host", pid=1, started_at=now - timedelta(hours=1),
                                   last_seen=now - timedelta(minutes=5))
    Response.objects.filter(battle=battle, side="a").update(status="running", worker="gone@host", started_at=now)
    Response.objects.filter(battle=battle, side="b").update(status="done", text="fine")
    session = client.session
    session.save()
    type(battle).objects.filter(id=battle.id).update(session_key=session.session_key)

    state = client.get(f"/arena/battles/{battle.id}/").json()["battle"]
    assert state["sides"]["a"]["status"] == "failed"
    assert "worker writing this answer stopped" in state["sides"]["a"]["error"]
    assert state["stage"] == "failed"
    stored = Response.objects.get(battle=battle, side="a")
    assert stored.status == "running" and not stored.error  # the GET wrote nothing
    assert not type(battle).objects.get(id=battle.id).has_error

    assert responses_expire_overdue() == 1  # the heartbeat's expiry stores it
    stored.refresh_from_db()
    assert stored.status == "failed" and type(battle).objects.get(id=battle.id).has_error


# --- rating estimates for active sampling (arena.hooks.sampling_ratings) ------------------------


@pytest.fixture
def sampling_cache(settings):
    from django.core.cache import cache

    settings.ARENA_SAMPLING_STATS_TTL_S = 60
    cache.delete("arena:pair-sampling-stats:chat")
    yield settings
    cache.delete("arena:pair-sampling-stats:chat")


def test_pair_sampling_stats_use_the_registered_ratings_and_cache_them(db, sampling_cache, monkeypatch):
    from arena import hooks
    from arena.selectors import pair_sampling_stats

    calls = []

    def provider(kind):
        calls.append(kind)
        return {7: 1100.0, 3: 1000.0, 5: 950.0}

    monkeypatch.setattr(hooks.sampling_ratings, "function", provider)
    stats = pair_sampling_stats()
    assert {key: s.difference for key, s in stats.items()} == {(3, 5): 50.0, (3, 7): -100.0, (5, 7): -150.0}
    assert all(s.battles == 0 for s in stats.values())
    assert pair_sampling_stats() == stats
    assert calls == ["chat"]  # the second read came from the cache


def test_pair_sampling_stats_read_the_latest_leaderboard_snapshot(sampling_cache, make_contender):
    from django.utils import timezone

    from analysis.leaderboard.selectors.boards import SNAPSHOT_VERSION
    from analysis.models import Competitor, LeaderboardSnapshot
    from arena.selectors import pair_sampling_stats

    sampling_cache.ARENA_SAMPLING_STATS_TTL_S = 0
    first, second, gone = (make_contender(family="Fam") for _ in range(3))
    assert pair_sampling_stats() == {}  # no snapshot: no estimates, the counts-only rule
    for contender in (first, second):
        Competitor.objects.create(name=contender.name, contender=contender)
    Competitor.objects.create(name="imported-only")
    rows = [
        {"name": first.name, "rating": 1040.5},
        {"name": second.name, "rating": 990.0},
        {"name": "imported-only", "rating": 1200.0},  # no contender of this arena
        {"name": gone.name, "rating": None},  # no battles: not rated
    ]
    board = {"ladders": {"blind": {"rows": rows}, "energy": {"rows": []}}}
    data = {"version": SNAPSHOT_VERSION, "boards": {"chat": board}}
    LeaderboardSnapshot.objects.create(computed_at=timezone.now(), data=data)
    key = (min(first.id, second.id), max(first.id, second.id))
    difference = 50.5 if key[0] == first.id else -50.5
    assert {k: s.difference for k, s in pair_sampling_stats().items()} == {key: difference}
    LeaderboardSnapshot.objects.create(computed_at=timezone.now(), data={"version": 0, "boards": {"chat": board}})
    assert pair_sampling_stats() == {}  # the latest snapshot has an old layout: ignored


@pytest.fixture
def retrieval_battle(make_contender):
    """A retrieval battle between two encoders whose vectors of a 2,000-document corpus are ready (4 J and
    8 J to embed it)."""
    from arena.models import Corpus, CorpusEmbedding
    from modelhub.models import Model

    corpus = Corpus.objects.create(name="Docs", document_count=2000)
    for joules in (4.0, 8.0):
        encoder = make_contender(family="Enc", kind=Model.Kind.ENCODER)
        embedding = CorpusEmbedding.objects.create(corpus=corpus, contender=encoder)
        CorpusEmbedding.objects.filter(id=embedding.id).update(
            status=CorpusEmbedding.Status.READY, joules=joules, document_count=2000)
    return battle_create(prompt="Which planet is the biggest?", session_key="owner", corpus=corpus.slug)


RESULTS = [
    {"doc_id": "4", "title": "Jupiter", "score": 0.71,
     "text": "Planets\n=======\n\n.. note:: Jupiter is the **largest** planet in the :ref:`solar system <sol>`."},
    {"doc_id": "7", "title": "", "score": 0.42, "text": "The ``Pacific`` is the largest ocean."},
]


def test_a_retrieval_state_carries_clean_snippets_indexing_energy_and_no_decoding(retrieval_battle):
    from arena.models import CorpusEmbedding, Response

    response = retrieval_battle.responses.get(side="a")
    response.status = Response.Status.RUNNING
    response.save()
    running = battle_state(battle=retrieval_battle)["sides"]["a"]
    assert running["waiting"] == "Searching…" and running["results"] == []
    finish(retrieval_battle)
    Response.objects.filter(battle=retrieval_battle).update(results=RESULTS)
    state = battle_state(battle=retrieval_battle)
    results = state["sides"]["a"]["results"]
    assert [r["snippet"] for r in results] == [
        "Planets: Jupiter is the largest planet in the solar system.", "The Pacific is the largest ocean."]
    assert [r["text"] for r in results] == [r["text"] for r in RESULTS]  # the passage itself, as stored
    assert results[0]["title"] == "Jupiter" and results[0]["score"] == 0.71
    assert "snippet" not in Response.objects.get(id=response.id).results[0]  # added to the state, not stored
    assert state["sides"]["a"]["energy"] is None

    vote_cast(battle_id=retrieval_battle.id, session_key="owner", stage="blind", choice="a")
    state = battle_state(battle=battle_get_for_session(battle_id=retrieval_battle.id, session_key="owner"))
    per_thousand = {side: state["sides"][side]["energy"]["joules_per_1000_documents"] for side in "ab"}
    embedded = dict(CorpusEmbedding.objects.values_list("contender_id", "joules"))  # 4 J and 8 J for 2,000 documents
    assert per_thousand == {r.side: embedded[r.contender_id] / 2 for r in retrieval_battle.responses.all()}
    assert sorted(per_thousand.values()) == [2.0, 4.0]
    assert all(side["contender"] is None for side in state["sides"].values())

    vote_cast(battle_id=retrieval_battle.id, session_key="owner", stage="final", choice="a")
    state = battle_state(battle=battle_get_for_session(battle_id=retrieval_battle.id, session_key="owner"))
    contender = state["sides"]["a"]["contender"]
    assert contender["decoding"] is None and contender["precision"] == "float32"


def test_a_chat_state_has_no_results_and_no_indexing_energy(battle):
    finish(battle)
    vote_cast(battle_id=battle.id, session_key="owner", stage="blind", choice="a")
    state = battle_state(battle=battle_get_for_session(battle_id=battle.id, session_key="owner"))
    assert state["sides"]["a"]["results"] == []
    assert state["sides"]["a"]["energy"]["joules_per_1000_documents"] is None
    assert state["sides"]["a"]["waiting"] == ""
    vote_cast(battle_id=battle.id, session_key="owner", stage="final", choice="a")
    state = battle_state(battle=battle_get_for_session(battle_id=battle.id, session_key="owner"))
    assert state["sides"]["a"]["contender"]["decoding"] == "greedy"
