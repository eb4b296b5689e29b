"""An unreachable database gives a clear 503 page or JSON error instead of a 500."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from arena.views import DATABASE_UNAVAILABLE, database_unavailable


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_UNAVAILABLE):
            return database_unavailable(request)
        return None
