import pytest
from django.test import Client

from arena.models import Battle, Vote
from tests.factories import finish


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


def test_healthz_reports_each_part(client, redis_services, transactional_db, settings):
    from django.utils import timezone

    from workers.models import WorkerHeartbeat

    settings.ARENA_HEALTH_TOKEN = "s3cret"
    client.defaults["HTTP_AUTHORIZATION"] = "Bearer s3cret"
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


def test_healthz_details_only_for_staff_or_the_token(client, redis_services, transactional_db, settings,
                                                     django_user_model):
    from django.utils import timezone

    from workers.models import WorkerHeartbeat

    WorkerHeartbeat.objects.create(hostname="w1@h", pid=7, started_at=timezone.now(), last_seen=timezone.now(),
                                   queues=["default", "model.secret"], models_loaded=["SmolLM2"])
    settings.ARENA_HEALTH_TOKEN = "s3cret"
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": "Bearer "}):
        answer = client.get("/healthz", **headers)
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}, headers
    assert "queues" in client.get("/healthz", HTTP_AUTHORIZATION="Bearer s3cret").json()
    settings.ARENA_HEALTH_TOKEN = ""  # no token set: none is accepted, not even an empty one
    assert client.get("/healthz", HTTP_AUTHORIZATION="Bearer ").json() == {"status": "ok"}
    client.force_login(django_user_model.objects.create_user("someone", password="x"))
    assert client.get("/healthz").json() == {"status": "ok"}
    client.force_login(django_user_model.objects.create_user("ops", password="x", is_staff=True))
    report = client.get("/healthz").json()
    assert report["workers"]["seen"][0]["queues"] == ["default", "model.secret"] and "default" in report["queues"]


def test_healthz_when_redis_is_unreachable_is_degraded(client, transactional_db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    settings.ARENA_HEALTH_TOKEN = "s3cret"
    report = client.get("/healthz", HTTP_AUTHORIZATION="Bearer s3cret").json()
    assert report["status"] == "degraded" and report["redis"]["ok"] is False and report["queues"] is None


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


def test_429_answers_say_when_to_retry(make_contender, settings):
    make_contender(family="Fam"), make_contender(family="Fam")
    settings.ARENA_BATTLES_PER_MINUTE_PER_SESSION = 1
    client = Client()
    client.get("/arena/")
    assert client.post("/arena/battles/", {"prompt": "one"}).status_code == 201
    refused = client.post("/arena/battles/", {"prompt": "two"})
    assert refused.status_code == 429 and refused["Retry-After"] == "60"


def test_429_of_the_daily_vote_cap_retries_when_the_oldest_vote_leaves_the_day(make_contender, settings):
    from datetime import timedelta

    from django.utils import timezone

    make_contender(family="Fam"), make_contender(family="Fam")
    settings.ARENA_VOTES_PER_DAY_PER_SESSION = 1
    client = Client()
    client.get("/arena/")
    first = client.post("/arena/battles/", {"prompt": "one"}).json()["battle"]["id"]
    finish(Battle.objects.get(id=first))
    assert client.post(f"/arena/battles/{first}/vote/", {"stage": "blind", "choice": "a"}).status_code == 200
    Vote.objects.update(blind_at=timezone.now() - timedelta(hours=23))  # leaves the day in about an hour
    refused = client.post("/arena/battles/", {"prompt": "two"})
    assert refused.status_code == 429
    assert 3500 <= int(refused["Retry-After"]) <= 3700


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


def test_retrieval_page_says_why_no_corpus_can_be_searched_yet(make_contender, client):
    import re

    from arena.models import Corpus, CorpusEmbedding
    from modelhub.models import Model

    encoders = [make_contender(family=f"Enc{n}", kind=Model.Kind.ENCODER) for n in range(3)]
    builtin = Corpus.objects.create(name="Python reference docs", builtin="python-docs", document_count=900)
    done, running, queued = (CorpusEmbedding.objects.create(corpus=builtin, contender=encoder)
                             for encoder in encoders)
    CorpusEmbedding.objects.filter(id=done.id).update(status=CorpusEmbedding.Status.READY, progress=1.0)
    CorpusEmbedding.objects.filter(id=running.id).update(status=CorpusEmbedding.Status.RUNNING, progress=0.8)
    CorpusEmbedding.objects.filter(id=queued.id).update(status=CorpusEmbedding.Status.QUEUED, progress=0.0)

    def text(page) -> str:
        return re.sub(r"\s+", " ", page.content.decode())

    page = text(client.get("/arena/retrieval/"))
    # The selector is not blank: it says that nothing is ready, and the page says why, with the progress.
    assert '<option value="" selected disabled>No corpus is ready yet</option>' in page
    assert "Python reference docs (900 documents, embedding: 40%)" in page  # the running one and the queued one
    assert ("The built-in corpus “Python reference docs” is being embedded by the encoders: 40% "
            "(1 of 3 encoders done).") in page
    assert '<progress max="100" value="40"' in page
    assert 'data-poll-ms="' in page  # the page asks again until a corpus is ready

    CorpusEmbedding.objects.filter(id=running.id).update(status=CorpusEmbedding.Status.READY, progress=1.0)
    page = text(client.get("/arena/retrieval/"))
    assert "being embedded" not in page and "No corpus is ready yet" not in page and "data-poll-ms" not in page
    assert '<option value="python-reference-docs">Python reference docs (900 documents, embedding: 0%)' in page

    CorpusEmbedding.objects.filter(corpus=builtin).update(status=CorpusEmbedding.Status.FAILED)
    page = text(client.get("/arena/retrieval/"))
    assert "No corpus is ready yet" in page and "data-poll-ms" not in page
    assert "No corpus has two encoders ready yet" in page
