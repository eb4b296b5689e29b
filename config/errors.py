"""The site's error answers: one page or JSON error per status, for every app.

A request that promised JSON (the arena's API paths, /api/, /healthz, *.json, or Accept: JSON) gets
``{"error": message}``; a person gets the error page. An unreachable database is a 503 with
Retry-After, never a 500.
"""

import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

# The database server is down or refused the connection (not a bad query): answer 503, not 500.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
JSON_PATHS = ("/arena/battles", "/api/", "/healthz")


def wants_json(request: HttpRequest) -> bool:
    return (
        request.path.startswith(JSON_PATHS) or request.path.endswith(".json")
        or "application/json" in request.headers.get("Accept", "")
    )


def error_response(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    if wants_json(request):
        return JsonResponse({"error": message}, status=status)
    return render(request, "error.html", {"title": title, "message": message}, status=status)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    response = error_response(
        request, 503, "Temporarily unavailable",
        "The arena's database is unavailable or too busy right now, so nothing from this request was saved. "
        "Your earlier votes are safe; please try again in a minute.",
    )
    response["Retry-After"] = "30"
    return response


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
    return error_response(request, 403, "Request refused", message)


def error_400(request: HttpRequest, exception=None) -> HttpResponse:
    if isinstance(exception, (RequestDataTooBig, TooManyFieldsSent)):  # Django reports both as a bad request
        return error_response(
            request, 413, "Request too large",
            f"The request was larger than this site accepts ({settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024} KB of "
            f"form data, {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields). Nothing was saved.",
        )
    return error_response(request, 400, "Bad request", "The request could not be understood.")


def error_403(request: HttpRequest, exception=None) -> HttpResponse:
    return error_response(request, 403, "Not allowed", "You are not allowed to see this page.")


def error_404(request: HttpRequest, exception=None) -> HttpResponse:
    return error_response(request, 404, "Not found", "There is nothing at this address.")


def error_500(request: HttpRequest) -> HttpResponse:
    # Called inside Django's exception handler: an unreachable database (say, while saving the
    # session after the view) is a 503, not our bug.
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return database_unavailable(request)
    return error_response(
        request, 500, "Something went wrong", "Something went wrong on our side. Your votes are safe; please try again."
    )


def login_locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' answer once a username has had too many wrong passwords from this address:
    429 with when to try again (settings.AXES_COOLOFF_MINUTES)."""
    minutes = settings.AXES_COOLOFF_MINUTES
    response = error_response(
        request, 429, "Too many failed logins",
        f"Too many wrong passwords for this username from your address ({settings.AXES_FAILURE_LIMIT} in a row), so "
        f"logging in is blocked for {minutes} minute{'s' if minutes != 1 else ''}. Try again after that, or ask "
        "another administrator to unlock it (python manage.py axes_reset_username NAME).",
    )
    response["Retry-After"] = str(minutes * 60)
    return response
