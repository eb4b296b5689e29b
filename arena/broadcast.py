"""Group messages to the Channels layer from sync code, without making the caller wait.

A blocking ``async_to_sync(group_send)`` inside the token loop cost each flush a thread, an event loop
and a Redis connection, and slowed a battle side to ~0.83 of ``model.generate`` when both sides ran
(bench/generation_overhead.py). One event loop per process, in a daemon thread, now sends the
messages in order; ``flush`` waits until everything queued so far is sent.
"""

import asyncio
import logging
import os
import threading

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


class ChannelSender:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._pid: int | None = None

    def _start(self) -> None:
        loop, ready = asyncio.new_event_loop(), threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._queue = asyncio.Queue()
            loop.create_task(self._drain())
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, name="channel-sender", daemon=True).start()
        ready.wait()
        self._loop, self._pid = loop, os.getpid()

    async def _drain(self) -> None:
        while True:
            group, message = await self._queue.get()
            try:
                # Looked up per message: tests (and settings changes) may swap the layer.
                await get_channel_layer().group_send(group, message)
            except Exception:  # noqa: BLE001 - the page recovers from the database on reconnect
                logger.warning("Could not send to %s", group, exc_info=True)
            finally:
                self._queue.task_done()

    def send(self, group: str, message: dict) -> None:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._start()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (group, message))

    def flush(self, timeout_s: float = 5.0) -> None:
        if self._loop is None or self._pid != os.getpid():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._queue.join(), self._loop).result(timeout_s)
        except TimeoutError:
            logger.warning("Channel messages still unsent after %s s", timeout_s)


sender = ChannelSender()
