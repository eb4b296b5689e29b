"""A thread-safe LRU cache of loaded models with a memory budget. Plain Python: no Django imports.

A worker thread pool asks for models by key (e.g. "model id + device + precision"). Two threads
asking for the same key load it once: the second waits on a per-key lock and then gets the first
one's result. Different keys load concurrently. When the sum of sizes passes the budget, the least
recently used entries are dropped (never the one just loaded, even if it alone exceeds the budget).

Dropping an entry only removes the cache's reference: a thread still generating with that model
keeps it alive until it is done, so memory may briefly exceed the budget. Peak memory can also
exceed it while a new model loads, since its size is only known after loading.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class CacheStats:
    loads: int
    hits: int
    evictions: int
    bytes: int
    items: int
    budget_bytes: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class ModelCache:
    def __init__(self, budget_bytes: int, on_evict: Callable[[str, Any], None] | None = None) -> None:
        """``on_evict(key, value)`` is called outside the lock after an entry is dropped (for
        example to call ``torch.cuda.empty_cache()``)."""
        self.budget_bytes = int(budget_bytes)
        self._on_evict = on_evict
        self._lock = threading.Lock()  # guards everything below; never held while loading
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._key_locks: dict[str, threading.Lock] = {}
        self._bytes = 0
        self._loads = self._hits = self._evictions = 0

    def get(self, key: str, loader: Callable[[], T], size_of: Callable[[T], int]) -> T:
        """The cached value for ``key``, calling ``loader()`` once if it isn't cached.

        An exception from ``loader`` propagates and nothing is cached (a waiting thread then tries
        its own load).
        """
        with self._lock:
            hit = self._hit(key)
            if hit is not None:
                return hit[0]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                hit = self._hit(key)  # loaded by another thread while we waited
                if hit is not None:
                    return hit[0]
            value = loader()
            size = int(size_of(value))
            with self._lock:
                self._items[key] = (value, size)
                self._bytes += size
                self._loads += 1
                evicted = self._evict_over_budget(keep=key)
        self._notify(evicted)
        return value

    def _hit(self, key: str) -> tuple[Any] | None:
        # Caller holds self._lock. A 1-tuple so that a cached None still counts as a hit.
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        self._hits += 1
        return (self._items[key][0],)

    def _evict_over_budget(self, keep: str) -> list[tuple[str, Any]]:
        evicted = []
        while self._bytes > self.budget_bytes:
            victim = next((k for k in self._items if k != keep), None)
            if victim is None:
                break
            value, size = self._items.pop(victim)
            self._bytes -= size
            self._evictions += 1
            evicted.append((victim, value))
        return evicted

    def _notify(self, evicted: list[tuple[str, Any]]) -> None:
        if self._on_evict is not None:
            for key, value in evicted:
                self._on_evict(key, value)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def keys(self) -> list[str]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._items)

    def evict(self, key: str) -> bool:
        """Drop ``key``; True if it was cached."""
        with self._lock:
            item = self._items.pop(key, None)
            if item is None:
                return False
            self._bytes -= item[1]
            self._evictions += 1
        self._notify([(key, item[0])])
        return True

    def clear(self) -> None:
        with self._lock:
            evicted = [(k, v) for k, (v, _) in self._items.items()]
            self._items.clear()
            self._bytes = 0
            self._evictions += len(evicted)
        self._notify(evicted)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                loads=self._loads,
                hits=self._hits,
                evictions=self._evictions,
                bytes=self._bytes,
                items=len(self._items),
                budget_bytes=self.budget_bytes,
            )
