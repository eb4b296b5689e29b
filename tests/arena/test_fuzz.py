"""Hostile input to every endpoint and every websocket message type (hypothesis).

Every HTTP route the resolver knows (so a new endpoint is fuzzed without touching this file), every
method, fuzzed path values, query strings, bodies and headers, as a browser with its CSRF token and
without it; the admin as a logged-in non-staff user; both websockets with fuzzed paths and frames.
Whatever arrives: no 500, no stack trace, JSON where JSON is promised, and nothing stored by a
refused request. Inputs that once broke these rules are pinned as regression tests at the end of each
section.
"""

import asyncio
import datetime as dt
import json
import re
from types import SimpleNamespace
from urllib.parse import quote, unquote, urlencode

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpResponse
from django.test import Client
from django.urls.resolvers import RoutePattern
from hypothesis import HealthCheck, example, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from analysis.models import LeaderboardSnapshot
from arena.models import Battle, Response, Vote
from config.asgi import application
from tests.factories import finish
from tests.routes import PARAMETER, routes

# Rows a refused request must never create or delete (the issue's list), plus a few neighbours.
STORED = [
    "arena.Battle", "arena.Response", "arena.Vote", "arena.Corpus", "arena.CorpusDocument", "arena.CorpusEmbedding",
    "analysis.PairCount", "analysis.PendingVote", "analysis.DiagnosticsRun", "analysis.LeaderboardSnapshot",
    "modelhub.Model", "modelhub.Contender", "auth.User", "admin.LogEntry",
]
# Examples share one database (rows accumulate), so no example database: nothing is written into the
# checkout and no stale example is replayed against a different schema.
FUZZ = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}


def _counts() -> dict[str, int]:
    return {label: apps.get_model(label).objects.count() for label in STORED}


# --- the routes -----------------------------------------------------------------------------------


ROUTES = routes()
JSON_PREFIXES = ("/arena/battles", "/api/", "/healthz")


def _json_promised(path: str) -> bool:
    return path.startswith(JSON_PREFIXES) or path.endswith(".json")


def _example_path(route: str) -> str:
    return PARAMETER.sub(lambda match: "1" if match.group(1) == "int" else "x", route)


JSON_ROUTES = sorted(route for route in ROUTES if _json_promised(_example_path(route)))

# Path-converter values: valid ones (ids far past 64 bits included) and ones the converter rejects.
IDS = st.one_of(st.integers(0, 2**31), st.integers(2**63 - 2, 2**63 + 2), st.integers(10**19, 10**60))
CONVERTERS = {
    "int": IDS.map(str),
    "slug": st.from_regex(r"[-a-zA-Z0-9_]{1,200}", fullmatch=True),
    "uuid": st.uuids().map(str),
    "path": st.text(min_size=1, max_size=50),
    "str": st.text(min_size=1, max_size=50).filter(lambda text: "/" not in text),
}
NOT_MATCHING = st.sampled_from(["-1", "0x10", "1e3", "abc", "%00", "..", "١٢", " 1", "NaN", "😀", "a" * 300])


def _segment(pattern, own: dict[str, list[str]]) -> st.SearchStrategy[str]:
    if not isinstance(pattern, RoutePattern):  # a re_path: anything its regex matches
        return st.from_regex(pattern.regex, fullmatch=True)
    pieces = re.split(r"<(?:(\w+):)?\w+>", str(pattern))  # literal, converter, literal, ...
    parts = []
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            parts.append(st.just(piece))
            continue
        values = [CONVERTERS.get(piece or "str", st.text(min_size=1, max_size=50)), NOT_MATCHING]
        if own.get(piece):  # this client's own battle, an existing contender: reach the views' 200s too
            values.append(st.sampled_from(own[piece]))
        parts.append(st.one_of(*values))
    return st.tuples(*parts).map("".join)


def _path(route: str, own: dict[str, list[str]]) -> st.SearchStrategy[str]:
    return st.tuples(*(_segment(pattern, own) for pattern in ROUTES[route])).map(lambda parts: "/" + "".join(parts))


def test_every_route_is_found():
    # Guards the walk itself: an empty ROUTES would make the fuzz pass vacuously.
    for route in ("/", "/arena/battles/", "/arena/battles/<int:battle_id>/vote/", "/api/leaderboard.json",
                  "/healthz", "/models/<slug:slug>/", "/diagnostics/run/", "/leaderboard/"):
        assert route in ROUTES
    assert not any(route.startswith("/admin/") for route in ROUTES)


# --- hostile values -------------------------------------------------------------------------------

KEYS = ["kind", "since", "until", "figures", "prompt", "contender_a", "contender_b", "corpus", "stage", "choice",
        "contender", "csrfmiddlewaretoken", "next", "id"]
SPECIAL = [
    "", " ", "0", "-1", "NaN", "null", "true", "[]", "{}", "9" * 40, "chat", "encoder", "language", "completion",
    "retrieval", "a", "b", "A", "tie", "bothbad", "blind", "final", " blind", "2025-01-31", "0001-01-01", "9999-12-31",
    "2025-02-30", "20250131", "2025-W05-1", "<script>alert(1)</script>", "' OR 1=1 --", "%00", "../../etc/passwd",
    "\u202e\u200b\ufeff", "😀" * 10, "a\r\nSet-Cookie: x=1", "\\", "{{ settings.SECRET_KEY }}",
]
TEXT = st.text(max_size=40)
HUGE = st.builds(lambda char, size: char * size, st.sampled_from(["a", "é", "😀", " "]), st.integers(1000, 70_000))
DATES = st.dates().map(dt.date.isoformat)
VALUES = st.one_of(TEXT, st.sampled_from(SPECIAL), HUGE)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | VALUES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=10,
)
FIELDS = st.lists(st.tuples(st.sampled_from(KEYS) | TEXT, VALUES), max_size=6)
FILTERS = st.fixed_dictionaries({}, optional={
    "kind": st.sampled_from(["chat", "encoder", "completion", "language", "Chat", " chat "]) | VALUES,
    "since": DATES | VALUES, "until": DATES | VALUES, "figures": st.sampled_from(["1", "true", "yes", "0"]) | VALUES,
})
RAW_QUERIES = st.sampled_from([
    "%ff%fe", "a=%00", "&&&", "=", "==&=", "kind", "kind=chat&kind=encoder", "since[]=1", "a=" + "b" * 10_000,
    "x=1&" * 1500,  # past DATA_UPLOAD_MAX_NUMBER_FIELDS
])
QUERIES = st.one_of(FIELDS.map(urlencode), FILTERS.map(urlencode), RAW_QUERIES)
CONTENT_TYPES = [
    "application/json", "application/json; charset=utf-8", "application/json; charset=latin-1",
    "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=xyz",
    "text/plain", "application/xml", "", "*/*", ";;;", "application/json; charset=nonexistent",
]
RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"", b"{nope", b"{", b"[1,", b"\xff\xfe\x00", b"null", b"[]", b'"prompt"', b"1" * 5000, b"NaN",
                     b'{"prompt": "hi"', b'{"prompt": "hi"}' * 2, b"--xyz\r\nContent-Disposition: form-data\r\n\r\n",
                     b"\x00" * 100, b"[" * 100_000]),
)


@st.composite
def bodies(draw) -> tuple[bytes, str]:
    """A request body and its declared content type, often a wrong one."""
    kind = draw(st.sampled_from(["form", "json-object", "json-any", "raw"]))
    if kind == "form":
        body, content_type = urlencode(draw(FIELDS)).encode(), "application/x-www-form-urlencoded"
    elif kind == "json-object":
        data = draw(st.dictionaries(st.sampled_from(KEYS) | TEXT, JSON_VALUES, max_size=6))
        body, content_type = json.dumps(data).encode(), "application/json"
    elif kind == "json-any":
        body, content_type = json.dumps(draw(JSON_VALUES)).encode(), "application/json"
    else:
        body, content_type = draw(RAW_BODIES), "application/octet-stream"
    if draw(st.booleans()):
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    return body, content_type


HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=40)
ACCEPTS = st.none() | st.sampled_from(["*/*", "application/json", "text/html", "", "application/json;q=0",
                                       "text/html, application/json"]) | HEADER_TEXT
ORIGINS = st.none() | st.sampled_from(["http://testserver", "http://127.0.0.1:8000", "http://evil.example", "null",
                                       "", "https://testserver"]) | HEADER_TEXT
HOSTS = st.none() | st.sampled_from(["testserver", "evil.example", "127.0.0.1:8000", "[::1]", "a" * 300,
                                     "testserver:99999", "localhost@evil.example"])
METHODS = st.sampled_from(["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE", "FOO"])


# --- checks ---------------------------------------------------------------------------------------


def _body(response) -> bytes:
    if not response.streaming:
        return response.content
    # Consumed, never close()d: the client's wrapper keeps the test's database connection open.
    return b"".join(response.streaming_content)


def _check(response, path: str, method: str) -> None:
    """No 500, no stack trace, JSON where JSON is promised."""
    body = _body(response)
    assert response.status_code < 500, (response.status_code, body[:500])
    if path.endswith(".js") and response.status_code == 200:
        return  # the bundled plotly.js itself: a static file, not ours to scan
    assert b"Traceback" not in body and b'File "' not in body, body[:2000]
    if not _json_promised(path):
        return
    content_type = response.get("Content-Type", "")
    if content_type.startswith("application/x-ndjson"):  # the battle log: one JSON object per line
        assert all(isinstance(json.loads(line), dict) for line in body.splitlines() if line.strip())
        return
    assert content_type.startswith("application/json"), (response.status_code, content_type, body[:300])
    if method != "HEAD":
        assert isinstance(json.loads(body), dict)


def _send(client: Client, method: str, path: str, *, query: str = "", body: bytes = b"",
          content_type: str = "application/octet-stream", headers: dict | None = None):
    headers = {name: value for name, value in (headers or {}).items() if value is not None}
    return client.generic(method, quote(path, safe="/"), data=body, content_type=content_type, headers=headers,
                          QUERY_STRING=query)


def _send_and_check(client: Client, method: str, path: str, **request) -> int:
    before = _counts()
    response = _send(client, method, path, **request)
    _check(response, path, method)
    if not 200 <= response.status_code < 300 or method in ("GET", "HEAD", "OPTIONS"):
        # A refused request (4xx, or a redirect to a login page) and a safe method store nothing, but for the
        # board that the first (successful) view of the leaderboard computes.
        after = _counts()
        if response.status_code < 300:
            after["analysis.LeaderboardSnapshot"] = before["analysis.LeaderboardSnapshot"]
        assert after == before, (method, path, response.status_code, response.content[:300])
    return response.status_code


# --- fixtures -------------------------------------------------------------------------------------


def _finished_battle(contenders, session_key: str) -> Battle:
    first, second = contenders
    battle = Battle.objects.create(prompt="hi", contender_a=first, contender_b=second, policy="uniform",
                                   session_key=session_key)
    for side, contender in (("a", first), ("b", second)):
        Response.objects.create(battle=battle, side=side, contender=contender)
    finish(battle)
    return battle


@pytest.fixture
def arena(db, settings, make_contender):
    """Two ready chat contenders (battle creation can succeed), rate limits out of the way, a browser
    session (CSRF enforced, its csrftoken cookie set) and a finished battle of that session."""
    settings.ARENA_BATTLES_PER_MINUTE_PER_SESSION = 10**9
    settings.ARENA_BATTLES_PER_MINUTE_PER_IP = 10**9
    settings.ARENA_VOTES_PER_DAY_PER_SESSION = 10**9
    settings.ARENA_VOTES_PER_DAY_PER_IP = 10**9
    contenders = (make_contender(family="Fam"), make_contender(family="Fam"))
    browser = Client(enforce_csrf_checks=True)
    assert browser.get("/arena/").status_code == 200
    battle = _finished_battle(contenders, browser.session.session_key)
    own = {"int": [str(battle.id)], "slug": [contender.slug for contender in contenders]}
    return SimpleNamespace(browser=browser, token=browser.cookies["csrftoken"].value, contenders=contenders,
                           battle=battle, own=own)


def _client_and_headers(draw, arena) -> tuple[Client, dict]:
    who = draw(st.sampled_from(["token", "no-token", "bad-token", "no-cookies"]), label="who")
    client = Client(enforce_csrf_checks=True) if who == "no-cookies" else arena.browser
    token = {"token": arena.token, "bad-token": draw(st.sampled_from(["x", "0" * 64, arena.token[::-1]]))}.get(who)
    headers = {"accept": draw(ACCEPTS, label="accept"), "origin": draw(ORIGINS, label="origin"), "x-csrftoken": token}
    if draw(st.integers(0, 9), label="fuzz host") == 0:  # now and then: most examples should pass the host check
        headers["host"] = draw(HOSTS, label="host")
    return client, headers


# --- HTTP -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", sorted(ROUTES))
@given(data=st.data())
@fuzz_settings(max_examples=25, **FUZZ)
def test_every_endpoint_survives_hostile_requests(arena, route, data):
    path = data.draw(_path(route, arena.own), label="path")
    method = data.draw(METHODS, label="method")
    body, content_type = data.draw(bodies(), label="body")
    query = data.draw(QUERIES, label="query")
    if query.count("&") >= django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:
        # With a charset the test client itself raises TooManyFieldsSent (it builds the request outside any
        # handler); production is ASGI only, so that request is tested through the ASGI application below.
        content_type = content_type.split(";")[0]
    client, headers = _client_and_headers(data.draw, arena)
    _send_and_check(client, method, path, query=query, body=body, content_type=content_type, headers=headers)


PROMPTS = st.one_of(TEXT, st.sampled_from(SPECIAL), HUGE, st.just("x" * 2000), st.just(" " * 3000 + "x"))


@given(data=st.data())
@fuzz_settings(max_examples=40, **FUZZ)
def test_battle_creation_with_hostile_fields(arena, data):
    """Where battles are made: fuzzed prompt, contender and corpus fields, as a form or as JSON."""
    slugs = st.sampled_from(arena.own["slug"]) | VALUES
    fields = data.draw(st.one_of(  # shaped like the three pages' requests (so some succeed), or anyhow
        st.fixed_dictionaries({"prompt": PROMPTS}),
        st.fixed_dictionaries({"prompt": PROMPTS, "contender_a": slugs, "contender_b": slugs}),
        st.fixed_dictionaries({"prompt": PROMPTS, "corpus": VALUES}),
        st.fixed_dictionaries({}, optional={"prompt": PROMPTS, "contender_a": slugs, "contender_b": slugs,
                                            "corpus": VALUES}),
    ), label="fields")
    if data.draw(st.booleans(), label="json"):
        fields = {key: data.draw(st.just(value) | JSON_VALUES, label=key) for key, value in fields.items()}
        body, content_type = json.dumps(fields).encode(), "application/json"
    else:
        body, content_type = urlencode(fields).encode(), "application/x-www-form-urlencoded"
    before = Battle.objects.count()
    status = _send_and_check(arena.browser, "POST", "/arena/battles/", body=body, content_type=content_type,
                             headers={"x-csrftoken": arena.token})
    prompt = fields.get("prompt")
    if status == 201:
        assert isinstance(prompt, str) and 0 < len(prompt.strip()) <= django_settings.ARENA_MAX_PROMPT_CHARS
        assert Battle.objects.count() == before + 1
        assert Battle.objects.order_by("-id").first().prompt == prompt.strip()
    else:
        assert 400 <= status < 500


# A third valid, a third near misses, a third anything.
STAGES = st.one_of(st.sampled_from(["blind", "final"]),
                   st.sampled_from(["Blind", "final ", "", "reveal", "blind\x00"]), TEXT)
CHOICES = st.one_of(st.sampled_from(["a", "b", "tie", "bothbad"]),
                    st.sampled_from(["A", "c", "both_bad", " a", "a\x00", "tie,a"]), VALUES)


@given(data=st.data())
@fuzz_settings(max_examples=40, **FUZZ)
def test_only_valid_stage_and_choice_pairs_store_a_vote(arena, data):
    battle = _finished_battle(arena.contenders, arena.browser.session.session_key)
    for _ in range(data.draw(st.integers(1, 3), label="votes")):
        stage, choice = data.draw(STAGES, label="stage"), data.draw(CHOICES, label="choice")
        if data.draw(st.booleans(), label="json"):
            # Any JSON value in either field; the view reads only strings.
            stage, choice = data.draw(st.just(stage) | JSON_VALUES), data.draw(st.just(choice) | JSON_VALUES)
            body, content_type = json.dumps({"stage": stage, "choice": choice}).encode(), "application/json"
        else:
            body = urlencode({"stage": stage, "choice": choice}).encode()
            content_type = "application/x-www-form-urlencoded"
        vote = Vote.objects.filter(battle=battle).first()
        valid = choice in ("a", "b", "tie", "bothbad") and (
            (stage == "blind" and vote is None) or (stage == "final" and vote is not None and not vote.final_choice)
        )
        status = _send_and_check(arena.browser, "POST", f"/arena/battles/{battle.id}/vote/", body=body,
                                 content_type=content_type, headers={"x-csrftoken": arena.token})
        after = Vote.objects.filter(battle=battle).first()
        if valid:
            assert status == 200
            assert (after.blind_choice if stage == "blind" else after.final_choice) == choice
        else:
            assert 400 <= status < 500
            assert (after and (after.blind_choice, after.final_choice)) == (
                vote and (vote.blind_choice, vote.final_choice))


def test_rate_limited_battle_is_a_json_429_and_stores_nothing(arena, settings):
    settings.ARENA_BATTLES_PER_MINUTE_PER_SESSION = 2  # the fixture's finished battle is the first
    request = {"body": b"prompt=hello", "content_type": "application/x-www-form-urlencoded",
               "headers": {"x-csrftoken": arena.token}}
    assert _send_and_check(arena.browser, "POST", "/arena/battles/", **request) == 201
    before = _counts()
    answer = _send(arena.browser, "POST", "/arena/battles/", **request)
    assert answer.status_code == 429 and "wait a minute" in answer.json()["error"]
    assert _counts() == before


# Regressions: requests that once got a 500, a page where JSON is promised, or stored something.


def _regressions():
    for route in ("/api/leaderboard.json", "/api/battles.jsonl", "/leaderboard/", "/leaderboard/fragment/"):
        yield "GET", route, {"query": "until=9999-12-31"}, 200  # Filters.bounds() went past date.max
    for route in ("/leaderboard/", "/leaderboard/fragment/"):
        yield "GET", route, {"query": "kind=bogus"}, 400  # computed and stored the first snapshot all the same
    for path in ("/arena/battles/", "/arena/battles/{battle}/vote/"):
        yield "POST", path, {"body": b"[" * 100_000, "content_type": "application/json"}, 400  # RecursionError
    for field in ("prompt", "corpus"):  # PostgreSQL refuses NUL in text (a DataError)
        fields = {"prompt": "hi", field: "a\x00b"}
        yield "POST", "/arena/battles/", {"body": urlencode(fields).encode(),
                                          "content_type": "application/x-www-form-urlencoded"}, 400
        yield "POST", "/arena/battles/", {"body": json.dumps(fields).encode(), "content_type": "application/json"}, 400
    for route in JSON_ROUTES:
        yield "DELETE", _example_path(route), {}, 405  # require_GET/require_POST: an empty text/html page
    for route in JSON_ROUTES:
        if not route.startswith(JSON_PREFIXES):
            yield "POST", _example_path(route), {"headers": {}}, 403  # *.json paths: the CSRF failure page


@pytest.mark.parametrize(("method", "path", "request_", "status"), [
    pytest.param(*case, id=f"{case[0]} {case[1]} {case[2].get('query', '')}".strip()) for case in _regressions()
])
def test_once_defective_requests(arena, method, path, request_, status):
    assert not LeaderboardSnapshot.objects.exists()  # as on a fresh install: the first view computes it
    request_ = {"headers": {"x-csrftoken": arena.token}} | request_
    assert _send_and_check(arena.browser, method, path.format(battle=arena.battle.id), **request_) == status


@pytest.mark.parametrize("path", ["/arena/", "/healthz", "/api/leaderboard.json"])
def test_too_many_query_fields_with_a_charset_is_a_400_under_asgi(path):
    # Through the production ASGI application: Django reads the query while it builds the request, before
    # any middleware or view runs (TooManyFieldsSent was a 500 there).
    answer = async_to_sync(_asgi_get)(f"{path}?{'x=1&' * 1500}", [
        (b"host", b"127.0.0.1:8000"), (b"content-type", b"text/plain; charset=utf-8")])
    headers = {name.decode(): value.decode() for name, value in answer["headers"]}
    _check(HttpResponse(answer["body"], status=answer["status"], headers=headers), path, "GET")
    assert answer["status"] == 400


async def _asgi_get(path: str, headers: list) -> dict:
    return await HttpCommunicator(application, "GET", path, headers=headers).get_response()


# --- admin ----------------------------------------------------------------------------------------


@pytest.fixture
def mallory(arena, django_user_model):
    """A logged-in user who is not staff."""
    user = django_user_model.objects.create_user("mallory", password="not-staff-123")
    client = Client()  # CSRF not enforced: the refusal must come from the permission check itself
    client.force_login(user)
    return client


def test_every_admin_add_and_change_page_refuses_non_staff(mallory):
    # Every registered model, deterministically; the fuzz below varies paths and bodies.
    for model in admin.site._registry:
        opts = model._meta
        pk = model.objects.order_by("pk").values_list("pk", flat=True).first() or 1
        for path in (f"/admin/{opts.app_label}/{opts.model_name}/add/",
                     f"/admin/{opts.app_label}/{opts.model_name}/{pk}/change/"):
            for method in ("GET", "POST"):
                before = _counts()
                response = _send(mallory, method, path, body=b"name=x&slug=x",
                                 content_type="application/x-www-form-urlencoded")
                _check(response, path, method)
                assert response.status_code != 200, (method, path)
                assert _counts() == before, (method, path)


@given(data=st.data())
@fuzz_settings(max_examples=25, **FUZZ)
def test_admin_refuses_non_staff_and_stores_nothing(mallory, data):
    model = data.draw(st.sampled_from(sorted(admin.site._registry, key=lambda m: m._meta.label)), label="model")
    opts = model._meta
    existing = model.objects.order_by("pk").values_list("pk", flat=True).first()
    pk = data.draw(st.sampled_from([existing or 1, 10**30, "abc"]), label="pk")
    base = f"/admin/{opts.app_label}/{opts.model_name}/"
    path = data.draw(st.sampled_from([f"{base}add/", f"{base}{pk}/change/", f"{base}{pk}/delete/", base,
                                      "/diagnostics/run/"]), label="path")
    method = data.draw(st.sampled_from(["GET", "POST"]), label="method")
    fields = data.draw(st.dictionaries(st.sampled_from([f.name for f in opts.fields] + KEYS), VALUES, max_size=6))
    before = _counts()
    response = _send(mallory, method, path, body=urlencode(fields).encode(),
                     content_type="application/x-www-form-urlencoded")
    _check(response, path, method)
    assert response.status_code != 200, path
    assert _counts() == before


# --- websockets -----------------------------------------------------------------------------------

WS_HEADERS = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]


async def _receive(communicator, timeout: float = 5) -> dict:
    """The application's next message, or its exception as soon as it crashed (the communicator's own
    receive_output sits out the whole timeout first: every crash would cost seconds)."""
    if communicator.output_queue.empty():
        getter = asyncio.ensure_future(communicator.output_queue.get())
        await asyncio.wait({getter, communicator.future}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
    return await communicator.receive_output(timeout=0)  # the message, the application's exception, or timeout


async def _converse(path: str, frames: list[dict], session_key: str | None = None) -> list[dict]:
    """Connect, then send each frame and collect what comes back. An exception of the application
    surfaces here (the communicator re-raises it): daphne would log it and answer 500 or close 1011."""
    headers = [*WS_HEADERS, *([(b"cookie", f"sessionid={session_key}".encode())] if session_key else [])]
    communicator = WebsocketCommunicator(application, path, headers=headers)
    await communicator.send_input({"type": "websocket.connect"})
    handshake = await _receive(communicator)
    if handshake["type"] == "websocket.close":  # refused before accepting (daphne answers 403)
        return [handshake]
    assert handshake["type"] == "websocket.accept", handshake
    outputs = [await _receive(communicator)]  # the greeting, or a stranger's close
    for frame in frames:
        if outputs[-1]["type"] == "websocket.close":
            break
        await communicator.send_input({"type": "websocket.receive", **frame})
        outputs.append(await _receive(communicator))
    if outputs[-1]["type"] != "websocket.close":
        await communicator.disconnect()
    return outputs


def _is_ping(frame: dict) -> bool:
    try:
        content = json.loads(frame.get("text") or "")
    except (ValueError, RecursionError):
        return False
    return isinstance(content, dict) and content.get("type") == "ping"


def _check_socket(outputs: list[dict], frames: list[dict]) -> None:
    """Only JSON text goes out, a close is clean, and every frame is answered on an open socket: a pong
    for a ping, an error message for anything else."""
    for output in outputs:
        assert output["type"] in ("websocket.send", "websocket.close"), output
        if output["type"] == "websocket.send":
            assert output.get("bytes") is None and isinstance(json.loads(output["text"]), dict), output
        else:
            assert output.get("code", 1000) in (1000, 4403), output  # never 1011 (internal error)
    for frame, output in zip(frames, outputs[1:], strict=False):
        assert output["type"] == "websocket.send", output
        reply = json.loads(output["text"])
        assert reply["type"] == ("pong" if _is_ping(frame) else "error"), (str(frame)[:100], reply)


@pytest.fixture
def sockets(redis_services, transactional_db, make_contender):
    """The real Redis channel layer, a session with a finished battle, and both socket paths."""
    store = SessionStore()
    store.create()
    battle = _finished_battle((make_contender(), make_contender()), store.session_key)
    return SimpleNamespace(session_key=store.session_key, battle=battle,
                           paths={"battle": f"/ws/battles/{battle.id}/", "leaderboard": "/ws/leaderboard/"})


FRAMES = st.one_of(
    st.text(min_size=1, max_size=100),
    JSON_VALUES.map(json.dumps),  # JSON of every type
    st.sampled_from(['{"type": "ping"}', '{"type": "ping", "x": [1]}', '{"type": "pong"}', '"ping"', "null", "NaN",
                     "Infinity", "{", "[1,", '{"type": ["ping"]}', '{"type": {"$ne": 1}}', "\x00", "1e999999", "-0",
                     "1" * 5000, '{"type": "battle.changed"}', '{"type": "leaderboard.updated"}', "[" * 50, ""]),
    HUGE,
    st.builds(lambda size: json.dumps({"type": "ping", "pad": "x" * size}), st.integers(10_000, 1_000_000)),
).map(lambda text: {"text": text}) | st.binary(max_size=100).map(lambda data: {"bytes": data})
# Frames that once crashed the consumer (channels' ValueError, json's RecursionError): daphne closed 1011.
CRASHED = [{"bytes": b"\x00\xff"}, {"bytes": b""}, {"text": ""}, {"text": "[" * 100_000}]


@given(which=st.sampled_from(["battle", "leaderboard"]), session=st.sampled_from(["own", None, "nope"]),
       frames=st.lists(FRAMES, min_size=1, max_size=5))
@example(which="battle", session="own", frames=CRASHED)
@example(which="leaderboard", session="own", frames=CRASHED)
@fuzz_settings(max_examples=20, **FUZZ)
def test_sockets_answer_hostile_frames_with_json_and_store_nothing(sockets, which, session, frames):
    before = _counts()
    session_key = sockets.session_key if session == "own" else session
    _check_socket(async_to_sync(_converse)(sockets.paths[which], frames, session_key), frames)
    assert _counts() == before


NO_ROUTE = st.one_of(  # URLRouter raised ValueError for these: daphne answered 500
    st.sampled_from(["/ws/battles/abc/", "/ws/battles/-1/", "/ws/battles/1", "/ws/battles//", "/ws/nope/", "/ws/",
                     "/ws/leaderboard", "/ws/battles/1/../../leaderboard/", "/"]),
    st.text(min_size=1, max_size=30).map(lambda text: f"/ws/battles/{quote(text)}/"),
)


@given(path=IDS.map("/ws/battles/{}/".format) | NO_ROUTE)
@fuzz_settings(max_examples=20, **FUZZ)
def test_socket_paths_but_ones_own_battle_are_refused_cleanly(sockets, path):
    before = _counts()
    frames = [{"text": '{"type": "ping"}'}]
    outputs = async_to_sync(_converse)(path, frames, sockets.session_key)
    _check_socket(outputs, frames)
    battle = re.fullmatch(r"/ws/battles/([0-9]+)/", unquote(path))
    if battle is None:  # no route
        assert len(outputs) == 1 and outputs[0]["type"] == "websocket.close", outputs
    elif int(battle[1]) != sockets.battle.id:
        assert outputs == [{"type": "websocket.close", "code": 4403}]
    assert _counts() == before
