"""Reveal conditions (arena/reveal.py): the mix and its checks, the sticky assignment per session,
and what each condition lets reach the browser: in `relative` and `control` no joules before the final
vote, on any route or the websocket."""

import json
import random
import re
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client
from scipy.stats import chisquare

from arena.checks import reveal_conditions_check
from arena.models import Battle, Response
from arena.reveal import co2e_grams, condition_draw, conditions_parse, shows_energy, times_less
from arena.services import reveal_condition_of_session
from tests.factories import finish
from tests.routes import route_paths, routes


def test_a_mix_is_read_with_its_weights():
    assert conditions_parse("joules=1, relative=2,control=0.5") == {"joules": 1.0, "relative": 2.0, "control": 0.5}
    assert conditions_parse("CONTROL") == {"control": 1.0}


@pytest.mark.parametrize(("text", "said"), [
    ("joules=1,sound=1", "'sound' is not a reveal condition"),
    ("joules=0", "must be a positive number"),
    ("joules=-1,control=1", "must be a positive number"),
    ("joules=x", "is not a number"),
    ("joules=1,joules=2", "given twice"),
    ("joules=nan", "must be a positive number"),
    ("", "no condition is given"),
    (" , ", "no condition is given"),
])
def test_a_malformed_mix_says_what_is_wrong(text, said):
    with pytest.raises(ValueError, match=said):
        conditions_parse(text)


def test_draws_follow_the_weights():
    rng = random.Random(7)
    mix = {"joules": 1.0, "relative": 1.0, "control": 2.0}
    counts = Counter(condition_draw(mix, rng) for _ in range(8000))
    observed = [counts[name] for name in sorted(mix)]
    expected = [8000 * mix[name] / 4 for name in sorted(mix)]
    assert chisquare(observed, expected).pvalue > 0.001, counts


def test_the_small_rules():
    assert co2e_grams(3.6e6, 400) == pytest.approx(400.0)  # 1 kWh at 400 g/kWh
    assert co2e_grams(36.0, 500) == pytest.approx(0.005)
    assert times_less(2.4) == "about 2×" and times_less(1.26) == "about 1.3×" and times_less(9.6) == "about 10×"
    assert shows_energy("joules") and shows_energy("relative") and shows_energy("carbon")
    assert not shows_energy("control")


@pytest.mark.parametrize(("mix", "intensity", "said"), [
    ("joules=1,bogus=1", 0.0, "ARENA_REVEAL_CONDITIONS='joules=1,bogus=1': 'bogus' is not"),
    ("joules=0", 0.0, "ARENA_REVEAL_CONDITIONS='joules=0'"),
    ("joules=1,carbon=1", 0.0, "ARENA_GRID_INTENSITY_G_PER_KWH"),
])
def test_a_malformed_mix_is_a_system_check_error_naming_the_variable(settings, mix, intensity, said):
    settings.ARENA_REVEAL_CONDITIONS, settings.ARENA_GRID_INTENSITY_G_PER_KWH = mix, intensity
    (error,) = reveal_conditions_check()
    assert said in error.msg and error.id.startswith("arena.E")
    with pytest.raises(SystemCheckError, match="ARENA_"):
        call_command("check")


def test_a_good_mix_passes_the_check(settings):
    settings.ARENA_REVEAL_CONDITIONS, settings.ARENA_GRID_INTENSITY_G_PER_KWH = "joules=1,carbon=1,control=2", 400
    assert reveal_conditions_check() == []


@pytest.fixture
def pair(make_contender):
    return make_contender(family="Fam"), make_contender(family="Fam")


def battle_of(pair, session_key: str, reveal: str = "joules", joules=(7777.77, 3333.33)) -> Battle:
    a, b = pair
    battle = Battle.objects.create(prompt="hi", contender_a=a, contender_b=b, policy="uniform",
                                   session_key=session_key, reveal=reveal)
    for side, contender in (("a", a), ("b", b)):
        Response.objects.create(battle=battle, side=side, contender=contender)
    finish(battle, joules=joules)
    return battle


def test_a_session_keeps_its_condition_and_sessions_follow_the_weights(pair, settings):
    settings.ARENA_REVEAL_CONDITIONS = "joules=1,relative=1,control=2"
    rng = random.Random(3)
    drawn = Counter()
    for number in range(600):
        session = f"s{number}"
        first = reveal_condition_of_session(session_key=session, rng=rng)
        battle_of(pair, session, first)
        assert all(reveal_condition_of_session(session_key=session, rng=rng) == first for _ in range(3))
        drawn[first] += 1
    assert chisquare([drawn["control"], drawn["joules"], drawn["relative"]], [300, 150, 150]).pvalue > 0.001, drawn
    # A new mix keeps a session's condition while the mix still holds it; its battles never change.
    relative = next(f"s{n}" for n in range(600) if Battle.objects.get(session_key=f"s{n}").reveal == "relative")
    control = next(f"s{n}" for n in range(600) if Battle.objects.get(session_key=f"s{n}").reveal == "control")
    settings.ARENA_REVEAL_CONDITIONS = "relative=1,joules=1"
    assert reveal_condition_of_session(session_key=relative, rng=rng) == "relative"
    assert reveal_condition_of_session(session_key=control, rng=rng) in ("relative", "joules")
    assert Battle.objects.get(session_key=control).reveal == "control"


# Any trace of the two answers' joules (7777.77 J and 3333.33 J; 10 tokens each) or of what follows from them.
FIGURES = re.compile(r"7777|3333|777\.7|333\.3|2\.33|\bWh\b|\d g CO2e")


@pytest.fixture
def owner(db) -> Client:
    client = Client()
    client.get("/arena/")
    return client


def owner_reads(owner: Client, battle: Battle) -> dict[str, str]:
    """Every GET route as the battle's owner reads it (int routes with the battle's id)."""
    values = {"int": [str(battle.id)], "slug": [battle.contender_a.slug, battle.contender_b.slug],
              "str": [battle.contender_a.slug]}
    pages = {}
    for route in routes():
        for path in route_paths(route, values):
            answer = owner.get(path)
            if not answer.get("Content-Type", "").startswith(("text/html", "application/json", "application/x-ndjson")):
                continue  # scripts, styles, images: the same for everyone
            body = b"".join(answer.streaming_content) if answer.streaming else answer.content
            pages[path] = body.decode("utf-8", errors="replace")
    return pages


def vote(owner: Client, battle: Battle, stage: str, choice: str) -> dict:
    answer = owner.post(f"/arena/battles/{battle.id}/vote/", {"stage": stage, "choice": choice})
    assert answer.status_code == 200, answer.content
    return answer.json()["battle"]


@pytest.mark.parametrize("condition", ["relative", "control"])
def test_no_joules_reach_the_owner_before_the_final_vote(owner, pair, condition):
    battle = battle_of(pair, owner.session.session_key, condition)
    state = vote(owner, battle, "blind", "a")
    assert state["reveal"] == condition and state["stage"] == "final_vote"
    pages = {"vote": json.dumps(state), **owner_reads(owner, battle)}
    leaks = {path: FIGURES.search(text).group(0) for path, text in pages.items() if FIGURES.search(text)}
    assert not leaks, leaks
    sides = state["sides"]
    if condition == "relative":
        assert {sides["a"]["energy"]["relative"], sides["b"]["energy"]["relative"]} == {
            "Used more energy", "Used less energy"}
        assert sides["b"]["energy"]["less"] is True and sides["a"]["energy"]["joules"] is None
        assert state["energy_summary"]["ratio_text"] == "B used less energy than A: about 2× less."
    else:
        assert sides["a"]["energy"] is None and state["energy_summary"] is None
    final = vote(owner, battle, "final", "b")
    if condition == "relative":  # the condition holds to the end: no figure after the final vote either
        assert not FIGURES.search(json.dumps(final)) and final["sides"]["a"]["contender"]["name"]
    else:  # control: no one leaves without the energy
        assert final["sides"]["a"]["energy"]["joules"] == 7777.77 and final["energy_summary"]["ratio"] == 2.33


def test_the_joules_and_carbon_conditions_show_the_figures(owner, pair, settings):
    settings.ARENA_GRID_INTENSITY_G_PER_KWH = 400
    battle = battle_of(pair, owner.session.session_key, "carbon")
    assert owner.get(f"/arena/battles/{battle.id}/").json()["battle"]["reveal"] is None  # not before the blind vote
    state = vote(owner, battle, "blind", "a")
    energy = state["sides"]["a"]["energy"]
    assert state["reveal"] == "carbon" and energy["joules"] == 7777.77
    assert energy["co2e_g"] == pytest.approx(7777.77 / 3.6e6 * 400, rel=1e-3) and "g CO2e" in energy["carbon"]
    joules = battle_of(pair, owner.session.session_key, "joules")
    plain = vote(owner, joules, "blind", "b")["sides"]["a"]["energy"]
    assert plain["joules"] == 7777.77 and "carbon" not in plain


def test_the_websocket_sends_no_joules_in_the_relative_condition(pair, redis_services, transactional_db):
    import asyncio

    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    client = Client()
    client.get("/arena/")
    battle = battle_of(pair, client.session.session_key, "relative")
    vote(client, battle, "blind", "a")

    async def snapshot() -> dict:
        communicator = WebsocketCommunicator(application, f"/ws/battles/{battle.id}/", headers=[
            (b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000"),
            (b"cookie", f"sessionid={client.session.session_key}".encode()),
        ])
        connected, _ = await communicator.connect()
        assert connected
        message = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
        return message

    message = asyncio.run(snapshot())
    assert message["type"] == "snapshot" and message["battle"]["reveal"] == "relative"
    assert not FIGURES.search(json.dumps(message)), message
