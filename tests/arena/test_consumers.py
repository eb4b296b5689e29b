"""The battle websocket against a real Redis channel layer, a real Celery worker and real SmolLM2."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore

from arena.services import battle_create, vote_cast
from config.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


def _session() -> str:
    store = SessionStore()
    store.create()
    return store.session_key


def _connect(battle_id: int, session_key: str | None, origin=ORIGIN) -> WebsocketCommunicator:
    headers = [origin, (b"host", b"127.0.0.1:8000")]
    if session_key:
        headers.append((b"cookie", f"sessionid={session_key}".encode()))
    return WebsocketCommunicator(application, f"/ws/battles/{battle_id}/", headers=headers)


@pytest.fixture
def smol_contenders(bundled_ready):
    from modelhub.models import Contender

    bundled_ready("smollm2-135m-instruct")
    # Short answers keep the test quick on two CPU cores.
    Contender.objects.filter(model__source="smollm2-135m-instruct").update(max_new_tokens=24)
    Contender.objects.filter(name="SmolLM2-135M contrastive").update(enabled=False)


@pytest.mark.django_db(transaction=True)
async def test_battle_streams_in_order_and_hides_energy_and_names(smol_contenders, celery_worker_threads):
    session_key = await sync_to_async(_session)()
    battle = await sync_to_async(battle_create)(prompt="Name three colours.", session_key=session_key)
    communicator = _connect(battle.id, session_key)
    connected, _ = await communicator.connect()
    assert connected
    messages = []
    texts = {"a": "", "b": ""}
    done = set()
    while done != {"a", "b"}:
        message = await communicator.receive_json_from(timeout=120)
        messages.append(message)
        if message["type"] == "snapshot":
            texts = {side: data["text"] for side, data in message["battle"]["sides"].items()}
        elif message["type"] == "tokens":
            side = message["side"]
            assert message["offset"] <= len(texts[side])  # never a gap: tokens arrive in order
            texts[side] = texts[side][: message["offset"]] + message["text"]
        elif message["type"] == "side_done":
            assert message["status"] == "done", message
            assert texts[message["side"]] == message["text"]  # the streamed deltas add up to the answer
            done.add(message["side"])
    await communicator.disconnect()

    assert any(m["type"] == "tokens" for m in messages)
    assert all(len(texts[s]) > 0 for s in "ab")
    raw = json.dumps(messages)
    for secret in ("joules", "SmolLM2-135M", "estimate"):
        assert secret not in raw, f"{secret!r} reached the browser before the vote"

    # After the blind vote the energy is there; after the final vote the names.
    await asyncio.sleep(0.2)
    voted = await sync_to_async(vote_cast)(battle_id=battle.id, session_key=session_key, stage="blind", choice="a")
    from arena.selectors import battle_state

    state = await sync_to_async(battle_state)(battle=voted)
    assert state["sides"]["a"]["energy"]["source"] == "estimate"
    assert state["sides"]["a"]["energy"]["joules"] > 0
    assert "CPU time" in state["sides"]["a"]["energy"]["method"]
    assert state["sides"]["a"]["contender"] is None


@pytest.mark.django_db(transaction=True)
async def test_socket_refuses_other_sessions_and_foreign_origins(redis_services, make_contender):
    await sync_to_async(make_contender)()
    await sync_to_async(make_contender)()
    owner = await sync_to_async(_session)()
    battle = await sync_to_async(battle_create)(prompt="hi", session_key=owner)

    stranger = _connect(battle.id, await sync_to_async(_session)())
    connected, _ = await stranger.connect()
    assert connected
    closed = await stranger.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4403}

    foreign = _connect(battle.id, owner, origin=(b"origin", b"http://evil.example"))
    connected, _ = await foreign.connect()
    assert not connected

    mine = _connect(battle.id, owner)
    connected, _ = await mine.connect()
    assert connected
    snapshot = await mine.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot" and snapshot["battle"]["stage"] == "generating"
    await mine.send_to(text_data="not json")
    assert (await mine.receive_json_from(timeout=5))["type"] == "error"
    await mine.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_side_waiting_for_a_batch_slot_tells_the_page_where_it_waits(redis_services, make_contender,
                                                                            monkeypatch, settings):
    """The runtime's on_queue reaches the page as "queue" messages (a changed position at most every
    ARENA_STREAM_SAVE_S, the start of the side's turn at once), and the stored sentence is in the
    snapshot, so a reloaded page says it too. The model call is replaced: the engine is not under test."""
    from types import SimpleNamespace

    from arena import answering
    from arena.selectors import battle_state

    await sync_to_async(make_contender)()
    await sync_to_async(make_contender)()
    owner = await sync_to_async(_session)()
    battle = await sync_to_async(battle_create)(prompt="hi", session_key=owner)
    communicator = _connect(battle.id, owner)
    connected, _ = await communicator.connect()
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["battle"]["sides"]["a"]["waiting"] == "Waiting for a worker…"  # not taken by a worker yet

    settings.ARENA_STREAM_SAVE_S = 60
    shown_on_reload = []

    def fake_generate(*, path, precision, decoding, prompt, on_token=None, on_queue=None, **kwargs):
        for position in (3, 3, 2, 0):
            on_queue(position)
            shown_on_reload.append(battle_state(battle=battle)["sides"]["a"]["waiting"])
        on_token("Hello")
        result = SimpleNamespace(text="Hello", prompt_tokens=3, output_tokens=1, time_to_first_token_s=0.1,
                                 duration_s=0.5, finish_reason="stop")
        return result, SimpleNamespace(joules=1.0, source="estimate", method="estimated", device="cpu")

    monkeypatch.setattr("workers.runtime.generate", fake_generate)
    response = await sync_to_async(battle.responses.get)(side="a")
    # In a thread that closes its database connection after (as a worker's task does).
    await database_sync_to_async(answering.response_generate)(response_id=response.id)

    messages = []
    while not any(m["type"] == "side_done" for m in messages):
        messages.append(await communicator.receive_json_from(timeout=10))
    await communicator.disconnect()
    queued = [(m["side"], m["position"], m["text"]) for m in messages if m["type"] == "queue"]
    # 3 is sent; the repeat and the change to 2 within the interval are not; the start goes at once.
    assert queued == [("a", 3, "Queued: 2 requests ahead"), ("a", 0, "Starting to write…")]
    kinds = [m["type"] for m in messages]
    assert kinds.index("tokens") > max(i for i, kind in enumerate(kinds) if kind == "queue")
    assert shown_on_reload == ["Queued: 2 requests ahead"] * 3 + ["Starting to write…"]
    state = await database_sync_to_async(battle_state)(battle=battle)
    assert state["sides"]["a"]["waiting"] == "" and state["sides"]["a"]["text"] == "Hello"
