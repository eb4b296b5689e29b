"""Helpers of the shared decode loops' tests: a meter that keeps every step's reading, and requests
run in threads that join a loop after a given number of its steps."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import pytest

from workers.batching import AdmittedEngine, BatchLimits
from workers.energy import CpuTimeEstimateMeter


class RecordingMeter:
    """The process-clock estimate, keeping every step's reading (the meter's total over a run)."""

    def __init__(self) -> None:
        self.inner = CpuTimeEstimateMeter(15.0, clock="process")
        self.source = "estimate"
        self.device = "cpu"
        self.readings = []

    def describe(self, joules: float) -> str:
        return self.inner.describe(joules)

    @contextlib.contextmanager
    def measure(self):
        with self.inner.measure() as measurement:
            yield measurement
        self.readings.append(measurement.reading)


def run_together(calls, starts=None):
    """Run calls in threads; call i starts once the engine has done starts[i] steps."""
    results: dict[int, object] = {}

    def run(i, call, gate):
        if gate is not None:
            gate()
        try:
            results[i] = call()
        except Exception as error:  # noqa: BLE001 - collected for the assertions
            results[i] = error

    threads = [
        threading.Thread(target=run, args=(i, call, (starts or {}).get(i))) for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return [results[i] for i in range(len(calls))]


def after_steps(engine: AdmittedEngine, n: int):
    def gate():
        limit = time.monotonic() + 60
        while engine.steps_done < n and time.monotonic() < limit:
            time.sleep(0.005)

    return gate


def make_engine(kind: type[AdmittedEngine], lm, **limits) -> tuple[AdmittedEngine, RecordingMeter]:
    """An engine of this kind whose meter keeps its readings."""
    meter = RecordingMeter()
    return kind(lm, meter=meter, step_lock=threading.Lock(), limits=BatchLimits(**limits)), meter


def engine_fixture(kind: type[AdmittedEngine]) -> Callable:
    """A test module's ``engine`` fixture: an engine of this kind on the tiny model, its meter as
    ``engine.meter_for_test``, closed after the test."""

    @pytest.fixture
    def engine(tiny_lm):
        engine, meter = make_engine(kind, tiny_lm)
        engine.meter_for_test = meter
        yield engine
        engine.close()

    return engine
