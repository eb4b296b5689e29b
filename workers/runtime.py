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
from typing import TypeVar

import numpy as np
import torch
from django.conf import settings

from workers import batching, contrastive_batch, embedding, engine_client, engine_meter, generation, loading
from workers.energy import CpuTimeEstimateMeter, EnergyReading, select_meter
from workers.model_cache import ModelCache

# Batch engines and embedding batchers of the models held warm, by cache key; dropped with the model.
_engines: dict[str, batching.AdmittedEngine | embedding.EmbedBatcher] = {}
_engines_lock = threading.Lock()
# A language model's shared decode loops, each under "<its cache key>|<the loop's class name>".
_LOOPS: tuple[type[batching.AdmittedEngine], ...] = (batching.BatchEngine, contrastive_batch.ContrastiveBatchEngine)
Loop = TypeVar("Loop", bound=batching.AdmittedEngine)


def _engine_drop(key: str, _value: object) -> None:
    with _engines_lock:
        _engines.pop(key, None)  # an encoder's micro-batcher
        loops = [_engines.pop(f"{key}|{kind.__name__}", None) for kind in _LOOPS]
    for engine in loops:
        if engine is not None:
            engine.close()


model_cache = ModelCache(settings.ARENA_MODEL_CACHE_BYTES, on_evict=_engine_drop)

# Loading is not thread-safe in transformers: the first lazy import of its classes from two threads
# fails ("cannot import name 'AutoModel'"), and from_pretrained's meta-device initialisation leaks
# into a model another thread is building ("Cannot copy out of meta tensor"). Both were seen when a
# worker's warm-up thread and a task loaded models at once. So: import here, in the importing thread,
# and load one model at a time per process (loads are rare; requests on loaded models run in parallel).
_load_lock = threading.Lock()
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer  # noqa: E402,F401

# On CPU each concurrent request gets one torch thread, so that its work runs in the calling
# thread and time.thread_time() attributes its energy (docs/architecture.md, "Workers").
torch.set_num_threads(settings.ARENA_TORCH_THREADS)

_meter_lock = threading.Lock()
_meters: dict[str, object] = {}
_exclusive_locks: dict[str, threading.Lock] = {}
# The CPU-time estimate of a batch step counts the whole process's CPU time: steps of all engines
# in this process take turns, so that one step's figure is its own.
_process_step_lock = threading.Lock()


# Failures whose message is written for the visitor (the page shows it in the side's pane).
VISITOR_ERRORS: tuple[type[Exception], ...] = (
    batching.PromptTooLong, batching.BatchRequestFailed, engine_client.EngineError,
)


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


def _step_meter_and_lock(device: str):
    """The meter of one batch step and the lock that serialises steps.

    Whole-device counter: the device's own lock (per-request measurements of unbatched models and
    other engines' steps don't overlap a step). CPU-time estimate with one torch thread: the step
    computes in the loop's own thread, whose CPU time is the step's, so engines need not take turns.
    With more torch threads, the process's CPU time (all of them), and steps of all engines take turns.
    """
    meter, _lock = _meter_and_lock(device)
    if isinstance(meter, CpuTimeEstimateMeter):
        if torch.get_num_threads() == 1:
            return meter, threading.Lock()
        return meter.with_process_clock(), _process_step_lock
    return meter, _exclusive_locks[device]


def _lm_key(path: str | Path, precision: str) -> str:
    return f"lm|{path}|{precision}|{current_device()}"


def _enc_key(path: str | Path, precision: str) -> str:
    return f"enc|{path}|{precision}|{current_device()}"


def language_model_get(*, path: str | Path, precision: str = "float32") -> loading.LoadedLM:
    device = current_device()
    key = _lm_key(path, precision)
    return model_cache.get(key, lambda: _serialised(loading.load_causal_lm, Path(path), device, precision), _bytes_of)


def encoder_get(*, path: str | Path, precision: str = "float32") -> loading.LoadedEncoder:
    device = current_device()
    key = _enc_key(path, precision)
    return model_cache.get(key, lambda: _serialised(loading.load_encoder, Path(path), device, precision), _bytes_of)


def batch_limits() -> batching.BatchLimits:
    return batching.BatchLimits(
        max_requests=settings.ARENA_BATCH_MAX_REQUESTS,
        max_tokens=settings.ARENA_BATCH_MAX_TOKENS,
        kv_cache_bytes=settings.ARENA_BATCH_KV_BYTES,
        step_tokens=settings.ARENA_BATCH_STEP_TOKENS,
    )


def engine_get(*, path: str | Path, precision: str = "float32", kind: type[Loop]) -> Loop:
    """A loaded language model's shared decode loop of this kind (created on first use)."""
    lm = language_model_get(path=path, precision=precision)
    key = f"{_lm_key(path, precision)}|{kind.__name__}"
    with _engines_lock:
        engine = _engines.get(key)
        if not isinstance(engine, kind) or engine.lm is not lm or engine.closed:
            meter, lock = _step_meter_and_lock(lm.device)
            engine = _engines[key] = kind(lm, meter=meter, step_lock=lock, limits=batch_limits())
    return engine


def _loop_for(decoding: generation.DecodingConfig) -> type[batching.AdmittedEngine] | None:
    """The shared loop that serves this decoding with ARENA_BATCHING (None: alone in its thread)."""
    if not settings.ARENA_BATCHING:
        return None
    if batching.batchable(decoding):
        return batching.BatchEngine
    return contrastive_batch.ContrastiveBatchEngine if decoding.method == "contrastive" else None


def language_model_warm(*, path: str | Path, precision: str = "float32") -> None:
    """Load a language model and, with batching on, start its continuous-batching loop with a one-token
    request: the first request after that loop starts pays a one-time set-up (~5 s) that a visitor
    should not wait for. The contrastive-search loop has none: it starts with its first request."""
    lm = language_model_get(path=path, precision=precision)
    if settings.ARENA_BATCHING:
        engine = engine_get(path=path, precision=precision, kind=batching.BatchEngine)
        if engine.lm is lm:
            engine.generate("Hi", generation.DecodingConfig(method="greedy", max_new_tokens=1))


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
    prompt: generation.Prompt,
    on_token: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    timeout_s: float | None = None,
    on_queue: Callable[[int], None] | None = None,
) -> tuple[generation.GenerationResult, EnergyReading]:
    """Generate one answer, streaming text deltas to on_token, and measure its energy.

    With ARENA_BATCHING the request joins one of its model's shared decode loops (``_loop_for``:
    greedy and unseeded sampling in transformers' continuous batching, contrastive search in ours);
    while it waits for a slot, ``on_queue(n)`` says its place in line (1 = next; 0 once it runs).
    Seeded sampling and a repetition penalty outside contrastive search run alone. Raises
    ``batching.PromptTooLong`` (a ValueError meant for a person) when the prompt does not fit the
    model's context.
    """
    lm = language_model_get(path=path, precision=precision)
    timeout_s = settings.ARENA_GENERATION_TIMEOUT_S if timeout_s is None else timeout_s
    kind = _loop_for(decoding)
    if kind is not None:
        engine = engine_get(path=path, precision=precision, kind=kind)
        return engine.generate(
            prompt, decoding, on_token=on_token, should_stop=should_stop,
            deadline=time.monotonic() + timeout_s, on_queue=on_queue,
        )
    context = batching.context_length(lm)
    prompt_tokens = int(generation.build_prompt_ids(lm, prompt).shape[1])
    if context is not None and prompt_tokens >= context:
        raise batching.PromptTooLong(
            f"The prompt is {prompt_tokens} tokens long; this model reads at most {context} tokens. Shorten it."
        )
    deadline = time.monotonic() + timeout_s
    meter, lock = _meter_and_lock(lm.device)
    if lock is not None:
        # A whole-device counter: measure each forward pass alone on the device rather than hold
        # the device for the whole answer, so that unbatched sides (contrastive) interleave.
        tally = _StepTally(meter, lock)
        result = generation.generate(
            lm, prompt, decoding, on_token=on_token, deadline=deadline, should_stop=should_stop,
            around_step=tally.step,
        )
        return result, tally.reading()
    with _measured(lm.device) as measurement:
        result = generation.generate(
            lm, prompt, decoding, on_token=on_token, deadline=deadline, should_stop=should_stop,
        )
    return result, measurement.reading


class _StepTally:
    """Energy of one unbatched request as the sum of its forward passes, each measured while it
    holds the device (the counter then sees only that pass)."""

    def __init__(self, meter, lock: threading.Lock) -> None:
        self.meter, self.lock = meter, lock
        self.joules, self.steps, self.started = 0.0, 0, time.monotonic()

    @contextmanager
    def step(self):
        with self.lock, self.meter.measure() as measurement:
            yield
        self.joules += measurement.reading.joules
        self.steps += 1

    def reading(self) -> EnergyReading:
        return EnergyReading(
            joules=self.joules, seconds=time.monotonic() - self.started, source=self.meter.source,
            device=getattr(self.meter, "device", "cpu"),
            method=(
                f"{self.meter.describe(self.joules)}; the sum of its {self.steps} forward passes, "
                "each measured alone on the device"
            ),
        )


# At most this many texts with default options join an encoder's micro-batch (a retrieval query is
# one); more (a corpus) run on their own.
MICRO_BATCH_MAX_TEXTS = 8


def embed(*, path: str | Path, precision: str, texts: list[str], **kwargs) -> tuple[np.ndarray, EnergyReading]:
    """Embed ``texts``. A few texts with default options (a retrieval query) join the encoder's
    micro-batch with other concurrent calls; a corpus (or any options) runs on its own."""
    encoder = encoder_get(path=path, precision=precision)
    if settings.ARENA_BATCHING and not kwargs and 0 < len(texts) <= MICRO_BATCH_MAX_TEXTS:
        return _embed_batcher(path, precision, encoder).embed(texts)
    with _measured(encoder.device) as measurement:
        vectors = embedding.embed(encoder, texts, **kwargs)
    return vectors, measurement.reading


def _embed_batcher(path: str | Path, precision: str, encoder: loading.LoadedEncoder) -> embedding.EmbedBatcher:
    key = _enc_key(path, precision)
    with _engines_lock:
        batcher = _engines.get(key)
        if not isinstance(batcher, embedding.EmbedBatcher) or batcher.encoder is not encoder:
            meter, lock = _step_meter_and_lock(encoder.device)
            batcher = _engines[key] = embedding.EmbedBatcher(
                encoder, meter=meter, step_lock=lock, gather_s=settings.ARENA_EMBED_GATHER_S
            )
    return batcher


@contextmanager
def _measured(device: str):
    """Measure one request's energy; on a device whose counter sees everything, take turns."""
    meter, lock = _meter_and_lock(device)
    with lock or nullcontext(), meter.measure() as measurement:
        yield measurement


def loaded_model_paths() -> list[str]:
    """Prepared paths of the models this process holds warm."""
    return sorted({key.split("|")[1] for key in model_cache.keys()})


# Requests to engines (models served by an inference engine): one attribution per meter spec in this
# process, so that the requests of every model metered by the same counter share its intervals.
_attributions: dict[str, engine_meter.IntervalAttribution] = {}
_attributions_lock = threading.Lock()


def engine_attribution(meter: str) -> engine_meter.IntervalAttribution | None:
    """The interval attribution of a meter spec on this host (None for `none`). Raises MeterSpecError."""
    spec = engine_meter.meter_spec_parse(meter)
    with _attributions_lock:
        attribution = _attributions.get(str(spec))
        if attribution is None:
            counter = engine_meter.counter_open(spec, watts_per_core=settings.ARENA_CPU_WATTS_PER_CORE)
            if counter is None:
                return None
            attribution = _attributions[str(spec)] = engine_meter.IntervalAttribution(
                counter, interval_s=settings.ARENA_ENGINE_METER_INTERVAL_S
            )
    return attribution


def endpoint_generate(
    *,
    endpoint: engine_client.Endpoint,
    meter: str,
    prompt: generation.Prompt,
    decoding: generation.DecodingConfig,
    on_token: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    timeout_s: float | None = None,
) -> tuple[generation.GenerationResult, EnergyReading | None, str]:
    """One chat answer from an engine, streamed to on_token, with its share of the meter's energy.

    Returns (result, reading, why): reading is None when the energy is not measured, and `why` then
    says so. Raises engine_client.EngineError (a sentence for the visitor) when the engine fails."""
    timeout_s = settings.ARENA_GENERATION_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        attribution = engine_attribution(meter)
        why = "" if attribution is not None else "not measured: this contender's engine has no meter (meter 'none')"
    except engine_meter.MeterSpecError as error:
        attribution, why = None, f"not measured: {error}"
    request_id = f"{threading.get_ident()}-{time.monotonic_ns()}"
    counted = on_token
    if attribution is not None:
        attribution.start(request_id)

        def counted(delta: str) -> None:
            attribution.add_tokens(request_id)
            if on_token is not None:
                on_token(delta)

    try:
        result = engine_client.endpoint_stream(
            endpoint, generation.conversation_of(prompt), decoding,
            deadline=time.monotonic() + timeout_s, on_token=counted, should_stop=should_stop,
        )
    finally:
        reading = attribution.finish(request_id) if attribution is not None else None
    return result, reading, why
