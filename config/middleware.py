"""Site-wide answers the views don't give: an unreachable database is a clear 503 page or JSON error
instead of a 500, and a wrong method answers JSON where JSON was promised."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from config.errors import DATABASE_UNAVAILABLE, database_unavailable, wants_json


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_UNAVAILABLE):
            return database_unavailable(request)
        return None


class JsonMethodNotAllowedMiddleware:
    """require_GET/require_POST answer a wrong method with an empty page; JSON clients get JSON."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 405 and wants_json(request) and "json" not in response.get("Content-Type", ""):
            allowed = response.get("Allow", "")
            response = JsonResponse({"error": f"This address accepts only {allowed}."}, status=405)
            response["Allow"] = allowed
        return response
