"""Thin views: parse the request, call a service or selector, answer as a page or JSON."""

import hmac
import json
import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from arena.examples import EXAMPLE_PROMPTS, RETRIEVAL_EXAMPLES
from arena.selectors import battle_get_for_session, battle_state, corpora_searchable, health_report
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
        "examples": RETRIEVAL_EXAMPLES, "corpora": corpora,
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


def _health_details_allowed(request: HttpRequest) -> bool:
    """Staff, or a request carrying ARENA_HEALTH_TOKEN: worker and queue details name the models of
    waiting battles, so strangers see the overall status only."""
    token = settings.ARENA_HEALTH_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and hmac.compare_digest(given.encode(), token.encode()):
        return True
    try:
        return bool(request.user.is_staff)
    except DATABASE_UNAVAILABLE:  # the session lives in the database: while it is down, no staff
        return False


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report()
    status = 503 if report["status"] == "down" else 200
    if not _health_details_allowed(request):
        report = {"status": report["status"]}
    response = JsonResponse(report, status=status)
    response["Cache-Control"] = "no-store"
    return response


# The database server is down or refused the connection (not a bad query): answer 503, not 500.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    response = _error_response(
        request, 503, "Temporarily unavailable",
        "The arena's database is unavailable or too busy right now, so nothing from this request was saved. "
        "Your earlier votes are safe; please try again in a minute.",
    )
    response["Retry-After"] = "30"
    return response


def _wants_json(request: HttpRequest) -> bool:
    json_paths = ("/arena/battles", "/api/", "/healthz")
    return (
        request.path.startswith(json_paths) or request.path.endswith(".json")
        or "application/json" in request.headers.get("Accept", "")
    )


def _error_response(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"error": message}, status=status)
    return render(request, "arena/error.html", {"title": title, "message": message}, status=status)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Say which check failed: a missing token, a wrong (stale) one, a missing cookie, another site."""
    reason = reason.lower()
    if "cookie" in reason:
        message = ("Your browser did not send the arena's security cookie. Allow cookies for this site, "
                   "reload the page and try again.")
    elif "missing" in reason:
        message = "Your request was missing its security token. Reload the page and try again."
    elif "referer" in reason or "origin" in reason:
        message = "This request came from another site or page, so it was refused. Open the arena itself and try again."
    else:  # incorrect, wrong length, invalid characters: a token from an old page or an old session
        message = ("Your request's security token did not match (the page may be out of date, or your session "
                   "changed). Reload the page and try again.")
    return _error_response(request, 403, "Request refused", message)


def error_400(request: HttpRequest, exception=None) -> HttpResponse:
    return _error_response(request, 400, "Bad request", "The request could not be understood.")


def error_403(request: HttpRequest, exception=None) -> HttpResponse:
    return _error_response(request, 403, "Not allowed", "You are not allowed to see this page.")


def error_404(request: HttpRequest, exception=None) -> HttpResponse:
    return _error_response(request, 404, "Not found", "There is nothing at this address.")


def error_500(request: HttpRequest) -> HttpResponse:
    # Called inside Django's exception handler: an unreachable database (say, while saving the
    # session after the view) is a 503, not our bug.
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return database_unavailable(request)
    return _error_response(
        request, 500, "Something went wrong", "Something went wrong on our side. Your votes are safe; please try again."
    )
