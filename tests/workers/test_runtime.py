"""The worker runtime on the real SmolLM2: model cache and per-request energy under concurrency."""

import contextlib
import itertools
import threading
import time

import pytest

from modelhub.models import Contender
from workers import runtime
from workers.batching import BatchEngine
from workers.contrastive_batch import ContrastiveBatchEngine


def _generate(contender: Contender, prompt: str, **kwargs):
    """The runtime takes plain values: the prepared path and how to decode."""
    return runtime.generate(
        path=contender.model.prepared_path, precision=contender.precision, decoding=contender.decoding_config(),
        prompt=prompt, **kwargs,
    )


@pytest.fixture
def smol(bundled_ready):
    bundled_ready("smollm2-135m-instruct")
    return Contender.objects.select_related("model").get(name="SmolLM2-135M greedy")


def test_second_request_does_not_load_the_model_again(smol):
    _generate(smol, "Hi", timeout_s=60)
    loads = runtime.model_cache.stats().loads
    _generate(smol, "Hello again", timeout_s=60)
    assert runtime.model_cache.stats().loads == loads


def test_energy_of_two_concurrent_requests_is_attributed_to_each(smol):
    _generate(smol, "warm up", timeout_s=60)
    short = Contender(model=smol.model, name="short", decoding="greedy", max_new_tokens=4)
    long = Contender(model=smol.model, name="long", decoding="greedy", max_new_tokens=64)
    results = {}

    def run(contender: Contender) -> None:
        results[contender.name] = _generate(contender, "Tell me a long story about a dragon.", timeout_s=120)

    cpu_before = time.process_time()
    threads = [threading.Thread(target=run, args=(c,)) for c in (short, long)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    process_cpu = time.process_time() - cpu_before

    (short_result, short_energy), (long_result, long_energy) = results["short"], results["long"]
    assert short_energy.source == long_energy.source == "estimate"
    assert long_result.output_tokens > 4 * short_result.output_tokens
    # Each request is charged for its own work: the long one costs clearly more.
    assert long_energy.joules > 3 * short_energy.joules > 0
    # Together they cannot claim more CPU than the process spent.
    watts = runtime._meter_and_lock("cpu")[0].watts_per_core
    assert (short_energy.joules + long_energy.joules) / watts <= process_cpu * 1.05 + 0.05


def test_two_models_load_at_once_in_two_threads(bundled_ready):
    """A worker's warm-up thread and a task thread may load different models at the same time."""
    bundled_ready("smollm2-135m-instruct", "all-minilm-l6-v2")
    smol = Contender.objects.select_related("model").get(name="SmolLM2-135M greedy")
    minilm = Contender.objects.select_related("model").get(name="all-MiniLM-L6-v2")
    for round_number in range(2):
        runtime.model_cache.clear()
        errors, results = [], {}

        def run(name, call, results=results, errors=errors):
            try:
                results[name] = call()
            except Exception as error:  # noqa: BLE001 - collected for the assertion below
                errors.append(repr(error))

        threads = [
            threading.Thread(target=run, args=("lm", lambda: _generate(smol, "Hi", timeout_s=60))),
            threading.Thread(target=run, args=("enc", lambda: runtime.embed(
                path=minilm.model.prepared_path, precision=minilm.precision, texts=["a guitar", "a piano"]
            ))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], f"round {round_number}: {errors}"
        assert results["lm"][0].output_tokens > 0 and results["enc"][0].shape == (2, 384)


LOAD_AT_ONCE = """
import os, sys, threading
import django
django.setup()
from workers import runtime
errors = []
def load(kind, path):
    try:
        (runtime.encoder_get if kind == "encoder" else runtime.language_model_get)(path=path)
    except Exception as error:
        errors.append(repr(error)[:300])
pairs = [arg.split("=", 1) for arg in sys.argv[1:]]
threads = [threading.Thread(target=load, args=pair) for pair in pairs]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("errors:", errors)
sys.exit(1 if errors else 0)
"""


def test_a_fresh_worker_process_loads_several_models_at_once(bundled_ready):
    """Cold process, one thread per model (a worker's warm-up thread and its task threads)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    models = bundled_ready("smollm2-135m-instruct", "all-minilm-l6-v2", "all-mpnet-base-v2")
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings", PYTHONPATH=str(root))
    args = [f"{m.kind}={m.prepared_path}" for m in models]
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", LOAD_AT_ONCE, *args], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


# --- Batching (tiny random models: no database, no bundled weights) --------------------------------


@pytest.fixture
def fresh_runtime(settings):
    """Engines are made on first use with the settings of the moment: start and end without any."""
    runtime.model_cache.clear()
    yield settings
    runtime.model_cache.clear()


def _tiny(path, decoding, prompt="hello", **kwargs):
    from workers.generation import DecodingConfig

    return runtime.generate(path=path, precision="float32", decoding=DecodingConfig(**decoding), prompt=prompt,
                            **kwargs)


def test_each_decoding_goes_to_its_shared_loop_or_runs_alone(fresh_runtime, tiny_llm_dir):
    fresh_runtime.ARENA_BATCHING = True
    greedy, reading = _tiny(tiny_llm_dir, {"method": "greedy", "max_new_tokens": 8})
    assert reading.method.startswith("share of a batch of up to")
    contrastive, reading = _tiny(tiny_llm_dir, {"method": "contrastive", "penalty_alpha": 0.0, "max_new_tokens": 8})
    assert reading.method.startswith("share of a batch of up to") and contrastive.token_ids == greedy.token_ids
    assert runtime.engine_get(path=tiny_llm_dir, precision="float32", kind=ContrastiveBatchEngine).steps_done > 0
    seeded, reading = _tiny(tiny_llm_dir, {"method": "sampling", "seed": 3, "max_new_tokens": 8})
    assert not reading.method.startswith("share") and seeded.output_tokens > 0
    fresh_runtime.ARENA_BATCHING = False
    alone, reading = _tiny(tiny_llm_dir, {"method": "contrastive", "penalty_alpha": 0.0, "max_new_tokens": 8})
    assert not reading.method.startswith("share") and alone.token_ids == greedy.token_ids
    unbatched, reading = _tiny(tiny_llm_dir, {"method": "greedy", "max_new_tokens": 8})
    assert not reading.method.startswith("share") and unbatched.token_ids == greedy.token_ids


def test_a_waiting_request_is_told_its_place(fresh_runtime, tiny_llm_dir):
    fresh_runtime.ARENA_BATCHING = True
    fresh_runtime.ARENA_BATCH_MAX_REQUESTS = 1
    places: list[int] = []
    engine = runtime.engine_get(path=tiny_llm_dir, precision="float32", kind=BatchEngine)
    first = threading.Thread(target=_tiny, args=(tiny_llm_dir, {"method": "greedy", "max_new_tokens": 60}))
    first.start()
    limit = time.monotonic() + 60
    while engine.steps_done < 1 and time.monotonic() < limit:
        time.sleep(0.005)
    result, _ = _tiny(tiny_llm_dir, {"method": "greedy", "max_new_tokens": 3}, on_queue=places.append)
    first.join()
    assert places == [1, 0] and result.output_tokens > 0


def test_a_prompt_longer_than_the_context_is_refused_on_both_paths(fresh_runtime, tiny_llm_dir):
    from workers.batching import PromptTooLong

    for batching in (True, False):
        fresh_runtime.ARENA_BATCHING = batching
        with pytest.raises(PromptTooLong, match="this model reads at most 512 tokens"):
            _tiny(tiny_llm_dir, {"method": "greedy", "max_new_tokens": 4}, prompt="fox " * 600)


def test_concurrent_queries_on_one_encoder_are_embedded_together(fresh_runtime, tiny_bert_dir):
    import numpy as np

    from workers.embedding import embed

    fresh_runtime.ARENA_BATCHING = True
    fresh_runtime.ARENA_EMBED_GATHER_S = 0.3  # wide enough for three threads to meet on a busy machine
    texts = ["a guitar", "the capital of France is Paris", "joules and watts"]
    results: dict[int, tuple] = {}
    threads = [
        threading.Thread(target=lambda i=i: results.__setitem__(i, runtime.embed(
            path=tiny_bert_dir, precision="float32", texts=[texts[i]]))) for i in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    encoder = runtime.encoder_get(path=tiny_bert_dir, precision="float32")
    alone = embed(encoder, texts)
    for i in range(3):
        vectors, reading = results[i]
        assert np.allclose(vectors[0], alone[i], atol=1e-5)
        assert reading.method.startswith("share of a micro-batch of 3 queries, split by tokens")
    # Longer query, more tokens, larger share.
    assert results[1][1].joules >= results[0][1].joules


class _WholeDeviceMeter:
    """Stands for NVML/RAPL: not attributable under concurrency; 1 J per measurement."""

    source, device, attributable_concurrently = "nvml", "cpu", False

    def __init__(self) -> None:
        self.threads: list[int] = []

    def describe(self, joules: float) -> str:
        return "measured by a test counter"

    @contextlib.contextmanager
    def measure(self):
        from workers.energy import EnergyReading, Measurement

        measurement = Measurement()
        self.threads.append(threading.get_ident())
        yield measurement
        measurement.reading = EnergyReading(1.0, 0.0, self.source, self.device, self.describe(1.0))


def test_unbatched_sides_on_a_whole_device_meter_interleave_step_by_step(fresh_runtime, tiny_llm_dir, monkeypatch):
    meter = _WholeDeviceMeter()
    monkeypatch.setitem(runtime._meters, "cpu", meter)
    monkeypatch.setitem(runtime._exclusive_locks, "cpu", threading.Lock())
    fresh_runtime.ARENA_BATCHING = False  # the per-request path (with batching: seeded sampling, a repetition penalty)
    decoding = {"method": "contrastive", "max_new_tokens": 25}
    results = {}
    threads = [threading.Thread(target=lambda i=i, p=p: results.__setitem__(i, _tiny(tiny_llm_dir, decoding, prompt=p)))
               for i, p in enumerate(["hello", "The quick brown fox"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    switches = sum(1 for a, b in itertools.pairwise(meter.threads) if a != b)
    assert switches >= 2, "the two sides ran one after the other"
    assert sum(reading.joules for _, reading in results.values()) == len(meter.threads)
    for result, reading in results.values():
        assert reading.source == "nvml" and "forward passes, each measured alone on the device" in reading.method
        assert reading.joules >= result.output_tokens  # a prefill, then a pass per token (candidates included)


def test_batch_limits_defaults_are_the_settings_defaults():
    """A loop built without Django gets what the worker gets from the default ARENA_BATCH_* settings."""
    import importlib
    import os

    from workers.batching import BatchLimits

    if any(name.startswith("ARENA_BATCH_") for name in os.environ):
        pytest.skip("ARENA_BATCH_* set in this environment")
    defaults = importlib.import_module("config.settings")
    assert BatchLimits() == BatchLimits(
        max_requests=defaults.ARENA_BATCH_MAX_REQUESTS, max_tokens=defaults.ARENA_BATCH_MAX_TOKENS,
        kv_cache_bytes=defaults.ARENA_BATCH_KV_BYTES, step_tokens=defaults.ARENA_BATCH_STEP_TOKENS,
    )
