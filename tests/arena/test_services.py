
import pytest
from django.db import IntegrityError, transaction

from arena import answering
from arena.answering import response_fail
from arena.errors import ArenaError, InvalidInput, NotNow, NotYours, TooMany, Unavailable
from arena.models import Battle, Response, Vote
from arena.services import battle_create, vote_cast
from modelhub.models import Model
from tests.factories import finish


def test_battle_create_queues_two_sides_of_ready_chat_contenders(two_chat, make_contender):
    make_contender(kind=Model.Kind.ENCODER, family="Enc")
    make_contender(kind=Model.Kind.COMPLETION, family="Base")
    make_contender(status=Model.Status.FAILED)
    battle = battle_create(prompt="  Hello?  ", session_key="s1")
    assert battle.prompt == "Hello?"
    assert {battle.contender_a, battle.contender_b} == set(two_chat)
    assert sorted(battle.responses.values_list("side", "status")) == [("a", "queued"), ("b", "queued")]
    assert battle.counts_for_ranking


@pytest.mark.parametrize(("prompt", "message"), [("", "Type a prompt"), ("   ", "Type a prompt"), (None, "Type")])
def test_empty_prompt_is_refused_and_nothing_is_stored(two_chat, prompt, message):
    with pytest.raises(ArenaError, match=message) as error:
        battle_create(prompt=prompt, session_key="s1")
    assert isinstance(error.value, InvalidInput)
    assert Battle.objects.count() == 0


def test_too_long_prompt_is_refused(two_chat, settings):
    settings.ARENA_MAX_PROMPT_CHARS = 10
    with pytest.raises(ArenaError, match="limit is 10"):
        battle_create(prompt="x" * 11, session_key="s1")
    assert Battle.objects.count() == 0


def test_no_contenders_gives_503(make_contender):
    make_contender()
    with pytest.raises(ArenaError, match="at least two") as error:
        battle_create(prompt="hi", session_key="s1")
    assert isinstance(error.value, Unavailable) and error.value.retry_after_s == 30  # the page tries again
    assert Response.objects.count() == 0


def test_rate_limit_per_session_and_per_ip(two_chat, settings):
    settings.ARENA_BATTLES_PER_MINUTE_PER_SESSION = 2
    settings.ARENA_BATTLES_PER_MINUTE_PER_IP = 3
    for _ in range(2):
        battle_create(prompt="hi", session_key="s1", client_ip="10.0.0.1")
    with pytest.raises(ArenaError, match="wait a minute") as error:
        battle_create(prompt="hi", session_key="s1", client_ip="10.0.0.1")
    assert isinstance(error.value, TooMany)
    battle_create(prompt="hi", session_key="s2", client_ip="10.0.0.1")
    with pytest.raises(ArenaError, match="your network") as error:
        battle_create(prompt="hi", session_key="s3", client_ip="10.0.0.1")
    assert isinstance(error.value, TooMany)
    assert Battle.objects.count() == 3


def test_named_battle_uses_the_picked_contenders_and_does_not_count(two_chat):
    a, b = two_chat
    battle = battle_create(prompt="hi", session_key="s1", contender_a=b.slug, contender_b=a.slug, named=True)
    assert (battle.contender_a, battle.contender_b) == (b, a)
    assert battle.mode == Battle.Mode.NAMED
    assert not battle.counts_for_ranking
    with pytest.raises(ArenaError, match="two different"):
        battle_create(prompt="hi", session_key="s1", contender_a=a.slug, contender_b=a.slug, named=True)
    with pytest.raises(ArenaError, match="Not available"):
        battle_create(prompt="hi", session_key="s1", contender_a=a.slug, contender_b="nope", named=True)


def test_only_the_creating_session_may_vote(two_chat):
    battle = battle_create(prompt="hi", session_key="owner")
    finish(battle)
    for intruder in ("someone-else", None, ""):
        with pytest.raises(ArenaError, match="Only the person") as error:
            vote_cast(battle_id=battle.id, session_key=intruder, stage="blind", choice="a")
        assert isinstance(error.value, NotYours)
    assert not Vote.objects.exists()


def test_no_vote_before_both_answers_are_complete(two_chat):
    battle = battle_create(prompt="hi", session_key="owner")
    Response.objects.filter(battle=battle, side="a").update(status=Response.Status.DONE)
    with pytest.raises(ArenaError, match="Wait until both") as error:
        vote_cast(battle_id=battle.id, session_key="owner", stage="blind", choice="a")
    assert isinstance(error.value, NotNow)


def test_failed_battle_cannot_be_voted_and_is_excluded(two_chat):
    battle = battle_create(prompt="hi", session_key="owner")
    finish(battle)
    response = battle.responses.get(side="b")
    Response.objects.filter(id=response.id).update(status=Response.Status.RUNNING)
    response_fail(response_id=response.id, error="boom")
    battle.refresh_from_db()
    assert battle.has_error and not battle.counts_for_ranking
    assert battle.responses.get(side="a").status == Response.Status.DONE  # the other pane is unaffected
    with pytest.raises(ArenaError, match="failed"):
        vote_cast(battle_id=battle.id, session_key="owner", stage="blind", choice="a")


def test_vote_order_once_each_and_change_flag(two_chat):
    battle = battle_create(prompt="hi", session_key="owner")
    finish(battle)
    with pytest.raises(ArenaError, match="Vote on the answers first"):
        vote_cast(battle_id=battle.id, session_key="owner", stage="final", choice="b")
    vote_cast(battle_id=battle.id, session_key="owner", stage="blind", choice="a")
    with pytest.raises(ArenaError, match="already voted") as error:
        vote_cast(battle_id=battle.id, session_key="owner", stage="blind", choice="b")
    assert isinstance(error.value, NotNow)
    battle = vote_cast(battle_id=battle.id, session_key="owner", stage="final", choice="b")
    assert (battle.vote.blind_choice, battle.vote.final_choice, battle.vote.changed) == ("a", "b", True)
    with pytest.raises(ArenaError, match="already gave"):
        vote_cast(battle_id=battle.id, session_key="owner", stage="final", choice="a")
    battle.vote.refresh_from_db()
    assert battle.vote.final_choice == "b"


def test_keeping_the_vote_is_not_a_change(two_chat):
    battle = battle_create(prompt="hi", session_key="owner")
    finish(battle)
    vote_cast(battle_id=battle.id, session_key="owner", stage="blind", choice="tie")
    battle = vote_cast(battle_id=battle.id, session_key="owner", stage="final", choice="tie")
    assert battle.vote.changed is False


@pytest.mark.parametrize(("stage", "choice"), [("blind", "c"), ("blind", ""), ("sideways", "a")])
def test_bad_vote_input_is_refused(two_chat, stage, choice):
    battle = battle_create(prompt="hi", session_key="owner")
    finish(battle)
    with pytest.raises(ArenaError):
        vote_cast(battle_id=battle.id, session_key="owner", stage=stage, choice=choice)
    assert not Vote.objects.exists()


def test_one_vote_per_battle_is_a_database_constraint(two_chat):
    battle = battle_create(prompt="hi", session_key="owner")
    Vote.objects.create(battle=battle, blind_choice="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(battle=battle, blind_choice="b")


def test_the_migration_counts_the_chat_answers_already_stored(two_chat):
    from importlib import import_module

    from django.apps import apps

    battle = battle_create(prompt="Explain", session_key="owner")
    battle.responses.filter(side="a").update(status=Response.Status.DONE, text="## A\n* x\n* y __z__")
    battle.responses.filter(side="b").update(status=Response.Status.FAILED, text="# half")
    import_module("arena.migrations.0006_response_markdown_counts").counts_fill(apps, None)
    done, failed = battle.responses.get(side="a"), battle.responses.get(side="b")
    assert (done.header_count, done.list_count, done.bold_count) == (1, 2, 1)
    assert failed.header_count is None  # a failed side has no answer to count


def test_daily_vote_cap_per_session_refuses_votes_and_new_battles(two_chat, settings):
    settings.ARENA_VOTES_PER_DAY_PER_SESSION = 2
    battles = [battle_create(prompt=f"question {n}", session_key="eager") for n in range(3)]
    for battle in battles:
        finish(battle)
    for battle in battles[:2]:
        vote_cast(battle_id=battle.id, session_key="eager", stage="blind", choice="a")
    with pytest.raises(ArenaError, match="today's 2 votes") as error:
        vote_cast(battle_id=battles[2].id, session_key="eager", stage="blind", choice="a")
    assert isinstance(error.value, TooMany)
    assert not Vote.objects.filter(battle=battles[2]).exists()
    with pytest.raises(ArenaError, match="today's 2 votes"):
        battle_create(prompt="one more", session_key="eager")
    assert Battle.objects.count() == 3
    # The final vote of a battle already voted on is still allowed; other sessions are unaffected.
    vote_cast(battle_id=battles[0].id, session_key="eager", stage="final", choice="b")
    assert battle_create(prompt="question", session_key="someone else")


def test_daily_vote_cap_per_network(two_chat, settings):
    settings.ARENA_VOTES_PER_DAY_PER_IP = 1
    first = battle_create(prompt="one", session_key="s1", client_ip="10.0.0.1")
    second = battle_create(prompt="two", session_key="s2", client_ip="10.0.0.1")
    finish(first)
    finish(second)
    vote_cast(battle_id=first.id, session_key="s1", stage="blind", choice="a")
    with pytest.raises(ArenaError, match="network") as error:
        vote_cast(battle_id=second.id, session_key="s2", stage="blind", choice="a")
    assert isinstance(error.value, TooMany)
    assert battle_create(prompt="three", session_key="s3", client_ip="10.0.0.2")


def test_repeated_prompt_from_one_session_is_flagged_and_not_ranked(two_chat):
    from analysis.models import PendingVote

    first = battle_create(prompt="Which is better, tea or coffee?", session_key="spammer")
    again = battle_create(prompt="  which is better,   TEA or coffee? ", session_key="spammer")
    other = battle_create(prompt="Which is better, tea or coffee?", session_key="someone else")
    assert (first.repeated_prompt, again.repeated_prompt, other.repeated_prompt) == (False, True, False)
    assert first.counts_for_ranking and not again.counts_for_ranking
    finish(again)
    vote_cast(battle_id=again.id, session_key="spammer", stage="blind", choice="a")  # voting still works
    assert not PendingVote.objects.exists()
    finish(first)
    vote_cast(battle_id=first.id, session_key="spammer", stage="blind", choice="a")
    assert PendingVote.objects.filter(ladder="blind", battle=first).count() == 1


def test_no_battle_is_stored_when_the_job_queue_is_unreachable(two_chat, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    with pytest.raises(ArenaError, match="job queue is unavailable") as error:
        battle_create(prompt="hi", session_key="owner")
    assert isinstance(error.value, Unavailable)
    assert not Battle.objects.exists()


def test_a_side_that_cannot_be_queued_fails_visibly(two_chat, monkeypatch, django_capture_on_commit_callbacks):
    """Redis goes away between the check and the publish: the publish is made to raise as kombu does."""
    from kombu.exceptions import OperationalError

    from arena.tasks import generate_response

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(generate_response, "apply_async", refuse)
    monkeypatch.setattr(answering, "_group_send", lambda *a, **k: None)
    with django_capture_on_commit_callbacks(execute=True):
        battle = battle_create(prompt="hi", session_key="owner")
    battle.refresh_from_db()
    assert battle.has_error
    assert {r.status for r in battle.responses.all()} == {Response.Status.FAILED}
    assert "could not be queued" in battle.responses.first().error


def test_only_models_that_a_live_worker_serves_are_drawn(two_chat, make_contender):
    from datetime import timedelta

    from django.utils import timezone

    from workers.models import WorkerHeartbeat

    served, unserved = two_chat
    third = make_contender(family="Fam")
    now = timezone.now()
    WorkerHeartbeat.objects.create(hostname="w@h", pid=1, started_at=now, last_seen=now,
                                   queues=["default", served.model.queue_name, third.model.queue_name])
    WorkerHeartbeat.objects.create(hostname="gone@h", pid=2, started_at=now, last_seen=now - timedelta(hours=1),
                                   queues=[unserved.model.queue_name])
    for _ in range(10):
        battle = battle_create(prompt="hi", session_key="s")
        assert {battle.contender_a, battle.contender_b} == {served, third}
    with pytest.raises(ArenaError, match="Not available right now"):
        battle_create(prompt="hi", session_key="s2", named=True, contender_a=served.slug, contender_b=unserved.slug)
    WorkerHeartbeat.objects.filter(hostname="w@h").update(last_seen=now - timedelta(hours=1))
    with pytest.raises(ArenaError) as error:
        battle_create(prompt="hi", session_key="s3")
    assert isinstance(error.value, Unavailable)


# --- active pair sampling -------------------------------------------------------------------------


def _voted(a, b, choice="a", n=1, **flags):
    for _ in range(n):
        battle = Battle.objects.create(prompt="p", contender_a=a, contender_b=b, policy="active", session_key="old",
                                       **flags)
        Vote.objects.create(battle=battle, blind_choice=choice)


@pytest.fixture
def active_policy(settings):
    from django.core.cache import cache

    settings.ARENA_SAMPLING_POLICY = "active"
    settings.ARENA_SAMPLING_STATS_TTL_S = 0
    cache.delete(f"arena:pair-sampling-stats:{Battle.Kind.CHAT}")
    yield settings
    cache.delete(f"arena:pair-sampling-stats:{Battle.Kind.CHAT}")


def test_battle_create_with_the_active_policy_draws_the_unplayed_pair(active_policy, make_contender):
    import random

    first, second, third = (make_contender(family="Fam") for _ in range(3))
    _voted(first, second, n=30)
    _voted(third, first, choice="tie", n=30)
    # not counted: a named battle and a repeated prompt between the two others
    _voted(second, third, n=50, mode=Battle.Mode.NAMED)
    _voted(third, second, n=50, repeated_prompt=True)
    rng = random.Random(11)
    drawn = [
        {battle.contender_a, battle.contender_b}
        for battle in (battle_create(prompt="Hi", session_key=f"s{i}", rng=rng) for i in range(12))
    ]
    assert all(len(pair) == 2 for pair in drawn)
    assert sum(pair == {second, third} for pair in drawn) >= 9  # probability 0.9 + 0.1/3 each
    assert Battle.objects.filter(session_key="s0").get().policy == "active"


def test_active_policy_with_the_same_family_constraint(active_policy, make_contender):
    import random

    active_policy.ARENA_SAMPLING_SAME_FAMILY = True
    small, large = make_contender(family="Fam"), make_contender(family="Fam")
    other = make_contender(family="Other")  # never played with anyone: still never drawn
    _voted(small, large, n=40)
    rng = random.Random(12)
    for i in range(6):
        battle = battle_create(prompt="Hi", session_key=f"s{i}", rng=rng)
        assert {battle.contender_a, battle.contender_b} == {small, large}
        assert battle.policy == "active+same-family"
    active_policy.ARENA_SAMPLING_SAME_FAMILY = False
    assert other in {c for i in range(6) for c in _pair(battle_create(prompt="Hi", session_key=f"t{i}", rng=rng))}


def _pair(battle):
    return battle.contender_a, battle.contender_b


def test_pair_sampling_stats_merge_sides_and_are_cached(active_policy, make_contender):
    from arena.selectors import pair_sampling_stats

    first, second = make_contender(), make_contender()
    _voted(first, second, choice="a", n=3)
    _voted(second, first, choice="a", n=1)  # a win of `second`
    _voted(first, second, choice="bothbad", n=2)
    key = (min(first.id, second.id), max(first.id, second.id))
    stats = pair_sampling_stats()
    assert stats[key].battles == 6
    wins_of_smaller = 3 + 1 if first.id < second.id else 1 + 1  # the two "both bad" votes score ½ each
    p = (wins_of_smaller + 1) / 8
    assert stats[key].variance == pytest.approx(p * (1 - p))
    assert pair_sampling_stats(kind=Battle.Kind.RETRIEVAL) == {}
    active_policy.ARENA_SAMPLING_STATS_TTL_S = 60
    pair_sampling_stats()
    _voted(first, second, n=5)
    assert pair_sampling_stats()[key].battles == 6  # read from the cache
