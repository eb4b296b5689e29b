"""Calls that a lower layer makes into the layers above it. Plain Python: no Django.

Imports point down only (wiring → apps → runtime), so a layer that must reach a higher one declares a
hook (``Event``: tell whoever listens; ``Provider``: ask the one function that answers) and calls it;
the project wiring, ``config/wiring.py``, connects every hook to the function above that answers it.
That is the one place to read what happens when a vote is recorded, a model is ready or a worker beats.

The runtime's own hooks are below; the apps declare theirs in their ``hooks.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Event:
    """Calls every connected function with the keyword arguments it is sent, in the order connected."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.receivers: list[Callable[..., None]] = []

    def connect(self, *functions: Callable[..., None]) -> None:
        for function in functions:
            if function not in self.receivers:
                self.receivers.append(function)

    def send(self, **kwargs: Any) -> None:
        for receiver in list(self.receivers):
            receiver(**kwargs)

    def __repr__(self) -> str:
        return f"<Event {self.name}: {len(self.receivers)} receiver(s)>"


class Provider(Generic[T]):
    """Answers with the one connected function (connecting another replaces it), or ``default``."""

    def __init__(self, name: str, default: Callable[..., T]) -> None:
        self.name = name
        self.default = default
        self.function: Callable[..., T] | None = None

    def connect(self, function: Callable[..., T]) -> None:
        self.function = function

    def __call__(self, *args: Any) -> T:
        return (self.function or self.default)(*args)

    def __repr__(self) -> str:
        return f"<Provider {self.name}: {getattr(self.function, '__name__', 'default')}>"


# Work that waits on the clock, not on a request (expiry of jobs whose worker died, votes whose window
# ended): every worker runs each receiver at each heartbeat (workers/signals.py); one that raises is
# logged and tried again at the next beat.
heartbeat = Event("heartbeat")
# How the heartbeat names the models a worker holds, from their prepared paths (default: the paths).
model_names: Provider[list[str]] = Provider("model names", default=lambda paths: paths)
