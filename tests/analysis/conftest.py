"""Fixtures of the analysis tests: finished battles and votes (contenders: the root conftest's factory)."""


import pytest

from arena.models import Battle, Response
from arena.services import vote_cast
from tests.factories import close_voting


@pytest.fixture
def make_battle(make_contender):
    """A battle whose two answers are done, ready for the blind vote."""

    def make(a, b, *, joules=(2.0, 1.0), tokens=(10, 10), mode=Battle.Mode.ANONYMOUS, session_key="s1",
             has_error=False, identity_leak=False) -> Battle:
        battle = Battle.objects.create(
            prompt="hi", contender_a=a, contender_b=b, policy="uniform", mode=mode, session_key=session_key,
            has_error=has_error, identity_leak=identity_leak,
        )
        for side, contender, energy, count in (("a", a, joules[0], tokens[0]), ("b", b, joules[1], tokens[1])):
            Response.objects.create(
                battle=battle, side=side, contender=contender, status=Response.Status.DONE, text=f"answer {side}",
                output_tokens=count, duration_s=1.0, joules=energy, energy_source="estimate",
                energy_method="estimated from CPU time",
            )
        return battle

    return make


@pytest.fixture
def vote():
    """Cast the blind vote and, if given, the vote after the energy reveal, through the arena service;
    then fold them into the aggregates, as the refit task does. A battle left without its final vote
    is closed first (its vote window passed), since only then may the public see it counted."""
    from analysis.leaderboard.services.votes import aggregates_fold

    def cast(battle: Battle, blind: str, final: str | None = None) -> Battle:
        vote_cast(battle_id=battle.id, session_key=battle.session_key, stage="blind", choice=blind)
        if final is not None:
            vote_cast(battle_id=battle.id, session_key=battle.session_key, stage="final", choice=final)
        else:
            close_voting(battle)
        aggregates_fold()
        return battle

    return cast
