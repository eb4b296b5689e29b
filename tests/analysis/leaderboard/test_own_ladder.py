"""A session's own ladder (/leaderboard/mine/): from its 20th counted vote on, for that session only."""

import pytest
from django.test import Client

from arena.models import Battle


@pytest.fixture
def voter(db) -> Client:
    client = Client()
    client.get("/arena/")
    return client


def test_the_own_ladder_appears_at_the_twentieth_vote_and_ranks_by_that_sessions_votes(
    voter, make_contender, make_battle, vote, settings
):
    settings.ANALYSIS_BOOTSTRAP_ROUNDS = 20
    alpha, beta, gamma = (make_contender(name=name, family="Greek") for name in ("Alpha", "Beta", "Gamma"))
    mine = voter.session.session_key
    pairs = [(alpha, beta), (beta, gamma), (gamma, alpha)]
    for number in range(19):  # this voter always prefers Alpha, then Beta, then Gamma
        a, b = pairs[number % 3]
        prefer = "a" if "ABG".index(a.name[0]) < "ABG".index(b.name[0]) else "b"
        vote(make_battle(a, b, session_key=mine), prefer, prefer)
    for _ in range(30):  # another session prefers Gamma: it changes nothing here
        vote(make_battle(alpha, gamma, session_key="someone-else"), "b", "b")
    vote(make_battle(alpha, beta, session_key=mine, mode=Battle.Mode.NAMED), "a", "a")  # never counted
    early = voter.get("/leaderboard/mine/")
    assert early.status_code == 404 and "appears after 20 counted votes" in early.content.decode()
    assert "you have cast\n  19" in early.content.decode()

    last = vote(make_battle(alpha, beta, session_key=mine), "a", "a")
    state = voter.get(f"/arena/battles/{last.id}/").json()["battle"]
    assert state["own_ladder_url"] == "/leaderboard/mine/"
    page = voter.get("/leaderboard/mine/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "your</strong> 20 counted votes" in text
    for ladder in ("own-blind", "own-energy"):
        table = text.split(f'id="{ladder}"')[1].split("</table>")[0]
        assert table.index("Alpha") < table.index("Beta") < table.index("Gamma"), ladder
    # Anyone else has no such ladder: a session of their own, with no votes.
    stranger = Client().get("/leaderboard/mine/")
    assert stranger.status_code == 404 and "you have cast\n  0" in stranger.content.decode()
