"""Thin views: parse the request, call a service or selector, answer as a page or JSON."""

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from arena.examples import EXAMPLE_PROMPTS, RETRIEVAL_EXAMPLES
from arena.selectors import battle_get_for_session, battle_state, corpora_searchable
from arena.services import ArenaError, battle_create, vote_cast
from modelhub.selectors import contenders_ready


def _session_key(request: HttpRequest) -> str:
    if not request.session.session_key:
        request.session.save()
    return request.session.session_key


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _payload(request: HttpRequest) -> dict:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting raises RecursionError
            raise ArenaError("The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ArenaError("The request body must be a JSON object.")
        data = {key: value if isinstance(value, str) else None for key, value in data.items()}
    else:
        data = request.POST.dict()
    # PostgreSQL cannot store (or even compare) text with NUL characters: refuse them here.
    if any("\x00" in value for value in data.values() if value):
        raise ArenaError("The request contains a NUL character.")
    return data


def _error(error: ArenaError) -> JsonResponse:
    response = JsonResponse({"error": error.message}, status=error.status)
    if error.retry_after_s is not None:
        response["Retry-After"] = str(error.retry_after_s)
    return response


def _page_context(mode: str) -> dict:
    return {"examples": EXAMPLE_PROMPTS, "max_prompt_chars": settings.ARENA_MAX_PROMPT_CHARS, "mode": mode}


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
        data = _payload(request)
        named = bool(data.get("contender_a") or data.get("contender_b")) and "corpus" not in data
        battle = battle_create(
            prompt=data.get("prompt"),
            session_key=_session_key(request),
            client_ip=_client_ip(request),
            contender_a=data.get("contender_a"),
            contender_b=data.get("contender_b"),
            named=named,
            corpus=data.get("corpus") if "corpus" in data else None,
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
        data = _payload(request)
        battle = vote_cast(
            battle_id=battle_id,
            session_key=request.session.session_key,
            stage=data.get("stage") or "",
            choice=data.get("choice") or "",
        )
    except ArenaError as error:
        return _error(error)
    return JsonResponse({"battle": battle_state(battle=battle)})
