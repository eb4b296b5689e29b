import pytest
from django.test import Client

from arena.models import Battle
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
