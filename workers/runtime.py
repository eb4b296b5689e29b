"""The worker's view of inference: a prepared model's path and how to run it in, text/vectors and
energy readings out.

The glue over the plain modules (loading, model_cache, generation, embedding, energy), configured by
Django settings; it takes plain values, never the apps' models (they call it: the runtime is below them).
Models are loaded once per worker process and kept warm in an LRU cache.
"""

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch
from django.conf import settings

from workers import embedding, generation, loading
from workers.energy import EnergyReading, select_meter
from workers.model_cache import ModelCache

model_cache = ModelCache(settings.ARENA_MODEL_CACHE_BYTES)

# Loading is not thread-safe in transformers: the first lazy import of its classes from two threads
# fails ("cannot import name 'AutoModel'"), and from_pretrained's meta-device initialisation leaks
# into a model another thread is building ("Cannot copy out of meta tensor"). Both were seen when a
# worker's warm-up thread and a task loaded models at once. So: import here, in the importing thread,
# and load one model at a time per process (loads are rare; requests on loaded models run in parallel).
_load_lock = threading.Lock()
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer  # noqa: E402,F401

# On CPU each concurrent request gets one torch thread, so that its work runs in the calling
# thread and time.thread_time() attributes its energy (ARCHITECTURE.md, "Workers and concurrency").
torch.set_num_threads(settings.ARENA_TORCH_THREADS)

_meter_lock = threading.Lock()
_meters: dict[str, object] = {}
_exclusive_locks: dict[str, threading.Lock] = {}


def current_device() -> str:
    return loading.resolve_device(settings.ARENA_DEVICE)


def _meter_and_lock(device: str):
    with _meter_lock:
        if device not in _meters:
            _meters[device] = select_meter(device, settings.ARENA_CPU_WATTS_PER_CORE)
            _exclusive_locks[device] = threading.Lock()
        meter = _meters[device]
    # A counter that sees the whole device (NVML, RAPL) can only be attributed to one request
    # at a time: requests on such a device wait for each other.
    lock = None if meter.attributable_concurrently else _exclusive_locks[device]
    return meter, lock


def language_model_get(*, path: str | Path, precision: str = "float32") -> loading.LoadedLM:
    device = current_device()
    key = f"lm|{path}|{precision}|{device}"
    return model_cache.get(key, lambda: _serialised(loading.load_causal_lm, Path(path), device, precision), _bytes_of)


def encoder_get(*, path: str | Path, precision: str = "float32") -> loading.LoadedEncoder:
    device = current_device()
    key = f"enc|{path}|{precision}|{device}"
    return model_cache.get(key, lambda: _serialised(loading.load_encoder, Path(path), device, precision), _bytes_of)


def _serialised(load, *args):
    with _load_lock:
        return load(*args)


def _bytes_of(loaded) -> int:
    return int(loaded.bytes)


def generate(
    *,
    path: str | Path,
    precision: str,
    decoding: generation.DecodingConfig,
    prompt: str,
    on_token: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    timeout_s: float | None = None,
) -> tuple[generation.GenerationResult, EnergyReading]:
    """Generate one answer, streaming text deltas to on_token, and measure its energy."""
    lm = language_model_get(path=path, precision=precision)
    timeout_s = settings.ARENA_GENERATION_TIMEOUT_S if timeout_s is None else timeout_s
    with _measured(lm.device) as measurement:
        deadline = time.monotonic() + timeout_s
        result = generation.generate(
            lm, prompt, decoding, on_token=on_token, deadline=deadline, should_stop=should_stop,
        )
    return result, measurement.reading


def embed(*, path: str | Path, precision: str, texts: list[str], **kwargs) -> tuple[np.ndarray, EnergyReading]:
    encoder = encoder_get(path=path, precision=precision)
    with _measured(encoder.device) as measurement:
        vectors = embedding.embed(encoder, texts, **kwargs)
    return vectors, measurement.reading


@contextmanager
def _measured(device: str):
    """Measure one request's energy; on a device whose counter sees everything, take turns."""
    meter, lock = _meter_and_lock(device)
    with lock or nullcontext(), meter.measure() as measurement:
        yield measurement


def loaded_model_paths() -> list[str]:
    """Prepared paths of the models this process holds warm."""
    return sorted({key.split("|")[1] for key in model_cache.keys()})
