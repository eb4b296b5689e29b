"""The worker runtime on the real SmolLM2: model cache and per-request energy under concurrency."""

import threading
import time

import pytest

from modelhub.models import Contender
from workers import runtime


@pytest.fixture
def smol(bundled_ready):
    bundled_ready("smollm2-135m-instruct")
    return Contender.objects.select_related("model").get(name="SmolLM2-135M greedy")


@pytest.mark.models
def test_second_request_does_not_load_the_model_again(smol):
    runtime.generate(smol, "Hi", timeout_s=60)
    loads = runtime.model_cache.stats().loads
    runtime.generate(smol, "Hello again", timeout_s=60)
    assert runtime.model_cache.stats().loads == loads


@pytest.mark.models
def test_energy_of_two_concurrent_requests_is_attributed_to_each(smol):
    runtime.generate(smol, "warm up", timeout_s=60)
    short = Contender(model=smol.model, name="short", decoding="greedy", max_new_tokens=4)
    long = Contender(model=smol.model, name="long", decoding="greedy", max_new_tokens=64)
    results = {}

    def run(contender: Contender) -> None:
        results[contender.name] = runtime.generate(contender, "Tell me a long story about a dragon.", timeout_s=120)

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
