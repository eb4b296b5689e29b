"""The websocket budget of one web process (ASGI middleware): how many sockets one address and the
whole process may hold open. A socket over the budget is accepted, told why in one JSON message
(``{"type": "error", "error": ...}``) and closed with 4429 (the application's range of close codes:
daphne's websocket library refuses to send 1013, "try again later"); the page reconnects later by
itself, with its backoff. Sockets within the budget never notice a burst: the Redis commands the consumers
make while joining (``arena.consumers.SendOnlyJsonConsumer.group_join``) wait their turn instead
of exhausting the channel layer's connection pool.

Counts are per process (docs/deploy.md: behind a reverse proxy, run daphne with --proxy-headers so
that the address is the visitor's, not the proxy's).
"""

import json
from collections import Counter

from django.conf import settings

CLOSE_TOO_MANY = 4429  # like HTTP 429 (4000-4999 are the application's: arena.consumers.CLOSE_FORBIDDEN is 4403)


class SocketBudget:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.by_address: Counter[str] = Counter()
        self.total = 0

    def refusal(self, address: str) -> str | None:
        if self.by_address[address] >= settings.ARENA_SOCKETS_PER_ADDRESS:
            return (f"Too many live connections from your address ({settings.ARENA_SOCKETS_PER_ADDRESS} open). "
                    "Close some arena tabs; this page keeps working and reconnects by itself.")
        if self.total >= settings.ARENA_SOCKETS_MAX:
            return "The arena is very busy right now. This page keeps working and reconnects by itself."
        return None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket":
            await self.inner(scope, receive, send)
            return
        address = (scope.get("client") or ["unknown"])[0]
        message = self.refusal(address)
        if message is not None:
            await _refuse(receive, send, message)
            return
        self.by_address[address] += 1
        self.total += 1
        try:
            await self.inner(scope, receive, send)
        finally:
            self.total -= 1
            self.by_address[address] -= 1
            if self.by_address[address] <= 0:
                del self.by_address[address]


async def _refuse(receive, send, message: str) -> None:
    event = await receive()
    if event["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": json.dumps({"type": "error", "error": message})})
    await send({"type": "websocket.close", "code": CLOSE_TOO_MANY})
