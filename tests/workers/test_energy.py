import sys
import threading
import time
import types
from pathlib import Path

import pytest

from workers import energy
from workers.energy import (
    CpuTimeEstimateMeter,
    EnergyReading,
    RaplMeter,
    rapl_available,
    select_meter,
)


def busy(seconds: float) -> None:
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1


def test_estimate_is_cpu_time_times_watts():
    meter = CpuTimeEstimateMeter(watts_per_core=15.0)
    with meter.measure() as m:
        busy(0.2)
    r = m.reading
    assert isinstance(r, EnergyReading)
    assert r.source == "estimate" and r.device == "cpu"
    cpu = r.joules / 15.0
    assert 0.19 <= cpu < 0.5
    assert r.seconds >= cpu * 0.9
    assert "estimated from" in r.method and "15 W per core" in r.method
    assert r.as_dict()["joules"] == r.joules
    assert meter.attributable_concurrently is True


def test_sleeping_request_costs_almost_nothing():
    with CpuTimeEstimateMeter(15.0).measure() as m:
        time.sleep(0.2)
    assert m.reading.seconds >= 0.19
    assert m.reading.joules < 15.0 * 0.02


def test_reading_is_set_when_the_request_fails():
    m = None
    with pytest.raises(RuntimeError):
        with CpuTimeEstimateMeter(10.0).measure() as m:
            raise RuntimeError("boom")
    assert m.reading is not None and m.reading.joules >= 0


def test_two_concurrent_requests_each_get_their_own_cpu_time():
    meter = CpuTimeEstimateMeter(watts_per_core=10.0)
    readings: dict[str, EnergyReading] = {}
    start = threading.Barrier(2)

    def run(name: str, work) -> None:
        start.wait()
        with meter.measure() as m:
            work()
        readings[name] = m.reading

    threads = [
        threading.Thread(target=run, args=("busy", lambda: busy(0.3))),
        threading.Thread(target=run, args=("sleepy", lambda: time.sleep(0.3))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert readings["busy"].joules >= 10.0 * 0.29
    # Both ran over the same wall-clock window, yet the sleeper is charged (almost) nothing.
    assert readings["sleepy"].seconds >= 0.29
    assert readings["sleepy"].joules < 10.0 * 0.03


def make_rapl(root: Path, packages: dict[int, tuple[int, int]]) -> Path:
    """A fake /sys/class/powercap: {package: (energy_uj, max_energy_range_uj)}."""
    for n, (value, max_range) in packages.items():
        d = root / f"intel-rapl:{n}"
        d.mkdir(parents=True)
        (d / "energy_uj").write_text(f"{value}\n")
        (d / "max_energy_range_uj").write_text(f"{max_range}\n")
        (d / "name").write_text(f"package-{n}\n")
        sub = root / f"intel-rapl:{n}:0"  # a core subzone: already inside the package figure
        sub.mkdir()
        (sub / "energy_uj").write_text("999999999\n")
    return root


def set_energy(root: Path, n: int, value: int) -> None:
    (root / f"intel-rapl:{n}" / "energy_uj").write_text(f"{value}\n")


def test_rapl_sums_package_counters(tmp_path):
    root = make_rapl(tmp_path / "powercap", {0: (1_000_000, 10**9), 1: (5_000_000, 10**9)})
    assert rapl_available(root)
    meter = RaplMeter(root)
    assert meter.attributable_concurrently is False
    with meter.measure() as m:
        set_energy(root, 0, 3_500_000)  # +2.5 J
        set_energy(root, 1, 6_000_000)  # +1.0 J
    assert m.reading.joules == pytest.approx(3.5)
    assert m.reading.source == "rapl" and m.reading.device == "cpu"
    assert "RAPL" in m.reading.method and "includes other work" in m.reading.method


def test_rapl_handles_wraparound(tmp_path):
    root = make_rapl(tmp_path / "powercap", {0: (9_900_000, 10_000_000)})
    with RaplMeter(root).measure() as m:
        set_energy(root, 0, 400_000)  # 0.1 J to the wrap, then 0.4 J
    assert m.reading.joules == pytest.approx(0.5)


def test_rapl_unavailable_without_counters(tmp_path):
    assert not rapl_available(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    assert not rapl_available(tmp_path / "empty")


def test_select_meter_cpu_with_and_without_rapl(tmp_path):
    assert isinstance(select_meter("cpu", 15.0, rapl_root=tmp_path / "none"), CpuTimeEstimateMeter)
    root = make_rapl(tmp_path / "powercap", {0: (0, 10**9)})
    assert isinstance(select_meter("cpu", 15.0, rapl_root=root), RaplMeter)


def test_select_meter_cuda_without_nvml_falls_back_to_an_estimate(monkeypatch, tmp_path):
    fake = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    def fail():
        raise NVMLError("Driver Not Loaded")

    fake.nvmlInit = fail
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(energy, "_nvml_ready", False)
    meter = select_meter("cuda:1", 20.0, rapl_root=tmp_path)
    assert isinstance(meter, CpuTimeEstimateMeter)
    with meter.measure() as m:
        busy(0.01)
    assert m.reading.source == "estimate" and m.reading.device == "cuda:1"
    assert "NVML" in m.reading.method and "Driver Not Loaded" in m.reading.method


def test_nvml_meter_reads_the_total_energy_counter(monkeypatch):
    """NvmlMeter's arithmetic against a fake pynvml (no GPU here)."""
    counter = {"mj": 1_000}
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda i: f"handle{i}",
        nvmlDeviceGetHandleByUUID=lambda u: "by-uuid",
        nvmlDeviceGetName=lambda h: b"NVIDIA H200",
        nvmlDeviceGetTotalEnergyConsumption=lambda h: counter["mj"],
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(energy, "_nvml_ready", False)
    meter = select_meter("cuda:0", 15.0)
    assert isinstance(meter, energy.NvmlMeter)
    assert meter.attributable_concurrently is False
    with meter.measure() as m:
        counter["mj"] += 2_500
    assert m.reading.joules == pytest.approx(2.5)
    assert m.reading.source == "nvml" and m.reading.device == "cuda:0"
    assert m.reading.method == "measured by NVML's total-energy counter on cuda:0 (NVIDIA H200)"


def test_concurrent_generations_are_attributed_to_their_own_threads(tiny_lm):
    """Two requests at once, as in a worker's thread pool with torch.set_num_threads(1): torch
    computes in the calling thread, so each estimate covers its own request and nothing escapes
    to other threads (the threads' CPU times add up to the process's)."""
    from workers.generation import DecodingConfig, generate

    meter = CpuTimeEstimateMeter(watts_per_core=1.0)
    readings: dict[str, EnergyReading] = {}
    tokens: dict[str, int] = {}
    start = threading.Barrier(2)

    def request(name: str, n: int) -> None:
        start.wait()
        with meter.measure() as m:
            if n:
                tokens[name] = generate(tiny_lm, "hello", DecodingConfig(max_new_tokens=n)).output_tokens
            else:
                time.sleep(0.3)  # a request that waits (e.g. on the network) and computes nothing
        readings[name] = m.reading

    process_before = time.process_time()
    threads = [
        threading.Thread(target=request, args=("long", 150)),
        threading.Thread(target=request, args=("idle", 0)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    process_cpu = time.process_time() - process_before
    long, idle = readings["long"].joules, readings["idle"].joules
    assert tokens["long"] > 20
    # The tiny model may finish in a few tens of ms of CPU: compare the two requests, not a fixed floor.
    assert long > 0.01 and idle < min(0.02, long / 2)
    assert long + idle == pytest.approx(process_cpu, rel=0.25, abs=0.03)


def test_split_by_tokens_adds_up_to_the_step():
    from workers.energy import split_by_tokens

    shares = split_by_tokens(1.0, {"a": 37, "b": 1, "c": 1, "d": 12})
    assert sum(shares.values()) == 1.0
    assert shares["a"] == pytest.approx(37 / 51) and shares["b"] == pytest.approx(1 / 51)
    assert split_by_tokens(0.3, {"a": 0, "b": 0}) == {"a": 0.15, "b": 0.15}
    assert split_by_tokens(2.0, {}) == {}


def test_process_clock_counts_work_of_other_threads():
    """A batch step's torch threads compute outside the measuring thread: the process clock sees them."""
    thread_meter = CpuTimeEstimateMeter(watts_per_core=10.0)
    process_meter = thread_meter.with_process_clock()
    with process_meter.measure() as by_process, thread_meter.measure() as by_thread:
        worker = threading.Thread(target=busy, args=(0.2,))
        worker.start()
        worker.join()
    assert by_thread.reading.joules < 0.5 < by_process.reading.joules
    assert "CPU time of the whole process" in by_process.reading.method
    assert process_meter.describe(3.0).startswith("estimated from 0.30 s of CPU time of the whole process")
