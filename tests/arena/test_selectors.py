import json

import pytest

from arena.selectors import battle_get_for_session, battle_state
from arena.services import battle_create, vote_cast
from tests.arena.test_services import finish


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
