"""The leaderboard websocket against the real Redis channel layer (and a real Celery worker)."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from analysis.leaderboard.services import leaderboard_refit
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
