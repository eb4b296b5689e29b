"""The site's error answers (config/errors.py, config/middleware.py): a page or JSON per status, an
unreachable database a 503 with Retry-After, a CSRF refusal that says which check failed."""

import json

import pytest
from django.test import Client

from arena.models import Battle, Vote


def test_unknown_page_is_a_friendly_404(db):
    page = Client().get("/no/such/page/")
    assert page.status_code == 404
    assert b"nothing at this address" in page.content
    assert b"Traceback" not in page.content


def test_database_unavailable_gives_503_page_and_json_and_writes_nothing(make_contender, transactional_db, settings):
    settings.ARENA_HEALTH_TOKEN = "s3cret"
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
        health = client.get("/healthz", HTTP_AUTHORIZATION="Bearer s3cret")
        public_health = client.get("/healthz")
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
    assert public_health.status_code == 503 and public_health.json() == {"status": "down"}
    assert Battle.objects.count() == 1 and not battle.responses.exists()
    assert not Vote.objects.exists()


@pytest.mark.parametrize(("token", "message"), [
    (None, "missing its security token"),
    ("x" * 64, "did not match"),
    ("short", "did not match"),
])
def test_csrf_failures_say_which_check_failed(token, message, transactional_db):
    client = Client(enforce_csrf_checks=True)
    client.get("/arena/")
    headers = {"HTTP_X_CSRFTOKEN": token} if token else {}
    refused = client.post("/arena/battles/", {"prompt": "hi"}, **headers)
    assert refused.status_code == 403 and message in refused.json()["error"]
    cookieless = Client(enforce_csrf_checks=True).post("/arena/battles/", {"prompt": "hi"}, HTTP_X_CSRFTOKEN="x" * 64)
    assert cookieless.status_code == 403 and "cookie" in cookieless.json()["error"]


def test_a_body_over_the_limit_is_413_and_saves_nothing(make_contender, settings):
    make_contender(family="F"), make_contender(family="F")
    client = Client()
    big = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    answer = client.post("/arena/battles/", data=json.dumps({"prompt": big}), content_type="application/json")
    assert answer.status_code == 413 and "larger than this site accepts" in answer.json()["error"]
    form = client.post("/admin/login/", data={"username": "x", "password": big})
    assert form.status_code == 413 and b"Request too large" in form.content
    many = {f"f{i}": "1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    fields = client.post("/admin/login/", data=many)
    assert fields.status_code == 413
    assert Battle.objects.count() == 0


def test_every_429_and_503_says_when_to_try_again(db):
    """The arena's refusals that pass carry Retry-After by construction; /healthz when down too."""
    from arena.errors import TooMany, Unavailable

    for refusal in (TooMany, Unavailable):
        with pytest.raises(TypeError):
            refusal("no time given")  # a 429/503 without Retry-After cannot be built
        assert refusal("wait", retry_after_s=7).retry_after_s == 7
