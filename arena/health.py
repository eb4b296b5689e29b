"""Reachability of Redis (broker and channel layer) and the length of the Celery queues.

Plain redis-py, short timeouts: a health check or a refusal must answer fast when Redis is down.
"""

import threading
import time

import redis

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _client(url: str) -> redis.Redis:
    with _clients_lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return _clients[url]


def redis_ping_ms(url: str) -> float:
    """Round-trip time of a PING in milliseconds; raises redis.RedisError when Redis is unreachable."""
    started = time.perf_counter()
    _client(url).ping()
    return (time.perf_counter() - started) * 1000


def redis_available(url: str) -> bool:
    try:
        redis_ping_ms(url)
    except (redis.RedisError, OSError):
        return False
    return True


# Kombu's Redis transport keeps one list per queue, plus one per priority level above 0.
_PRIORITY_SEPARATOR = "\x06\x16"


def queue_lengths(url: str, queue_names: list[str]) -> dict[str, int]:
    client = _client(url)
    with client.pipeline(transaction=False) as pipe:
        for name in queue_names:
            pipe.llen(name)
            for priority in (3, 6, 9):
                pipe.llen(f"{name}{_PRIORITY_SEPARATOR}{priority}")
        counts = pipe.execute()
    return {name: sum(counts[i * 4:(i + 1) * 4]) for i, name in enumerate(queue_names)}
