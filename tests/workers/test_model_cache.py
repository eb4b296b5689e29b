import threading
import time

import pytest

from workers.model_cache import ModelCache


def loader_for(value, calls: list):
    def load():
        calls.append(value)
        return value

    return load


def size(value) -> int:
    return value["size"]


def test_second_get_is_a_hit():
    cache = ModelCache(budget_bytes=100)
    calls: list = []
    a = {"name": "a", "size": 10}
    assert cache.get("a", loader_for(a, calls), size) is a
    assert cache.get("a", loader_for(a, calls), size) is a
    assert len(calls) == 1
    s = cache.stats()
    assert (s.loads, s.hits, s.evictions, s.bytes, s.items) == (1, 1, 0, 10, 1)
    assert s.as_dict()["budget_bytes"] == 100


def test_least_recently_used_is_evicted_first():
    cache = ModelCache(budget_bytes=25)
    calls: list = []
    for key in "ab":
        cache.get(key, loader_for({"size": 10}, calls), size)
    cache.get("a", loader_for({"size": 10}, calls), size)  # a is now more recent than b
    cache.get("c", loader_for({"size": 10}, calls), size)  # 30 > 25: b goes
    assert cache.keys() == ["a", "c"]
    assert "b" not in cache
    assert cache.stats().evictions == 1 and cache.stats().bytes == 20


def test_an_item_larger_than_the_budget_is_kept_alone():
    evicted = []
    cache = ModelCache(budget_bytes=15, on_evict=lambda k, v: evicted.append(k))
    cache.get("small", lambda: {"size": 5}, size)
    big = cache.get("big", lambda: {"size": 50}, size)
    assert big["size"] == 50
    assert cache.keys() == ["big"] and evicted == ["small"]


def test_evict_and_clear():
    cache = ModelCache(budget_bytes=100)
    cache.get("a", lambda: {"size": 1}, size)
    cache.get("b", lambda: {"size": 2}, size)
    assert cache.evict("a") is True and cache.evict("a") is False
    cache.clear()
    s = cache.stats()
    assert s.items == 0 and s.bytes == 0 and s.evictions == 2


def test_a_failed_load_caches_nothing():
    cache = ModelCache(budget_bytes=100)

    def broken():
        raise OSError("disk gone")

    with pytest.raises(OSError):
        cache.get("a", broken, size)
    assert cache.get("a", lambda: {"size": 1}, size) == {"size": 1}
    assert cache.stats().loads == 1


def test_concurrent_gets_of_one_key_load_once():
    cache = ModelCache(budget_bytes=100)
    calls: list = []
    results: list = []

    def slow_load():
        calls.append(1)
        time.sleep(0.2)
        return {"size": 1}

    def worker():
        results.append(cache.get("m", slow_load, size))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(results) == 4 and all(r is results[0] for r in results)
    assert cache.stats().hits == 3


def test_different_keys_load_concurrently():
    cache = ModelCache(budget_bytes=100)
    both_loading = threading.Barrier(2, timeout=5)

    def load():
        both_loading.wait()  # raises BrokenBarrierError if the loads were serialised
        return {"size": 1}

    errors = []

    def worker(key):
        try:
            cache.get(key, load, size)
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in ("x", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(cache.keys()) == ["x", "y"]
