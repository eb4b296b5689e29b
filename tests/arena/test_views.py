import json

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
    empty = browser.post("/arena/battles/", {"prompt": ""}, **csrf(browser))
    assert empty.status_code == 400 and empty.json() == {"error": "Type a prompt first.", "field": "prompt"}
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


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"prompt": "hi", "corpus": 7}, "corpus", "must be text"),
    ({"prompt": None}, "prompt", "must be text"),
    ({"prompt": ["hi"]}, "prompt", "must be text"),
    ({"prompt": "hi", "model": "x"}, "model", "Unknown field"),
    ({"prompt": "\ud800"}, "prompt", "not valid Unicode"),
    ({"prompt": "a\u0000b"}, "prompt", "NUL character"),
])
def test_a_wrong_field_is_a_400_that_names_it_and_stores_nothing(browser, pair, body, field, message):
    raw = json.dumps(body).encode()  # escapes the lone surrogate and the NUL: valid JSON for both
    answer = browser.post("/arena/battles/", raw, content_type="application/json", **csrf(browser))
    assert answer.status_code == 400, answer.content
    assert answer.json()["field"] == field and message in answer.json()["error"]
    assert not Battle.objects.exists()


def test_a_vote_with_a_wrong_field_is_a_400_that_names_it(browser, pair):
    state = browser.post("/arena/battles/", {"prompt": "hi"}, **csrf(browser)).json()["battle"]
    url = f"/arena/battles/{state['id']}/vote/"
    answer = browser.post(url, '{"stage": "blind", "choice": 1}', content_type="application/json", **csrf(browser))
    assert answer.status_code == 400 and answer.json()["field"] == "choice"
    answer = browser.post(url, {"stage": "blind", "choice": "x"}, **csrf(browser))
    assert answer.status_code == 400 and answer.json()["field"] == "choice"
    assert not Vote.objects.exists()



@pytest.mark.parametrize(("path", "words", "not_words"), [
    ("/arena/retrieval/",
     ["Your query", ">Query</h3>", "Which results are better?", "Embedding the documents (once)",
      'aria-label="Results of model A"', "to show the results"],
     ["Your prompt", ">Prompt</h3>", "Which answer is better?", "Per output token", "Answer of model"]),
    ("/arena/",
     ["Your prompt", ">Prompt</h3>", "Which answer is better?", "Per output token", 'aria-label="Answer of model B"'],
     ["Your query", "Which results are better?", "Embedding the documents"]),
])
def test_each_arena_page_speaks_its_own_words(client, db, path, words, not_words):
    import re

    page = client.get(path).content.decode()
    for word in words:
        assert word in page, word
    for word in not_words:
        assert word not in page, word
    # The script's sentences come with the page, as data (no inline script or style: a CSP is coming).
    sent = json.loads(re.search(r'<script id="arena-words" type="application/json">(.*?)</script>', page).group(1))
    assert sent["vote_question"] in page and ("searching" in sent["working"]) == (path == "/arena/retrieval/")
    assert not re.search(r"<script(?![^>]*(?:\bsrc=|application/json))", page)
    assert "style=" not in page and "<style" not in page
