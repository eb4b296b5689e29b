"""The worker side of a battle (arena/answering.py): answering a side, what its pane says when the
runtime refuses, the checks on a stored answer, and failing sides that no worker will finish."""

from types import SimpleNamespace

import pytest

from arena import answering
from arena.models import Response
from arena.services import battle_create


def answer_with(monkeypatch, response: Response, text: str) -> None:
    """Generate ``response`` with the model call replaced by one that answers ``text``."""
    result = SimpleNamespace(text=text, prompt_tokens=3, output_tokens=8, time_to_first_token_s=0.1,
                             duration_s=0.5, finish_reason="stop")
    reading = SimpleNamespace(joules=1.0, source="estimate", method="estimated", device="cpu")
    monkeypatch.setattr("workers.runtime.generate", lambda *a, **k: (result, reading), raising=False)
    monkeypatch.setattr(answering, "_group_send", lambda *a, **k: None)
    answering.response_generate(response_id=response.id)


@pytest.mark.parametrize("error", [
    "The prompt is 9000 tokens long; this model reads at most 8192 tokens. Shorten it.",
    "The model ran out of memory with this request in its batch; the others go on. Try again in a moment.",
])
def test_a_side_the_runtime_refuses_or_fails_says_why_in_its_pane(two_chat, monkeypatch, error):
    """The runtime's refusal (tested in tests/workers) is replaced by one that raises it at once."""
    from workers import batching

    kind = batching.PromptTooLong if error.startswith("The prompt") else batching.BatchRequestFailed

    def refuse(**_kwargs):
        raise kind(error)

    monkeypatch.setattr("workers.runtime.generate", refuse, raising=False)
    monkeypatch.setattr(answering, "_group_send", lambda *a, **k: None)
    battle = battle_create(prompt="hi", session_key="owner")
    answering.response_generate(response_id=battle.responses.get(side="a").id)
    failed, other = battle.responses.get(side="a"), battle.responses.get(side="b")
    assert failed.status == Response.Status.FAILED and failed.error == error
    assert other.status == Response.Status.QUEUED  # the other side is untouched


def test_identity_leak_flags_the_battle(two_chat, monkeypatch):
    """The model call is replaced (the rule under test is the leak check, not generation)."""
    battle = battle_create(prompt="Who are you?", session_key="owner")
    contender = battle.responses.get(side="a").contender
    answer_with(monkeypatch, battle.responses.get(side="a"), f"I am {contender.model.family}, made by "
                f"{contender.model.maker}.")
    battle.refresh_from_db()
    assert battle.identity_leak and not battle.counts_for_ranking
    assert battle.responses.get(side="a").status == Response.Status.DONE


def test_a_stored_chat_answer_gets_its_markdown_counts(two_chat, monkeypatch):
    """The style control's features are counted once, when the answer is stored (arena.style)."""
    battle = battle_create(prompt="Explain", session_key="owner")
    text = "# Title\n\n- one\n- **two**\n1. three\n\n```\n# not a header\n- nor an item\n```\n"
    answer_with(monkeypatch, battle.responses.get(side="a"), text)
    answer, other = battle.responses.get(side="a"), battle.responses.get(side="b")
    assert (answer.header_count, answer.list_count, answer.bold_count) == (1, 3, 1)
    assert (other.header_count, other.list_count, other.bold_count) == (None, None, None)  # not answered yet


def test_overdue_sides_are_timed_out(two_chat, settings, monkeypatch):
    monkeypatch.setattr(answering, "_group_send", lambda *a, **k: None)
    battle = battle_create(prompt="hi", session_key="owner")
    settings.ARENA_SIDE_TIMEOUT_S = 0
    assert answering.responses_expire_overdue() == 2
    battle.refresh_from_db()
    assert battle.has_error
    assert set(battle.responses.values_list("status", flat=True)) == {"timeout"}


def test_sides_of_a_lost_or_restarted_worker_fail_and_others_run_on(two_chat, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from workers.models import WorkerHeartbeat

    monkeypatch.setattr(answering, "_group_send", lambda *a, **k: None)
    now = timezone.now()
    beats = {
        "silent@h": now - timedelta(seconds=120),  # stopped beating
        "restarted@h": now,  # beats, but started after the answer began
        "alive@h": now,
    }
    responses = {}
    for hostname in beats:
        battle = battle_create(prompt=f"hi {hostname}", session_key="owner")
        response = battle.responses.get(side="a")
        Response.objects.filter(id=response.id).update(
            status=Response.Status.RUNNING, worker=hostname, started_at=now - timedelta(seconds=10)
        )
        responses[hostname] = response.id
    for hostname, last_seen in beats.items():
        started = now if hostname == "restarted@h" else now - timedelta(hours=1)
        WorkerHeartbeat.objects.create(hostname=hostname, pid=1, started_at=started, last_seen=last_seen)
    assert answering.responses_expire_overdue() == 2
    status = dict(Response.objects.filter(id__in=responses.values()).values_list("worker", "status"))
    assert status == {"silent@h": "failed", "restarted@h": "failed", "alive@h": "running"}
    assert "worker writing this answer stopped" in Response.objects.get(id=responses["silent@h"]).error


@pytest.fixture
def engine_contender(smollm2_contenders, engine_server):
    """SmolLM2 served by a real engine (transformers serve), registered as an operator would, checked
    (preparation) in this process, metered with `process:`; beside the local greedy SmolLM2 only."""
    from modelhub.models import Contender, Model
    from modelhub.services import model_prepare, model_register

    model = model_register(
        name="SmolLM2 on an engine", family="SmolLM2", kind=Model.Kind.CHAT, source_type=Model.SourceType.ENDPOINT,
        source=engine_server.url, served_model_id=engine_server.served, meter=f"process:{engine_server.pidfile}",
    )
    model = model_prepare(model_id=model.id)
    assert model.status == Model.Status.READY, model.error
    Contender.objects.exclude(name__in=["SmolLM2-135M greedy", "SmolLM2 on an engine"]).update(enabled=False)
    Contender.objects.update(max_new_tokens=24)
    return Contender.objects.get(model=model)


def test_an_engine_served_contender_battles_a_local_one_with_its_energy_measured_where_it_runs(
    engine_contender, live_arena
):
    from django.test import Client

    from tests.arena.test_faults import _ws_messages

    client = Client(enforce_csrf_checks=True)
    client.get("/arena/")
    csrf = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}
    answer = client.post("/arena/battles/", {"prompt": "Name three colours."}, **csrf)
    assert answer.status_code == 201, answer.content
    battle_id = answer.json()["battle"]["id"]
    messages = _ws_messages(live_arena, battle_id, client.session.session_key)
    streamed = {message["side"] for message in messages if message["type"] == "tokens"}
    assert streamed == {"a", "b"}  # both sides streamed live over the socket
    responses = {response.contender_id: response for response in Response.objects.filter(battle_id=battle_id)}
    engine_side = responses.pop(engine_contender.id)
    (local_side,) = responses.values()
    assert engine_side.status == local_side.status == Response.Status.DONE
    assert engine_side.output_tokens > 0 and engine_side.text
    assert engine_side.joules > 0 and engine_side.energy_source == "estimate"
    assert "engine's process tree" in engine_side.energy_method and "other traffic" in engine_side.energy_method

    voted = client.post(f"/arena/battles/{battle_id}/vote/", {"stage": "blind", "choice": "a"}, **csrf)
    assert voted.status_code == 200
    state = client.get(f"/arena/battles/{battle_id}/").json()["battle"]
    energies = {side: state["sides"][side]["energy"] for side in "ab"}
    assert all(energy["joules"] > 0 for energy in energies.values())
    assert state["energy_summary"]["ratio"] is not None

    # Without a meter: the answer is served, its energy is "not measured", and no figure is invented.
    engine_contender.model.__class__.objects.filter(id=engine_contender.model_id).update(meter="none")
    answer = client.post("/arena/battles/", {"prompt": "Name a fruit."}, **csrf)
    battle_id = answer.json()["battle"]["id"]
    _ws_messages(live_arena, battle_id, client.session.session_key)
    voted = client.post(f"/arena/battles/{battle_id}/vote/", {"stage": "blind", "choice": "b"}, **csrf)
    assert voted.status_code == 200
    state = client.get(f"/arena/battles/{battle_id}/").json()["battle"]
    side = next(s for s in "ab" if state["sides"][s]["energy"]["source"] == "none")
    assert state["sides"][side]["energy"]["joules"] is None
    assert "not measured" in state["sides"][side]["energy"]["method"]
    assert "not measured" in state["energy_summary"]["ratio_text"] and state["energy_summary"]["ratio"] is None


@pytest.fixture
def scripted_engine_contender(smollm2_contenders, settings):
    """A ready engine-served contender on a scripted engine (tests/workers/scripted_engine.py) that
    misbehaves on demand, beside the local greedy SmolLM2."""
    from modelhub.models import Contender, Model
    from modelhub.services import model_register
    from tests.workers.scripted_engine import ScriptedEngine

    engine = ScriptedEngine(tokens=30)
    model = model_register(
        name="Scripted engine", family="SmolLM2", kind=Model.Kind.CHAT, source_type=Model.SourceType.ENDPOINT,
        source=engine.url, served_model_id=engine.served, meter="none",
    )
    Model.objects.filter(id=model.id).update(status=Model.Status.READY)
    Contender.objects.exclude(name__in=["SmolLM2-135M greedy", "Scripted engine"]).update(enabled=False)
    Contender.objects.update(max_new_tokens=30)
    yield engine, Contender.objects.get(model=model)
    engine.close()


@pytest.mark.parametrize(("behaviour", "said"), [
    ("down", "cannot be reached"),
    ("break", "broke off the answer"),
    ("status:500", "failed the request (500)"),
    ("garbage", "not OpenAI-compatible JSON"),
    ("slow", "did not finish within 3 s"),
])
def test_an_engine_fault_ends_its_side_with_the_reason_and_leaves_the_other_side_alone(
    scripted_engine_contender, live_arena, settings, behaviour, said
):
    from django.test import Client

    from tests.factories import wait_until_true

    engine, contender = scripted_engine_contender
    settings.ARENA_GENERATION_TIMEOUT_S = 3
    if behaviour == "down":
        engine.close()
    else:
        engine.behaviour = behaviour
    client = Client(enforce_csrf_checks=True)
    client.get("/arena/")
    answer = client.post("/arena/battles/", {"prompt": "Name a colour."},
                         HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    battle_id = answer.json()["battle"]["id"]
    finished = (Response.Status.DONE, Response.Status.FAILED, Response.Status.TIMEOUT)
    wait_until_true(lambda: Response.objects.filter(battle_id=battle_id, status__in=finished).count() == 2, 120)
    engine_side = Response.objects.get(battle_id=battle_id, contender=contender)
    local_side = Response.objects.get(battle_id=battle_id, side="b" if engine_side.side == "a" else "a")
    assert local_side.status == Response.Status.DONE and local_side.text
    state = client.get(f"/arena/battles/{battle_id}/").json()["battle"]
    pane = state["sides"][engine_side.side]
    assert pane["status"] in ("failed", "timeout") and said in pane["error"], pane
    if behaviour == "slow":  # what arrived before the deadline stays
        assert engine_side.status == Response.Status.TIMEOUT and engine_side.text.startswith("tok0")
