"""Rules the arena defines once: the vote choices, what counts for ranking, a battle's channel group."""

import itertools

from arena import choices
from arena.models import Battle, Choice, Vote, battle_group
from arena.selectors import battles_counted_q


def test_the_choice_field_is_built_from_the_one_list():
    assert Choice.values == list(choices.CHOICES) == ["a", "b", "tie", "bothbad"]
    assert Choice.A == choices.A and Choice.BOTH_BAD.label == "Both are bad"
    assert choices.LADDERS == ("blind", "energy")


def test_the_counted_query_selects_exactly_the_battles_that_count(make_contender):
    a, b = make_contender(name="A"), make_contender(name="B")
    battles = []
    for mode, error, leak, repeated in itertools.product(Battle.Mode.values, *[[False, True]] * 3):
        battle = Battle.objects.create(prompt="hi", contender_a=a, contender_b=b, policy="uniform", mode=mode,
                                       session_key="s", has_error=error, identity_leak=leak, repeated_prompt=repeated)
        Vote.objects.create(battle=battle, blind_choice="a")
        battles.append(battle)
    counted = {battle.id for battle in battles if battle.counts_for_ranking}
    assert len(counted) == 1  # anonymous, and no exclusion flag
    assert set(Battle.objects.filter(battles_counted_q()).values_list("id", flat=True)) == counted
    assert set(Vote.objects.filter(battles_counted_q("battle__")).values_list("battle_id", flat=True)) == counted


def test_a_battle_names_its_channel_group(make_contender):
    battle = Battle.objects.create(prompt="hi", contender_a=make_contender(), contender_b=make_contender(),
                                   policy="uniform", session_key="s")
    assert battle.group_name == battle_group(battle.id) == f"battle.{battle.id}"
