import pytest
from django.test import Client

from arena.models import Battle, Vote
from tests.arena.test_services import finish


@pytest.fixture
def pair(make_contender):
    return make_contender(family="Fam"), make_contender(family="Fam")


@pytest.fixture
def browser(db):
    """A client that enforces CSRF like a browser session."""
    client = Client(enforce_csrf_checks=True)
    client.get("/arena/")
    return client


def csrf(client: Client) -> dict:
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


def test_battle_page_renders_with_csrf_token_and_examples(browser):
    page = browser.get("/")
    assert page.status_code == 200
    assert b"csrfmiddlewaretoken" in page.content
    assert b"arena-examples" in page.content


def test_post_without_csrf_token_is_refused_with_json(browser, pair):
    answer = browser.post("/arena/battles/", {"prompt": "hi"})
    assert answer.status_code == 403
    assert "security token" in answer.json()["error"]
    assert Battle.objects.count() == 0


def test_create_and_vote_over_http(browser, pair):
    answer = browser.post("/arena/battles/", {"prompt": "hi"}, **csrf(browser))
    assert answer.status_code == 201
    state = answer.json()["battle"]
    assert state["stage"] == "generating" and state["ws_url"] == f"/ws/battles/{state['id']}/"
    finish(Battle.objects.get(id=state["id"]))
    answer = browser.post(f"/arena/battles/{state['id']}/vote/", {"stage": "blind", "choice": "b"}, **csrf(browser))
    assert answer.status_code == 200
    assert answer.json()["battle"]["sides"]["b"]["energy"]["joules"] == 1.0


def test_errors_are_json_with_status_codes(browser, pair):
    assert browser.post("/arena/battles/", {"prompt": ""}, **csrf(browser)).json() == {"error": "Type a prompt first."}
    bad_json = browser.post("/arena/battles/", "{nope", content_type="application/json", **csrf(browser))
    assert bad_json.status_code == 400 and "JSON" in bad_json.json()["error"]
    assert browser.get("/arena/battles/999999/").status_code == 404
    vote = browser.post("/arena/battles/999999/vote/", {"stage": "blind", "choice": "a"}, **csrf(browser))
    assert vote.status_code == 404


def test_another_session_can_neither_read_nor_vote(browser, pair, db):
    state = browser.post("/arena/battles/", {"prompt": "hi"}, **csrf(browser)).json()["battle"]
    finish(Battle.objects.get(id=state["id"]))
    stranger = Client(enforce_csrf_checks=True)
    stranger.get("/arena/")
    assert stranger.get(f"/arena/battles/{state['id']}/").status_code == 404
    vote = stranger.post(f"/arena/battles/{state['id']}/vote/", {"stage": "blind", "choice": "a"}, **csrf(stranger))
    assert vote.status_code == 403


def test_unknown_page_is_a_friendly_404(browser):
    page = browser.get("/no/such/page/")
    assert page.status_code == 404
    assert b"nothing at this address" in page.content
    assert b"Traceback" not in page.content


def test_healthz_reports_each_part(client, redis_services, transactional_db):
    from django.utils import timezone

    from workers.models import WorkerHeartbeat

    report = client.get("/healthz").json()
    assert report["database"]["ok"] and report["redis"]["ok"] and report["web"]["ok"]
    assert report["status"] == "degraded" and report["workers"]["alive"] == 0  # no worker yet
    assert "default" in report["queues"]
    WorkerHeartbeat.objects.create(hostname="w1@h", pid=7, started_at=timezone.now(), last_seen=timezone.now(),
                                   queues=["default"], models_loaded=["SmolLM2"])
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    assert answer.json()["status"] == "ok"
    assert answer.json()["workers"]["seen"][0]["models_loaded"] == ["SmolLM2"]


def test_healthz_when_redis_is_unreachable_is_degraded(client, transactional_db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    report = client.get("/healthz").json()
    assert report["status"] == "degraded" and report["redis"]["ok"] is False and report["queues"] is None


def test_database_unavailable_gives_503_page_and_json_and_writes_nothing(make_contender, transactional_db):
    contender_a, contender_b = make_contender(family="Fam"), make_contender(family="Fam")
    client = Client(enforce_csrf_checks=True)
    client.get("/arena/")
    token = client.cookies["csrftoken"].value
    battle = Battle.objects.create(prompt="p", contender_a=contender_a, contender_b=contender_b, policy="uniform",
                                   session_key=client.session.session_key)
    from django.db import connection

    from tests.conftest import free_port

    original = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-dir/arena.sqlite3"
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        arena = client.get("/arena/")  # needs no database: it still loads, and submitting says why it fails
        page = client.get("/arena/compare/")  # lists contenders from the database
        leaderboard = client.get("/leaderboard/")
        vote = client.post(f"/arena/battles/{battle.id}/vote/", {"stage": "blind", "choice": "a"},
                           HTTP_X_CSRFTOKEN=token)
        create = client.post("/arena/battles/", {"prompt": "hello"}, HTTP_X_CSRFTOKEN=token)
        health = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)
    assert arena.status_code == 200
    for answer in (page, leaderboard):
        assert answer.status_code == 503 and answer["Retry-After"] == "30"
        assert b"database is unavailable or too busy" in answer.content and b"Traceback" not in answer.content
    for answer in (vote, create):
        assert answer.status_code == 503, answer.content
        assert "database is unavailable or too busy" in answer.json()["error"]
    assert health.status_code == 503 and health.json()["status"] == "down"
    assert health.json()["database"]["ok"] is False
    assert Battle.objects.count() == 1 and not battle.responses.exists()
    assert not Vote.objects.exists()
