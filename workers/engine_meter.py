"""Energy of requests served by an inference engine, metered on the engine's host. No Django imports.

The engine batches the arena's requests with whatever else it serves, so no request can be measured
alone. A counter that only grows (joules so far) is read once per interval while arena requests are
in flight to the engine, and each interval's energy is split among the requests in flight by the
tokens each received in it (`workers.energy.split_by_tokens`): the shares of an interval add up to
its energy exactly. The counter sees the whole device or process, so other traffic on it is counted
too; the method sentence says so.

Meter specs (what an operator writes for a model):
- ``nvml:0,1``: the sum of NVML's total-energy counters of those GPUs (NVML's indices).
- ``rapl``: the RAPL package counters of the host's CPUs.
- ``process:/run/engine.pid``: CPU time of the process in that file and all its descendants ×
  watts per core; an estimate, labelled as one.
- ``none``: not measured. The arena then shows "not measured" and leaves the battle out of the
  energy-aware ladder and the switch rate; no figure is invented.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import psutil

from workers.energy import DEFAULT_RAPL_ROOT, EnergyReading, RaplMeter, _nvml, split_by_tokens

METER_KINDS = ("nvml", "rapl", "process", "none")


class MeterSpecError(ValueError):
    """A meter spec that cannot be read, or a meter that cannot work on this host; says why."""


@dataclass(frozen=True)
class MeterSpec:
    kind: str  # one of METER_KINDS
    gpus: tuple[int, ...] = ()
    pidfile: str = ""

    def __str__(self) -> str:
        if self.kind == "nvml":
            return "nvml:" + ",".join(map(str, self.gpus))
        return f"process:{self.pidfile}" if self.kind == "process" else self.kind


def meter_spec_parse(text: str) -> MeterSpec:
    """`nvml:0,1`, `rapl`, `process:/absolute/pidfile` or `none` (spaces around parts ignored)."""
    kind, _, argument = (text or "").strip().partition(":")
    kind, argument = kind.strip().lower(), argument.strip()
    if kind in ("rapl", "none") and not argument:
        return MeterSpec(kind)
    if kind == "nvml":
        parts = [part.strip() for part in argument.split(",")]
        if argument and all(part.isascii() and part.isdecimal() for part in parts):
            gpus = tuple(sorted({int(part) for part in parts}))
            return MeterSpec("nvml", gpus=gpus)
        raise MeterSpecError(f"'{text}': nvml takes the GPU indices the engine uses, e.g. nvml:0 or nvml:0,1.")
    if kind == "process":
        if argument.startswith("/"):
            return MeterSpec("process", pidfile=argument)
        raise MeterSpecError(
            f"'{text}': process takes the absolute path of the engine's pid file, e.g. process:/run/vllm.pid."
        )
    raise MeterSpecError(f"'{text}' is not a meter: use nvml:0,1 (GPUs), rapl, process:/path/to/engine.pid, or none.")


class Counter(Protocol):
    """Joules so far (only grows), and how they are obtained."""

    source: str  # "nvml" | "rapl" | "estimate"
    device: str

    def joules(self) -> float: ...

    def describe(self) -> str: ...


class NvmlCounter:
    """The sum of NVML's total-energy counters (millijoules since the driver loaded) of some GPUs."""

    source = "nvml"

    def __init__(self, gpus: tuple[int, ...]) -> None:
        try:
            pynvml = _nvml()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(index) for index in gpus]
            self._read = pynvml.nvmlDeviceGetTotalEnergyConsumption
            self.joules()
        except Exception as error:  # noqa: BLE001 - no driver, no such GPU, or no energy counter (pre-Volta)
            raise MeterSpecError(
                f"NVML cannot read the energy of GPU {','.join(map(str, gpus))} on this host ({type(error).__name__}: "
                f"{error}). Run this worker on the engine's host, or use another meter."
            ) from None
        self.gpus = gpus
        self.device = "cuda:" + ",".join(map(str, gpus))

    def joules(self) -> float:
        return sum(int(self._read(handle)) for handle in self._handles) / 1000.0

    def describe(self) -> str:
        n = len(self.gpus)
        plural = "s" if n > 1 else ""
        return f"measured by NVML's energy counter{plural} of GPU{plural} {self.device[5:]}"


class RaplCounter:
    """The RAPL package counters, summed and unwrapped (they wrap around every few minutes at load)."""

    source = "rapl"
    device = "cpu"

    def __init__(self, root: Path = DEFAULT_RAPL_ROOT) -> None:
        try:
            self._meter = RaplMeter(root)
        except (OSError, RuntimeError) as error:
            raise MeterSpecError(
                f"No readable RAPL counter on this host ({error}). Use process:PIDFILE or none."
            ) from None
        self._last = self._meter._read()
        self._total_uj = 0
        self._lock = threading.Lock()

    def joules(self) -> float:
        with self._lock:
            now = self._meter._read()
            self._total_uj += self._meter._delta_uj(self._last, now)
            self._last = now
            return self._total_uj / 1e6

    def describe(self) -> str:
        return self._meter.describe().replace("includes other work", "the whole CPU package")


class ProcessTreeCounter:
    """CPU time of the engine's process and all its descendants × watts per core (an estimate).

    A descendant that exits takes its CPU time with it, so the counter keeps the last time seen of
    every process it has met: the total only grows."""

    source = "estimate"

    def __init__(self, pidfile: str, watts_per_core: float) -> None:
        try:
            pid = int(Path(pidfile).read_text().strip())
            self._root = psutil.Process(pid)
        except (OSError, ValueError) as error:
            raise MeterSpecError(
                f"Cannot read the engine's pid from {pidfile} on this host ({type(error).__name__}). Run this worker "
                "on the engine's host and write the engine's pid there."
            ) from None
        except psutil.Error:
            raise MeterSpecError(f"The process in {pidfile} is not running on this host.") from None
        self.pid, self.pidfile = pid, pidfile
        self.watts_per_core = float(watts_per_core)
        self.device = "cpu"
        self._seen: dict[tuple[int, float], float] = {}  # (pid, create time) -> CPU seconds last seen
        self._lock = threading.Lock()
        self.joules()

    def cpu_seconds(self) -> float:
        with self._lock:
            self._follow_pidfile()
            try:
                processes = [self._root, *self._root.children(recursive=True)]
            except psutil.Error:
                processes = []  # the engine is gone: what was seen stays
            for process in processes:
                try:
                    times = process.cpu_times()
                    self._seen[(process.pid, process.create_time())] = times.user + times.system
                except psutil.Error:
                    continue
            return sum(self._seen.values())

    def _follow_pidfile(self) -> None:
        """A restarted engine writes a new pid: follow it (what the old one used stays counted)."""
        try:
            pid = int(Path(self.pidfile).read_text().strip())
            if pid != self.pid:
                self._root, self.pid = psutil.Process(pid), pid
        except (OSError, ValueError, psutil.Error):
            pass

    def joules(self) -> float:
        return self.cpu_seconds() * self.watts_per_core

    def describe(self) -> str:
        return (
            f"estimated from the CPU time of the engine's process tree (pid {self.pid}) × {self.watts_per_core:g} W "
            "per core; the GPU's own energy is not counted"
        )


def counter_open(spec: MeterSpec, *, watts_per_core: float, rapl_root: Path = DEFAULT_RAPL_ROOT) -> Counter | None:
    """The counter of a spec on this host (None for `none`). Raises MeterSpecError when it cannot work here."""
    if spec.kind == "nvml":
        return NvmlCounter(spec.gpus)
    if spec.kind == "rapl":
        return RaplCounter(rapl_root)
    if spec.kind == "process":
        return ProcessTreeCounter(spec.pidfile, watts_per_core)
    return None


@dataclass
class _Share:
    joules: float = 0.0
    tokens: int = 0  # received since the last interval ended
    intervals: int = 0
    most_in_flight: int = 1
    started: float = field(default_factory=time.monotonic)


class IntervalAttribution:
    """Splits a counter's energy among the requests in flight to one engine, interval by interval.

    While at least one request is in flight a thread ends an interval every `interval_s`; a request's
    end also ends one (so its last tokens are charged at once). Each interval's energy (counter now −
    counter at the interval's start) goes to the requests in flight by the tokens each received in it;
    when none received any, equally. Nothing is read while no request is in flight."""

    def __init__(
        self, counter: Counter, *, interval_s: float = 0.5, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.counter, self.interval_s, self.clock = counter, interval_s, clock
        self._lock = threading.Lock()
        self._shares: dict[str, _Share] = {}
        self._mark: float | None = None  # counter at the current interval's start
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.measured_joules = 0.0  # every interval's energy, added up (what the shares add up to)

    def start(self, request_id: str) -> None:
        with self._lock:
            if not self._shares:
                self._mark = self.counter.joules()
            self._shares[request_id] = _Share(started=self.clock())
            for share in self._shares.values():
                share.most_in_flight = max(share.most_in_flight, len(self._shares))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="engine-meter", daemon=True)
                self._thread.start()

    def add_tokens(self, request_id: str, tokens: int = 1) -> None:
        with self._lock:
            share = self._shares.get(request_id)
            if share is not None:
                share.tokens += tokens

    def finish(self, request_id: str) -> EnergyReading:
        """End the request's last interval and return its energy and the sentence that says how."""
        with self._lock:
            self._interval_end()
            share = self._shares.pop(request_id)
            if not self._shares:
                self._wake.set()
        return EnergyReading(
            joules=share.joules, seconds=self.clock() - share.started, source=self.counter.source,
            device=self.counter.device, method=self.describe(share),
        )

    def describe(self, share: _Share) -> str:
        others = share.most_in_flight - 1
        shared = (
            f"shared by tokens with up to {others} other arena request{'s' if others != 1 else ''}"
            if others else "alone among arena requests"
        )
        return (
            f"{self.counter.describe()}, read every {self.interval_s:g} s while arena requests were in flight to the "
            f"engine ({share.intervals} interval{'s' if share.intervals != 1 else ''}), {shared}; other traffic of "
            "the engine on that hardware is counted too"
        )

    def _interval_end(self) -> None:
        if not self._shares or self._mark is None:
            return
        now = self.counter.joules()
        energy = max(0.0, now - self._mark)
        self._mark = now
        self.measured_joules += energy
        shares = split_by_tokens(energy, {request_id: share.tokens for request_id, share in self._shares.items()})
        for request_id, joules in shares.items():
            share = self._shares[request_id]
            share.joules += joules
            share.tokens = 0
            share.intervals += 1

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            with self._lock:
                if not self._shares:
                    self._thread = None
                    return
                self._interval_end()
