"""The battle websocket: live tokens of both sides, for the session that created the battle."""

import asyncio
import json
import weakref

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer
from django.conf import settings

from arena.models import Battle, battle_group
from arena.selectors import battle_get_for_session, battle_state, response_answer

CLOSE_FORBIDDEN = 4403


def _snapshot(battle_id: int, session_key: str | None) -> dict | None:
    battle = battle_get_for_session(battle_id=battle_id, session_key=session_key)
    return battle_state(battle=battle) if battle else None


def _side_done(battle_id: int, side: str) -> dict | None:
    battle = Battle.objects.filter(id=battle_id).first()
    response = battle.responses.filter(side=side).first() if battle else None
    if response is None:
        return None
    return {"type": "side_done", "side": side, **response_answer(response)}


def _state(battle_id: int) -> dict | None:
    battle = Battle.objects.select_related("vote").filter(id=battle_id).first()
    return battle_state(battle=battle) if battle else None


# Per event loop: how many group joins and leaves may use the channel layer's Redis pool at once.
_GROUP_CALLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _group_calls() -> asyncio.Semaphore:
    """Half the pool (settings.ARENA_CHANNEL_REDIS_CONNECTIONS): the rest stays for the layer's own
    receive loop and the other commands, so a burst of opening sockets waits instead of failing."""
    loop = asyncio.get_running_loop()
    if loop not in _GROUP_CALLS:
        _GROUP_CALLS[loop] = asyncio.Semaphore(max(1, settings.ARENA_CHANNEL_REDIS_CONNECTIONS // 2))
    return _GROUP_CALLS[loop]


class SendOnlyJsonConsumer(AsyncJsonWebsocketConsumer):
    """A socket the server talks on. The browser sends nothing but pings; anything else (bad JSON
    included) gets a clear error message, never a crash. It joins one group (``group_join``) and
    leaves it when it closes."""

    group: str | None = None

    async def group_join(self, group: str) -> None:
        async with _group_calls():
            await self.channel_layer.group_add(group, self.channel_name)
        self.group = group

    async def disconnect(self, code: int) -> None:
        if self.group:
            async with _group_calls():
                await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json({"type": "error", "error": "This socket only sends; it accepts no messages."})

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        # channels raises ValueError on a binary or empty frame: answer it like bad JSON instead.
        await self.receive_json(await self.decode_json(text_data) if text_data else None, **kwargs)

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return json.loads(text_data)
        except (ValueError, RecursionError):  # deep nesting raises RecursionError
            return None


class NoRouteConsumer(AsyncWebsocketConsumer):
    """Any other socket path: refuse the handshake (403) instead of URLRouter's ValueError (a 500)."""

    async def connect(self) -> None:
        await self.close()


class BattleConsumer(SendOnlyJsonConsumer):
    async def connect(self) -> None:
        self.battle_id = int(self.scope["url_route"]["kwargs"]["battle_id"])
        session = self.scope.get("session")
        snapshot = await database_sync_to_async(_snapshot)(self.battle_id, session.session_key if session else None)
        await self.accept()
        if snapshot is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.group_join(battle_group(self.battle_id))
        await self.send_json({"type": "snapshot", "battle": snapshot})

    async def battle_tokens(self, event: dict) -> None:
        await self.send_json({key: event[key] for key in ("side", "offset", "text", "output_tokens", "tokens_per_s")}
                             | {"type": "tokens"})

    async def battle_queue(self, event: dict) -> None:
        # Where a side waits for a slot in its model's batch (arena.answering._QueueReport).
        await self.send_json({key: event[key] for key in ("side", "position", "text")} | {"type": "queue"})

    async def battle_side_done(self, event: dict) -> None:
        message = await database_sync_to_async(_side_done)(self.battle_id, event["side"])
        if message:
            await self.send_json(message)

    async def battle_changed(self, event: dict) -> None:
        # Recomputed here from the database, so the socket never carries more than the state allows.
        state = await database_sync_to_async(_state)(self.battle_id)
        if state:
            await self.send_json({"type": "state", "battle": state})
