"""The battle websocket against a real Redis channel layer, a real Celery worker and real SmolLM2."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
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


@pytest.mark.models
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
