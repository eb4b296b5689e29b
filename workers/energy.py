"""Energy meters for one inference request. Plain Python: no Django imports.

Every meter has the same small interface::

    meter = select_meter("cpu", watts_per_core=15.0)
    with meter.measure() as m:
        run_the_request()
    m.reading  # EnergyReading, set when the block exits (also when it raises)

and a property ``attributable_concurrently``: whether two requests measured at the same time in one
process each get their own energy. Only the CPU-time estimate is; RAPL counts the whole CPU package
and NVML the whole GPU, so a worker using those must run one request at a time per package / GPU,
or (``workers.batching``) measure one batch step at a time and split it with ``split_by_tokens``.

Sources, best first:
- ``nvml``: NVIDIA's total-energy counter of the GPU (millijoules since driver load).
- ``rapl``: Intel/AMD RAPL package counters under /sys/class/powercap (microjoules, wraps around).
- ``estimate``: CPU time of the calling thread × a configured watts per core. It is only a model of
  the energy, and must be labelled as an estimate wherever it is shown.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

DEFAULT_RAPL_ROOT = Path("/sys/class/powercap")


@dataclass(frozen=True)
class EnergyReading:
    """Energy of one request and how it was obtained."""

    joules: float
    seconds: float
    source: str  # "nvml" | "rapl" | "estimate"
    device: str  # "cpu", "cuda:0", ...
    method: str  # a sentence a person can read, shown next to the number

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Measurement:
    """What ``meter.measure()`` yields; ``reading`` is filled in when the ``with`` block exits."""

    def __init__(self) -> None:
        self.reading: EnergyReading | None = None


class EnergyMeter(Protocol):
    @property
    def attributable_concurrently(self) -> bool: ...

    def measure(self) -> contextlib.AbstractContextManager[Measurement]: ...

    def describe(self, joules: float) -> str: ...


def split_by_tokens(joules: float, tokens: dict[str, int]) -> dict[str, float]:
    """Share ``joules`` among requests in proportion to the tokens each computed; the shares add up
    to ``joules`` exactly (the last request takes what rounding leaves)."""
    total = sum(tokens.values())
    if not tokens:
        return {}
    if total <= 0:
        share = joules / len(tokens)
        return dict.fromkeys(tokens, share)
    shares, given = {}, 0.0
    keys = list(tokens)
    for key in keys[:-1]:
        shares[key] = joules * tokens[key] / total
        given += shares[key]
    shares[keys[-1]] = joules - given
    return shares


class CpuTimeEstimateMeter:
    """Estimate: CPU seconds × ``watts_per_core``.

    ``clock="thread"`` (per request): ``time.thread_time()`` only counts the thread that calls it, so
    torch's intra-op worker threads would escape it: the worker must call ``torch.set_num_threads(1)``
    so that torch computes in the calling thread. In exchange, two requests running at once in two
    threads each get their own CPU time, so this meter is attributable under concurrency.

    ``clock="process"`` (per batch step, ``workers.batching``): the CPU time of the whole process,
    which includes all of torch's threads; the caller serialises the steps it measures so that one
    step's figure is not another's.
    """

    source = "estimate"
    attributable_concurrently = True

    def __init__(
        self,
        watts_per_core: float,
        device: str = "cpu",
        reason: str = "no energy counter on this host",
        clock: str = "thread",
    ) -> None:
        if watts_per_core < 0:
            raise ValueError("watts_per_core must be >= 0")
        if clock not in ("thread", "process"):
            raise ValueError("clock must be 'thread' or 'process'")
        self.watts_per_core = float(watts_per_core)
        self.device = device
        self.reason = reason
        self.clock = clock
        self._time = time.thread_time if clock == "thread" else time.process_time

    def with_process_clock(self) -> CpuTimeEstimateMeter:
        """The same estimate over the process's CPU time (all threads), for serialised batch steps."""
        return CpuTimeEstimateMeter(self.watts_per_core, device=self.device, reason=self.reason, clock="process")

    def describe(self, joules: float) -> str:
        """The method sentence for ``joules`` measured by this meter (one request or a sum of steps)."""
        cpu = joules / self.watts_per_core if self.watts_per_core else 0.0
        whose = "" if self.clock == "thread" else " of the whole process (every torch thread)"
        return f"estimated from {cpu:.2f} s of CPU time{whose} × {self.watts_per_core:g} W per core: {self.reason}"

    @contextlib.contextmanager
    def measure(self) -> Iterator[Measurement]:
        m = Measurement()
        wall0, cpu0 = time.monotonic(), self._time()
        try:
            yield m
        finally:
            cpu = max(0.0, self._time() - cpu0)
            wall = time.monotonic() - wall0
            joules = cpu * self.watts_per_core
            m.reading = EnergyReading(
                joules=joules, seconds=wall, source=self.source, device=self.device, method=self.describe(joules),
            )


def _rapl_package_dirs(root: Path) -> list[Path]:
    # Package domains are intel-rapl:N; their subzones (intel-rapl:N:M: core, uncore, dram) are
    # already included in the package figure or measure something else, so they are skipped.
    # AMD CPUs expose the same "intel-rapl" names through the same driver.
    if not root.is_dir():
        return []
    return sorted(d for d in root.glob("intel-rapl:*") if d.name.count(":") == 1 and (d / "energy_uj").is_file())


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def rapl_available(root: Path = DEFAULT_RAPL_ROOT) -> bool:
    """True when at least one RAPL package counter exists and can be read (often root-only)."""
    dirs = _rapl_package_dirs(root)
    if not dirs:
        return False
    try:
        for d in dirs:
            _read_int(d / "energy_uj")
    except (OSError, ValueError):
        return False
    return True


class RaplMeter:
    """Sum of the RAPL package counters before and after the request.

    The counter is for the whole CPU package: other processes and other concurrent requests are
    included, so the worker should run one CPU request at a time when it uses this meter.
    """

    source = "rapl"
    attributable_concurrently = False

    def __init__(self, root: Path = DEFAULT_RAPL_ROOT) -> None:
        self.root = Path(root)
        self.domains = _rapl_package_dirs(self.root)
        if not self.domains:
            raise RuntimeError(f"No readable RAPL package counter under {self.root}")
        self.max_ranges: list[int] = []
        for d in self.domains:
            try:
                self.max_ranges.append(_read_int(d / "max_energy_range_uj"))
            except (OSError, ValueError):
                self.max_ranges.append(0)  # unknown: a wraparound then can't be corrected

    def _read(self) -> list[int]:
        return [_read_int(d / "energy_uj") for d in self.domains]

    def _delta_uj(self, before: list[int], after: list[int]) -> int:
        total = 0
        for b, a, max_range in zip(before, after, self.max_ranges, strict=True):
            if a >= b:
                total += a - b
            elif max_range > 0:
                total += a + (max_range - b)  # the counter wrapped once (~minutes at full load)
        return total

    def describe(self, joules: float = 0.0) -> str:
        n = len(self.domains)
        return (
            f"measured by RAPL package counter{'s' if n > 1 else ''} "
            f"({'all ' + str(n) + ' CPU packages' if n > 1 else 'whole CPU package'}, includes other work)"
        )

    @contextlib.contextmanager
    def measure(self) -> Iterator[Measurement]:
        m = Measurement()
        wall0, before = time.monotonic(), self._read()
        try:
            yield m
        finally:
            after = self._read()
            wall = time.monotonic() - wall0
            m.reading = EnergyReading(
                joules=self._delta_uj(before, after) / 1e6,
                seconds=wall,
                source=self.source,
                device="cpu",
                method=self.describe(),
            )


_nvml_lock = threading.Lock()
_nvml_ready = False


def _nvml() -> Any:
    """Import pynvml (package nvidia-ml-py) and initialise NVML once per process."""
    global _nvml_ready
    import pynvml  # lazy: absent or useless on CPU-only hosts

    with _nvml_lock:
        if not _nvml_ready:
            pynvml.nvmlInit()
            _nvml_ready = True
    return pynvml


def _cuda_index(device: str) -> int:
    _, _, idx = device.partition(":")
    return int(idx) if idx else 0


def _nvml_handle(pynvml: Any, device_index: int) -> Any:
    # torch's index counts only the GPUs in CUDA_VISIBLE_DEVICES, NVML's counts all of them: match
    # by UUID when torch can tell it, else fall back to the same index.
    try:
        import torch

        if torch.cuda.is_available():
            uuid = str(torch.cuda.get_device_properties(device_index).uuid)
            uuid = uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
            return pynvml.nvmlDeviceGetHandleByUUID(uuid)
    except Exception:  # any failure here just means "use the index"
        pass
    return pynvml.nvmlDeviceGetHandleByIndex(device_index)


class NvmlMeter:
    """NVML's total-energy counter (mJ) of one GPU, read before and after the request.

    The GPU runs asynchronously, so the end value is read after ``torch.cuda.synchronize``. The
    counter is for the whole GPU: run one request at a time per GPU.
    """

    source = "nvml"
    attributable_concurrently = False

    def __init__(self, device_index: int) -> None:
        self.device_index = device_index
        self.device = f"cuda:{device_index}"
        self._pynvml = _nvml()
        self._handle = _nvml_handle(self._pynvml, device_index)
        name = self._pynvml.nvmlDeviceGetName(self._handle)
        self.gpu_name = name.decode() if isinstance(name, bytes) else str(name)
        # Fails with NVMLError_NotSupported on GPUs older than Volta: let the caller fall back.
        self._read()

    def _read(self) -> int:
        return int(self._pynvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))

    def _sync(self) -> None:
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.synchronize(self.device)
        except Exception:  # a meter must not fail the request
            pass

    def describe(self, joules: float = 0.0) -> str:
        return f"measured by NVML's total-energy counter on {self.device} ({self.gpu_name})"

    @contextlib.contextmanager
    def measure(self) -> Iterator[Measurement]:
        m = Measurement()
        self._sync()  # don't charge this request for work queued before it
        wall0, before = time.monotonic(), self._read()
        try:
            yield m
        finally:
            self._sync()
            after = self._read()
            wall = time.monotonic() - wall0
            m.reading = EnergyReading(
                joules=max(0, after - before) / 1000.0,
                seconds=wall,
                source=self.source,
                device=self.device,
                method=self.describe(),
            )


def select_meter(
    device: str, watts_per_core: float, rapl_root: Path = DEFAULT_RAPL_ROOT
) -> CpuTimeEstimateMeter | RaplMeter | NvmlMeter:
    """The best meter for ``device`` ("cpu", "cuda", "cuda:N") on this host.

    cuda: NVML if it initialises and the GPU has an energy counter, else the CPU-time estimate
    (which then says why; it misses the GPU's own energy). cpu: RAPL if readable, else the estimate.
    """
    if device.startswith("cuda"):
        index = _cuda_index(device)
        try:
            return NvmlMeter(index)
        except Exception as exc:  # ImportError, NVMLError_*, driver not loaded...
            why = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
            return CpuTimeEstimateMeter(
                watts_per_core,
                device=f"cuda:{index}",
                reason=(
                    f"NVML energy counter unavailable on cuda:{index} ({why}); the GPU's own energy is not counted"
                ),
            )
    if rapl_available(rapl_root):
        try:
            return RaplMeter(rapl_root)
        except (OSError, RuntimeError):
            pass
    return CpuTimeEstimateMeter(watts_per_core, device="cpu")
