"""Thin views: parse the request, call a service or selector, answer as a page or JSON."""

import json

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from arena.choices import MEMBERS
from arena.errors import ArenaError, InvalidInput, NotFound, NotNow, NotYours, TooMany, Unavailable
from arena.examples import EXAMPLE_PROMPTS, RETRIEVAL_EXAMPLES
from arena.formatting import page_words
from arena.forms import BattleStartForm, VoteForm
from arena.selectors import battle_get_for_session, battle_state, corpora_searchable
from arena.services import battle_create, vote_cast
from modelhub.selectors import contenders_ready


def _session_key(request: HttpRequest) -> str:
    if not request.session.session_key:
        request.session.save()
    return request.session.session_key


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


# Django's CSRF form field may come with a form post; it is not the endpoint's.
IGNORED_FIELDS = {"csrfmiddlewaretoken"}
# Each refusal's HTTP status: the one place the arena's domain errors (arena/errors.py) meet HTTP.
ERROR_STATUS: tuple[tuple[type[ArenaError], int], ...] = (
    (InvalidInput, 400), (NotYours, 403), (NotFound, 404), (NotNow, 409), (TooMany, 429), (Unavailable, 503),
)


def _fields(request: HttpRequest, form_class: type[forms.Form]) -> tuple[dict[str, str], set[str]]:
    """The request's fields (a form post or a JSON object) checked against ``form_class``: its cleaned
    values, and the names the request sent. Anything else is refused, naming the field."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting raises RecursionError
            raise InvalidInput("The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise InvalidInput("The request body must be a JSON object.")
    else:
        data = request.POST.dict()
    for key, value in data.items():
        name = key[:40]
        if key not in form_class.base_fields and key not in IGNORED_FIELDS:
            raise InvalidInput(f"Unknown field '{name}'.", field=name)
        if not isinstance(value, str):
            raise InvalidInput(f"The field '{name}' must be text.", field=name)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a JSON escape
            raise InvalidInput(f"The field '{name}' is not valid Unicode text.", field=name) from None
        # PostgreSQL cannot store (or even compare) text with NUL characters: refuse them here.
        if "\x00" in value:
            raise InvalidInput(f"The field '{name}' contains a NUL character.", field=name)
    form = form_class({key: value for key, value in data.items() if key in form_class.base_fields})
    if not form.is_valid():
        name, errors = next(iter(form.errors.items()))
        raise InvalidInput(f"The field '{name}': {' '.join(errors)}", field=name)
    return form.cleaned_data, set(data)


def _error(error: ArenaError) -> JsonResponse:
    status = next(code for kind, code in ERROR_STATUS if isinstance(error, kind))
    body = {"error": error.message} | ({"field": error.field} if error.field else {})
    response = JsonResponse(body, status=status)
    if error.retry_after_s is not None:
        response["Retry-After"] = str(error.retry_after_s)
    return response


def _page_context(mode: str) -> dict:
    return {"examples": EXAMPLE_PROMPTS, "max_prompt_chars": settings.ARENA_MAX_PROMPT_CHARS, "mode": mode,
            "vote_choices": [(code, label) for _, code, label in MEMBERS], "words": page_words(mode)}


@require_GET
def battle_page(request: HttpRequest) -> HttpResponse:
    _session_key(request)
    return render(request, "arena/battle.html", _page_context("anonymous"))


@require_GET
def compare_page(request: HttpRequest) -> HttpResponse:
    _session_key(request)
    context = _page_context("named") | {"contenders": list(contenders_ready(kind="language"))}
    return render(request, "arena/compare.html", context)


@require_GET
def retrieval_page(request: HttpRequest) -> HttpResponse:
    _session_key(request)
    corpora = corpora_searchable()
    context = _page_context("retrieval") | {
        "examples": RETRIEVAL_EXAMPLES, "corpora": corpora, "top_k": settings.ARENA_RETRIEVAL_TOP_K,
        # none searchable yet: the page says why, shows the embedding progress and polls until one is
        "corpus_ready": any(c["ready"] for c in corpora),
        "corpora_embedding": [c for c in corpora if c["progress"] is not None],
    }
    return render(request, "arena/retrieval.html", context)


@require_GET
def examples(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"examples": EXAMPLE_PROMPTS})


@require_POST
def battles_create(request: HttpRequest) -> JsonResponse:
    try:
        data, sent = _fields(request, BattleStartForm)
        named = bool(data["contender_a"] or data["contender_b"]) and "corpus" not in sent
        battle = battle_create(
            prompt=data["prompt"],
            session_key=_session_key(request),
            client_ip=_client_ip(request),
            contender_a=data["contender_a"] or None,
            contender_b=data["contender_b"] or None,
            named=named,
            corpus=data["corpus"] if "corpus" in sent else None,
        )
    except ArenaError as error:
        return _error(error)
    return JsonResponse({"battle": battle_state(battle=battle)}, status=201)


@require_GET
def battle_detail(request: HttpRequest, battle_id: int) -> JsonResponse:
    battle = battle_get_for_session(battle_id=battle_id, session_key=request.session.session_key)
    if battle is None:
        return JsonResponse({"error": "No battle of yours has this number."}, status=404)
    return JsonResponse({"battle": battle_state(battle=battle)})


@require_POST
def battle_vote(request: HttpRequest, battle_id: int) -> JsonResponse:
    try:
        data, _sent = _fields(request, VoteForm)
        battle = vote_cast(
            battle_id=battle_id,
            session_key=request.session.session_key,
            stage=data["stage"],
            choice=data["choice"],
        )
    except ArenaError as error:
        return _error(error)
    return JsonResponse({"battle": battle_state(battle=battle)})
