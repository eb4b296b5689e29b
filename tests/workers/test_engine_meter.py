"""Meters of engine-served models: the spec, the counters on this host, and the interval attribution
(each interval's energy split by the tokens each request received in it; the shares add up)."""

import math
import subprocess
import sys
import threading
import time

import psutil
import pytest

from tests.workers.test_energy import make_rapl
from workers.engine_meter import (
    IntervalAttribution,
    MeterSpec,
    MeterSpecError,
    ProcessTreeCounter,
    RaplCounter,
    counter_open,
    meter_spec_parse,
)


@pytest.mark.parametrize(("text", "spec"), [
    ("nvml:0", MeterSpec("nvml", gpus=(0,))),
    (" nvml: 3, 1 ,1", MeterSpec("nvml", gpus=(1, 3))),
    ("rapl", MeterSpec("rapl")),
    ("NONE", MeterSpec("none")),
    ("process:/run/vllm.pid", MeterSpec("process", pidfile="/run/vllm.pid")),
])
def test_meter_specs_are_read(text, spec):
    assert meter_spec_parse(text) == spec
    assert meter_spec_parse(str(spec)) == spec  # the stored form reads back the same


@pytest.mark.parametrize("text", ["", "nvml", "nvml:", "nvml:a", "nvml:0,-1", "nvml:²", "process:", "process:run.pid",
                                  "rapl:0", "zeus", "none:1"])
def test_what_is_not_a_meter_spec_is_refused_with_the_forms_it_takes(text):
    with pytest.raises(MeterSpecError, match="nvml|process|meter"):
        meter_spec_parse(text)


class StepCounter:
    """A counter whose joules the test sets (the attribution's input, as a meter's reading would be)."""

    source, device = "estimate", "cpu"

    def __init__(self) -> None:
        self.value = 0.0

    def joules(self) -> float:
        return self.value

    def describe(self) -> str:
        return "a test counter"


def test_one_interval_is_split_by_the_tokens_each_request_received():
    counter = StepCounter()
    attribution = IntervalAttribution(counter, interval_s=3600)  # intervals end only when a request ends
    attribution.start("a")
    attribution.start("b")
    attribution.add_tokens("a", 3)
    attribution.add_tokens("b", 1)
    counter.value = 8.0
    a = attribution.finish("a")  # ends the interval: 8 J split 3:1
    assert (a.joules, a.source, a.device) == (6.0, "estimate", "cpu")
    attribution.add_tokens("b", 5)
    counter.value = 10.0
    b = attribution.finish("b")
    assert b.joules == pytest.approx(2.0 + 2.0)
    assert a.joules + b.joules == pytest.approx(attribution.measured_joules) == pytest.approx(10.0)
    assert "up to 1 other arena request" in a.method and "other traffic" in a.method


def test_energy_while_no_request_is_in_flight_is_nobodys():
    counter = StepCounter()
    attribution = IntervalAttribution(counter, interval_s=3600)
    counter.value = 50.0  # before any request
    attribution.start("a")
    counter.value = 53.0
    assert attribution.finish("a").joules == pytest.approx(3.0)
    counter.value = 80.0  # between requests
    attribution.start("b")
    counter.value = 81.0
    reading = attribution.finish("b")
    assert reading.joules == pytest.approx(1.0) and "alone among arena requests" in reading.method


def test_an_interval_without_tokens_is_shared_equally():
    counter = StepCounter()
    attribution = IntervalAttribution(counter, interval_s=3600)
    for request in "abc":
        attribution.start(request)
    counter.value = 9.0
    assert [attribution.finish(request).joules for request in "abc"] == pytest.approx([3.0, 3.0, 3.0])


def test_shares_of_concurrent_requests_add_up_to_the_measured_intervals():
    """Threads streaming at once while the ticker ends intervals: the sum of the shares is the sum of the
    intervals' energy, whatever the interleaving."""
    counter = StepCounter()
    lock = threading.Lock()

    def burn(joules: float) -> None:
        with lock:
            counter.value += joules

    attribution = IntervalAttribution(counter, interval_s=0.01)
    shares: list[float] = []

    def request(number: int) -> None:
        attribution.start(str(number))
        for _ in range(40):
            burn(0.37)
            attribution.add_tokens(str(number), number % 3 + 1)
            time.sleep(0.001)
        shares.append(attribution.finish(str(number)).joules)

    threads = [threading.Thread(target=request, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(shares) == 8 and all(share > 0 for share in shares)
    assert math.fsum(shares) == pytest.approx(attribution.measured_joules, rel=1e-9)
    assert attribution.measured_joules <= counter.value + 1e-9


BUSY_TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time\\nend = time.time() + 60\\nwhile time.time() < end: pass"])
end = time.time() + 60
while time.time() < end:
    time.sleep(0.01)
"""


def test_the_process_counter_counts_the_whole_tree_and_follows_the_pidfile(tmp_path):
    engine = subprocess.Popen([sys.executable, "-c", BUSY_TREE])
    try:
        pidfile = tmp_path / "engine.pid"
        pidfile.write_text(f"{engine.pid}\n")
        counter = counter_open(meter_spec_parse(f"process:{pidfile}"), watts_per_core=10.0)
        assert isinstance(counter, ProcessTreeCounter) and counter.source == "estimate"
        first = counter.joules()
        time.sleep(1.0)
        second = counter.joules()
        # The busy child (not the sleeping parent) uses about a core: about 10 J in a second.
        assert 4.0 < second - first < 13.0, second - first
        assert "process tree" in counter.describe() and "estimate" in counter.describe()
        descendants = psutil.Process(engine.pid).children(recursive=True)
        engine.kill()
        engine.wait()
        for child in descendants:  # only this tree's (the session's engine and Redis are children too)
            child.kill()
        gone = counter.joules()
        assert gone >= second  # what the exited processes used stays counted
        restarted = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            pidfile.write_text(str(restarted.pid))  # the engine restarted with a new pid
            counter.joules()
            assert counter.pid == restarted.pid
        finally:
            restarted.kill()
    finally:
        engine.kill()


def test_a_process_meter_without_its_engine_says_why(tmp_path):
    with pytest.raises(MeterSpecError, match="Cannot read the engine's pid"):
        counter_open(meter_spec_parse(f"process:{tmp_path / 'missing.pid'}"), watts_per_core=15)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "dead.pid").write_text(str(dead.pid))
    with pytest.raises(MeterSpecError, match="is not running"):
        counter_open(meter_spec_parse(f"process:{tmp_path / 'dead.pid'}"), watts_per_core=15)


def test_the_rapl_counter_sums_packages_across_a_wraparound(tmp_path):
    root = make_rapl(tmp_path / "powercap", {0: (9_000_000, 10_000_000), 1: (1_000_000, 10**9)})
    counter = RaplCounter(root)
    (root / "intel-rapl:0" / "energy_uj").write_text("500000\n")  # wrapped: +1.5 J
    (root / "intel-rapl:1" / "energy_uj").write_text("3000000\n")  # +2 J
    assert counter.joules() == pytest.approx(3.5)
    assert counter_open(MeterSpec("none"), watts_per_core=15) is None
    with pytest.raises(MeterSpecError, match="No readable RAPL"):
        RaplCounter(tmp_path / "nothing")


def test_nvml_on_a_host_without_that_gpu_says_where_to_run():
    with pytest.raises(MeterSpecError, match="Run this worker on the engine's host"):
        counter_open(meter_spec_parse("nvml:999"), watts_per_core=15)


def test_shares_of_concurrent_engine_requests_add_up_to_the_engines_cpu_energy(engine_server, settings):
    """Four answers at once from a real engine (transformers serve, continuous batching), metered with
    `process:`: the shares add up to the engine process tree's CPU energy over the same time, read
    independently here, within 1 %."""
    from workers import runtime
    from workers.engine_client import Endpoint
    from workers.generation import DecodingConfig

    settings.ARENA_ENGINE_METER_INTERVAL_S = 0.2
    watts = settings.ARENA_CPU_WATTS_PER_CORE
    endpoint = Endpoint(base_url=engine_server.url, served_model=engine_server.served)
    tree = [psutil.Process(engine_server.process.pid)]

    def engine_cpu() -> float:
        processes = tree + tree[0].children(recursive=True)
        return sum(sum(process.cpu_times()[:2]) for process in processes)

    results, errors = [], []

    def ask(prompt: str) -> None:
        try:
            results.append(runtime.endpoint_generate(
                endpoint=endpoint, meter=f"process:{engine_server.pidfile}", prompt=prompt,
                decoding=DecodingConfig(method="greedy", max_new_tokens=40),
            ))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(getattr(error, "detail", repr(error)))

    before = engine_cpu()
    threads = [threading.Thread(target=ask, args=(f"Write two sentences about the number {n}.",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = (engine_cpu() - before) * watts
    assert not errors and len(results) == 4, errors
    assert all(result.output_tokens > 0 for result, _, _ in results)
    readings = [reading for _, reading, _ in results]
    total = math.fsum(reading.joules for reading in readings)
    assert expected > 1.0, expected  # the engine did real work
    assert total == pytest.approx(expected, rel=0.01), (total, expected)
    assert all(reading.source == "estimate" and "process tree" in reading.method for reading in readings)
    assert any("other arena request" in reading.method for reading in readings)  # they overlapped
