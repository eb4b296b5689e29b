"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

import django
from django.core.exceptions import SuspiciousOperation
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class ArenaASGIHandler(ASGIHandler):
    """Django reads the query string while it builds a request whose Content-Type names a charset, so
    too many query fields raise TooManyFieldsSent before any middleware: a 400, not a 500."""

    def create_request(self, scope, body_file):
        try:
            return super().create_request(scope, body_file)
        except SuspiciousOperation:
            from config.errors import error_400

            # Rebuilt without the query string: the app's own 400, JSON where JSON is promised.
            request, _ = super().create_request({**scope, "query_string": b""}, body_file)
            return None, error_400(request)


django.setup(set_prefix=False)
django_asgi_app = ArenaASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402
from config.sockets import SocketBudget  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SocketBudget(AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
    }
)
