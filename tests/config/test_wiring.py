"""config/wiring.py: every hook a lower layer calls is answered once the apps are ready."""

from analysis.leaderboard.selectors.boards import blind_ratings_of_contenders
from analysis.leaderboard.services.votes import pair_counts_record
from arena import hooks as arena_hooks
from arena.corpus_services import corpora_embed_for_model
from modelhub import hooks as modelhub_hooks
from modelhub.tasks import expire_lost_preparations, model_names_of_paths
from workers import hooks as workers_hooks


def test_the_layers_are_connected_when_django_is_ready():
    assert arena_hooks.vote_recorded.receivers == [pair_counts_record]
    assert arena_hooks.sampling_ratings.function is blind_ratings_of_contenders
    assert modelhub_hooks.model_ready.receivers == [corpora_embed_for_model]
    assert expire_lost_preparations in workers_hooks.heartbeat.receivers
    assert len(workers_hooks.heartbeat.receivers) == 5
    assert workers_hooks.model_names.function is model_names_of_paths


def test_a_vote_reaches_the_leaderboard_through_the_wiring(make_contender):
    from analysis.models import PendingVote
    from arena.models import Battle
    from arena.services import battle_create, vote_cast
    from tests.factories import finish

    make_contender(), make_contender()
    battle = battle_create(prompt="hi", session_key="owner")
    finish(Battle.objects.get(id=battle.id))
    vote_cast(battle_id=battle.id, session_key="owner", stage="blind", choice="a")
    assert PendingVote.objects.filter(battle_id=battle.id).exists()
