"""The leaderboard websocket against the real Redis channel layer (and a real Celery worker)."""

import asyncio
import json
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from analysis.consumers import GROUP
from analysis.leaderboard.services.refit import leaderboard_refit
from config.asgi import application

HEADERS = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]


def _connect() -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/leaderboard/", headers=HEADERS)


async def _receive_update(communicator, timeout: float = 10) -> dict:
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if message["type"] == "leaderboard" and message.get("summary"):
            return message


@pytest.mark.django_db(transaction=True)
async def test_a_refit_is_pushed_to_open_pages(redis_services, make_contender, make_battle, vote):
    alpha = await sync_to_async(make_contender)(name="Alpha")
    beta = await sync_to_async(make_contender)(name="Beta")
    communicator = _connect()
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello == {"type": "leaderboard", "snapshot_id": None, "computed_at": None}

    battle = await sync_to_async(make_battle)(alpha, beta)
    await sync_to_async(vote)(battle, "a", "b")
    snapshot = await sync_to_async(leaderboard_refit)(rounds=3)
    message = await _receive_update(communicator)
    assert message["snapshot_id"] == snapshot.id
    assert message["computed_at"] == snapshot.computed_at.isoformat()
    blind = {row["name"]: row for row in message["summary"]["chat"]["blind"]}
    energy = {row["name"]: row for row in message["summary"]["chat"]["energy"]}
    assert blind["Alpha"]["rating"] > blind["Beta"]["rating"]  # Alpha won the blind vote ...
    assert energy["Beta"]["rating"] > energy["Alpha"]["rating"]  # ... and lost the one after the reveal
    assert blind["Alpha"]["battles"] == 1

    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=5)) == {"type": "pong"}
    await communicator.disconnect()

    again = _connect()  # a page that reconnects learns which snapshot is current
    assert (await again.connect())[0]
    assert (await again.receive_json_from(timeout=5))["snapshot_id"] == snapshot.id
    await again.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_vote_reaches_open_pages_through_the_debounced_celery_refit(
    celery_worker_threads, settings, make_contender, make_battle, vote
):
    settings.ANALYSIS_REFIT_DELAY_S = 0.2
    settings.ANALYSIS_BOOTSTRAP_ROUNDS = 5
    alpha = await sync_to_async(make_contender)(name="Alpha")
    beta = await sync_to_async(make_contender)(name="Beta")
    communicator = _connect()
    assert (await communicator.connect())[0]
    await communicator.receive_json_from(timeout=5)

    battle = await sync_to_async(make_battle)(alpha, beta)
    await sync_to_async(vote)(battle, "b", "b")  # the final vote commits: the refit task is queued, a worker runs it
    message = await _receive_update(communicator, timeout=60)
    names = [row["name"] for row in message["summary"]["chat"]["blind"]]
    assert names == ["Beta", "Alpha"]
    await communicator.disconnect()


IDLE_S = 35  # seven of the 5 s BZPOPMIN cycles that closed idle sockets, and past TCP keepalive's 30 s idle


def test_an_idle_leaderboard_socket_stays_open_and_still_hears_a_refit(asgi_server):
    """A page that hears nothing for minutes keeps its socket: no close (1011 every ~5 s when redis-py's
    read timeout raced channels_redis's 5 s BZPOPMIN) and so no reconnect; the next push still arrives."""
    url = asgi_server.replace("http://", "ws://") + "/ws/leaderboard/"
    with connect(url, origin=asgi_server, proxy=None) as socket:
        hello = json.loads(socket.recv(timeout=10))
        assert hello["type"] == "leaderboard" and "summary" not in hello
        started = time.monotonic()
        try:
            early = socket.recv(timeout=IDLE_S)
        except TimeoutError:
            pass  # heard nothing for the whole time, and still open
        except ConnectionClosed as closed:
            pytest.fail(f"closed after {time.monotonic() - started:.1f} s idle: {closed!r}")
        else:
            pytest.fail(f"nothing was sent, yet the page heard {early!r}")
        event = {"type": "leaderboard.updated", "snapshot_id": 4242, "computed_at": "2026-01-01T00:00:00+00:00",
                 "summary": {}}
        async_to_sync(get_channel_layer().group_send)(GROUP, event)
        pushed = json.loads(socket.recv(timeout=10))
        assert pushed == {"type": "leaderboard", "snapshot_id": 4242, "computed_at": event["computed_at"],
                          "summary": {}}
        assert socket.close_code is None


async def _cancel_receive_after(layer, steps: int) -> float | None:
    """Start a consumer's channel-layer receive on a fresh connection, cancel it after `steps` turns of the
    loop; the seconds it went on for when it did not end within a second, else None."""
    receiver = asyncio.ensure_future(layer.receive(await layer.new_channel()))
    for _ in range(steps):
        await asyncio.sleep(0)
    receiver.cancel()
    started = time.monotonic()
    await asyncio.wait({receiver}, timeout=1)
    if receiver.done():
        return None
    await layer.close_pools()  # the swallowed cancellation: only a closed connection ends that receive
    await asyncio.wait({receiver})
    return time.monotonic() - started


def test_a_cancelled_channel_receive_ends_at_once(redis_services):
    """What a consumer's shutdown (a page leaving, a server stopping) does to its channel-layer receive.
    Cancelled at every point of the new connection's handshake and first commands, it must end at once:
    with a socket timeout redis-py sends through asyncio.wait_for, which on Python 3.11 drops a
    cancellation landing as the send completes, and the receive went on polling Redis (up to the next
    read timeout, or for ever with a timeout above BZPOPMIN's 5 s: the fuzz test's shutdown hung)."""
    layer = get_channel_layer()
    late = {steps: seconds for steps in range(40) if (seconds := asyncio.run(_cancel_receive_after(layer, steps)))}
    assert not late, f"receives that outlived their cancellation, by loop turns before it: {late}"
