"""Continuous batching per loaded language model, with energy per request. No Django imports.

Requests for one model share one decode loop: transformers' ``ContinuousBatchingManager`` (its own
background thread, paged KV cache). New requests join between steps and finished ones leave; each
caller streams its own text deltas, as ``workers.generation.generate`` does.

In front of the manager sits an admission queue (``AdmittedEngine``, shared with the contrastive-search
loop of ``workers.contrastive_batch``: at most ``max_requests`` running and at most
``max_tokens`` of prompt + max_new_tokens in flight, within the KV cache's budget): a waiting
request learns its place in line (``on_queue(n)``: n = 1 + the requests waiting ahead of it, so 1 is
next; 0 once it runs, sent only to a request that was told a place) and can still time out or be
cancelled while it waits.

Energy: each forward step of the loop is measured (NVML, RAPL, or the process's CPU time; steps of
all engines in a process are serialised by one lock so that a whole-device or whole-process figure
belongs to one step) and split among the requests in the step by the tokens each computed in it:
its prompt tokens in its prefill step, one per decode step. The shares of each step add up to it.

Greedy requests run as sampling with top_k=1, which picks the arg-max token; sampling requests keep
their own temperature / top-k / top-p (``per_request_processors``). Not in this loop (see
:func:`batchable`): contrastive search (not in transformers' loop: ``workers.contrastive_batch``
batches it), seeded sampling (one generator is shared by the batch) and a repetition penalty (not
per request there); those two run alone.
"""

from __future__ import annotations

import atexit
import itertools
import queue
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from workers.energy import EnergyMeter, EnergyReading, split_by_tokens
from workers.generation import (
    DecodingConfig,
    GenerationResult,
    Prompt,
    TextStream,
    build_prompt_ids,
    eos_token_ids,
)
from workers.loading import LoadedLM

T = TypeVar("T")

POLL_S = 0.05  # how often a waiting caller looks at should_stop and its deadline


class PromptTooLong(ValueError):
    """The prompt does not fit the model's context (or the engine's KV cache); the message is for a person."""


class BatchRequestFailed(RuntimeError):
    """The batch loop failed this request (the others may go on)."""


@dataclass(frozen=True)
class BatchLimits:
    """A loop's limits. The worker builds them from the ARENA_BATCH_* settings (runtime.batch_limits);
    these defaults are the settings' defaults, for code that runs a loop without Django."""

    max_requests: int = 16  # requests decoded together
    max_tokens: int = 8192  # prompt + max_new_tokens of the admitted requests, together
    kv_cache_bytes: int = 512 * 1024**2  # memory budget of the paged KV cache
    step_tokens: int = 1024  # tokens in one forward pass (prefills are split beyond it)
    page_size: int = 64  # tokens per KV cache page


def batchable(decoding: DecodingConfig) -> bool:
    """Whether the batch loop decodes this exactly as ``generation.generate`` would (else: the old loop)."""
    if decoding.method == "greedy":
        return decoding.repetition_penalty == 1.0
    if decoding.method == "sampling":
        return decoding.repetition_penalty == 1.0 and decoding.seed is None
    return False


def sampling_kwargs(decoding: DecodingConfig, vocab_size: int) -> dict[str, Any]:
    """Per-request processor arguments: greedy is top_k=1; top_k=0 (off) is the whole vocabulary
    (the batch's top-k processor reads 0 as 1)."""
    if decoding.method == "greedy" or decoding.temperature <= 0:
        return {"temperature": 1.0, "top_k": 1, "top_p": 1.0}
    top_k = decoding.top_k if 0 < decoding.top_k < vocab_size else vocab_size
    return {"temperature": float(decoding.temperature), "top_k": int(top_k), "top_p": float(decoding.top_p)}


def kv_bytes_per_token(model: Any) -> int:
    """Bytes of keys and values that one token takes over all layers."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    layers = int(config.num_hidden_layers)
    heads = int(getattr(config, "num_key_value_heads", None) or config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads)
    element = torch.finfo(model.dtype).bits // 8
    return 2 * layers * heads * head_dim * element


def context_length(lm: LoadedLM) -> int | None:
    config = lm.model.config.get_text_config() if hasattr(lm.model.config, "get_text_config") else lm.model.config
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if value else None


@dataclass(frozen=True)
class Update:
    """What a loop tells a request's caller: all its tokens so far (an end-of-sequence token last
    when it stopped there), whether it is finished, or why the loop failed it."""

    tokens: list[int]
    finished: bool = False
    error: str | None = None


@dataclass
class Ticket:
    rid: str
    ids: list[int]
    max_new_tokens: int
    needed: int  # tokens reserved: prompt + max_new_tokens
    kv: int = 0  # KV cache token slots reserved, where the engine counts them apart (kv_slots)
    outputs: queue.Queue[Update] = field(default_factory=queue.Queue)
    joules: float = 0.0
    tokens: int = 0  # tokens computed for it (prompt + decode)
    steps: int = 0
    peers: int = 1  # the most requests it shared a step with
    admitted: bool = False


_open_engines: weakref.WeakSet[AdmittedEngine] = weakref.WeakSet()


@atexit.register
def _close_open_engines() -> None:
    # Stop the loops' (daemon) threads before the interpreter finalises: one still running torch code
    # then can abort the process ("terminate called without an active exception", seen with two loops).
    for engine in list(_open_engines):
        engine.close()


class AdmittedEngine:
    """What every shared decode loop has: the admission line in front of it (``generate`` is called
    from many threads at once), and the result and energy reading of a request."""

    def __init__(
        self, lm: LoadedLM, *, meter: EnergyMeter, step_lock: threading.Lock, limits: BatchLimits = BatchLimits()
    ) -> None:
        self.lm = lm
        self.meter = meter
        self.step_lock = step_lock
        self.limits = limits
        self.stops = sorted(eos_token_ids(lm))
        self.context = context_length(lm)
        self.max_tokens = limits.max_tokens  # subclasses may lower it to what their memory holds
        self.kv_slots: int | None = None  # tokens of KV cache the memory budget holds, where not in max_tokens
        self._kv_in_flight = 0
        self._cond = threading.Condition()
        self._waiting: list[Ticket] = []
        self._running: dict[str, Ticket] = {}
        self._in_flight = 0
        self._ids = itertools.count()
        self.steps_started = 0
        self.steps_done = 0
        self.total_joules = 0.0  # all steps measured; equals the sum of the requests' shares
        self.closed = False
        _open_engines.add(self)

    # --- a request's life: admitted, handed to the loop, followed until it ends --------------------

    def generate(
        self,
        prompt: Prompt,
        decoding: DecodingConfig,
        *,
        on_token: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        deadline: float | None = None,
        on_queue: Callable[[int], None] | None = None,
    ) -> tuple[GenerationResult, EnergyReading]:
        """Generate through the shared loop; the same contract as ``generation.generate``, plus the
        energy share and ``on_queue(position)`` while waiting for a slot (0 once running)."""
        started = time.monotonic()
        ids = build_prompt_ids(self.lm, prompt)[0].tolist()
        copies = self._copies(decoding)
        max_new = self.check_prompt(ids, decoding.max_new_tokens, copies=copies)
        needed = len(ids) + max_new
        ticket = Ticket(rid=f"r{next(self._ids)}", ids=ids, max_new_tokens=max_new, needed=needed, kv=needed * copies)
        stream = TextStream(self.lm.tokenizer, on_token)
        stopped = "length" if decoding.max_new_tokens == 0 else self._admit(ticket, on_queue, should_stop, deadline)
        if stopped is not None:
            return self._result(ticket, stream, [], started, None, stopped), self._reading(ticket, started)
        try:
            generated, ttft, finish = self._follow(ticket, decoding, stream, started, should_stop, deadline)
        finally:
            self._release(ticket)
        stream.update(generated, final=True)
        return self._result(ticket, stream, generated, started, ttft, finish), self._reading(ticket, started)

    def _follow(self, ticket, decoding, stream, started, should_stop, deadline) -> tuple[list[int], float | None, str]:
        """Hand the admitted request to the loop and stream its updates; (tokens, ttft, finish reason)."""
        generated: list[int] = []
        ttft: float | None = None
        try:
            self._enter(ticket, decoding)
            while True:
                try:
                    update = ticket.outputs.get(timeout=POLL_S)
                except queue.Empty:
                    update = None
                if update is not None:
                    if update.error:
                        raise BatchRequestFailed(update.error)
                    if update.tokens and ttft is None:
                        ttft = time.monotonic() - started
                    ended = bool(update.tokens) and update.tokens[-1] in self.stops
                    generated = update.tokens[:-1] if ended else update.tokens
                    stream.update(generated)
                    if update.finished:
                        return generated, ttft, "stop" if ended else "length"
                    continue
                if deadline is not None and time.monotonic() >= deadline:
                    self._cancel(ticket)
                    return generated, ttft, "timeout"
                if should_stop is not None and should_stop():
                    self._cancel(ticket)
                    return generated, ttft, "cancelled"
                why = self._loop_failure()
                if why is not None:
                    raise BatchRequestFailed(why)
        except BaseException:
            self._cancel(ticket)
            raise

    def _copies(self, decoding: DecodingConfig) -> int:
        """Rows of KV cache one token of this request takes at once (counted against kv_slots)."""
        return 1

    def _enter(self, ticket: Ticket, decoding: DecodingConfig) -> None:
        """Hand an admitted request to the loop."""
        raise NotImplementedError

    def _cancel(self, ticket: Ticket) -> None:
        """Take the request out of the loop, and wait until the loop has dropped it: no later step
        can then charge it, so its reading holds every share it was given."""
        raise NotImplementedError

    def _loop_failure(self) -> str | None:
        """Why the loop can no longer finish a request (it stopped), else None."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the loop; requests still in it fail."""
        raise NotImplementedError

    def check_prompt(self, ids: list[int], max_new_tokens: int, *, copies: int = 1) -> int:
        """Refuse a prompt that cannot fit; return the max_new_tokens that can. ``copies``: rows of KV
        cache one token of the request takes at once (contrastive search: one per candidate)."""
        n = len(ids)
        if self.context is not None and n >= self.context:
            raise PromptTooLong(
                f"The prompt is {n} tokens long; this model reads at most {self.context} tokens. Shorten it."
            )
        holds = self.max_tokens if self.kv_slots is None else min(self.max_tokens, self.kv_slots // copies)
        if n >= holds:
            raise PromptTooLong(
                f"The prompt is {n} tokens long; this model's batch holds at most {holds} tokens "
                "(ARENA_BATCH_MAX_TOKENS / ARENA_BATCH_KV_BYTES). Shorten it."
            )
        room = holds - n
        if self.context is not None:
            room = min(room, self.context - n)
        return max(1, min(max_new_tokens, room))

    def _admit(self, ticket: Ticket, on_queue, should_stop, deadline) -> str | None:
        """Wait for a slot; None once admitted, else the finish reason ("timeout", "cancelled")."""
        told: int | None = None
        with self._cond:
            self._waiting.append(ticket)
            try:
                while True:
                    if deadline is not None and time.monotonic() >= deadline:
                        self._waiting.remove(ticket)
                        self._cond.notify_all()
                        return "timeout"
                    if should_stop is not None and self._unlocked(should_stop):
                        self._waiting.remove(ticket)
                        self._cond.notify_all()
                        return "cancelled"
                    position = self._waiting.index(ticket)
                    if position == 0 and self._fits(ticket):
                        self._waiting.pop(0)
                        self._in_flight += ticket.needed
                        self._kv_in_flight += ticket.kv
                        ticket.admitted = True
                        self._running[ticket.rid] = ticket
                        self._cond.notify_all()  # the next one may fit too
                        break
                    if on_queue is not None and position + 1 != told:
                        told = position + 1
                        self._unlocked(on_queue, told)
                        continue
                    self._cond.wait(POLL_S)
            except BaseException:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                    self._cond.notify_all()
                raise
        if on_queue is not None and told is not None:
            on_queue(0)
        return None

    def _unlocked(self, callback: Callable[..., Any], *args: Any) -> Any:
        # Caller holds the lock; callbacks may query the database: not under the lock.
        self._cond.release()
        try:
            return callback(*args)
        finally:
            self._cond.acquire()

    def _fits(self, ticket: Ticket) -> bool:
        # Caller holds the lock. A request alone always runs (check_prompt made it fit the cache).
        running = len(self._running)
        if running == 0:
            return True
        if self.kv_slots is not None and self._kv_in_flight + ticket.kv > self.kv_slots:
            return False
        return running < self.limits.max_requests and self._in_flight + ticket.needed <= self.max_tokens

    def _release(self, ticket: Ticket) -> None:
        with self._cond:
            self._running.pop(ticket.rid, None)
            if ticket.admitted:
                self._in_flight -= ticket.needed
                self._kv_in_flight -= ticket.kv
                ticket.admitted = False
            self._cond.notify_all()

    def _result(self, ticket, stream, generated, started, ttft, finish) -> GenerationResult:
        return GenerationResult(
            text=stream.text,
            prompt_tokens=len(ticket.ids),
            output_tokens=len(generated),
            time_to_first_token_s=ttft,
            duration_s=time.monotonic() - started,
            finish_reason=finish,
            token_ids=generated,
        )

    def _reading(self, ticket: Ticket, started: float) -> EnergyReading:
        source = getattr(self.meter, "source", "estimate")
        device = getattr(self.meter, "device", self.lm.device)  # RAPL's meter has none: the model's device
        others = ticket.peers - 1
        method = (
            f"share of a batch of up to {self.limits.max_requests} requests, split by tokens "
            f"({ticket.tokens} tokens in {ticket.steps} step{'' if ticket.steps == 1 else 's'}, "
            f"shared with up to {others} "
            f"other request{'' if others == 1 else 's'}); its share is {self.meter.describe(ticket.joules)}"
        )
        return EnergyReading(
            joules=ticket.joules, seconds=time.monotonic() - started, source=source, device=device, method=method
        )

    def measure_step(self, tokens: dict[str, int], step: Callable[[], T]) -> T:
        """Run one forward pass of the batch (``tokens``: request id -> tokens it computes in it),
        measured under the step lock; its energy is split among the requests by those tokens."""
        with self._cond:
            self.steps_started += 1
            number = self.steps_started
        measurement = None
        try:
            with self.step_lock, self.meter.measure() as measurement:
                return step()
        finally:
            # A failed step's measurement counts too (the meter records it on the way out).
            reading = getattr(measurement, "reading", None)
            shares = split_by_tokens(reading.joules if reading else 0.0, tokens)
            with self._cond:
                self.total_joules += sum(shares.values())
                for rid, joules in shares.items():
                    ticket = self._running.get(rid)
                    if ticket is not None:
                        ticket.joules += joules
                        ticket.tokens += tokens[rid]
                        ticket.steps += 1
                        ticket.peers = max(ticket.peers, len(tokens))
                self.steps_done = number
                self._cond.notify_all()


class BatchEngine(AdmittedEngine):
    """One model's shared decode loop: transformers' continuous batching."""

    def __init__(self, lm: LoadedLM, **kwargs: Any) -> None:  # AdmittedEngine's arguments
        super().__init__(lm, **kwargs)
        limits = self.limits
        self.vocab_size = int(lm.model.config.get_text_config().vocab_size)
        per_token = kv_bytes_per_token(lm.model)
        # Within the memory budget, and no bigger than the tokens admitted at once need (plus a page
        # per request of slack): the attention mask of a step grows with the cache's size.
        wanted = -(-limits.max_tokens // limits.page_size) + limits.max_requests
        budget = limits.kv_cache_bytes // (per_token * limits.page_size)
        self.num_blocks = max(limits.max_requests + 1, min(wanted, budget))
        # Reserve a page per request of slack: a request's last page is rarely full.
        self.kv_tokens = (self.num_blocks - limits.max_requests) * limits.page_size
        self.max_tokens = max(1, min(limits.max_tokens, self.kv_tokens))
        self._manager: Any = None
        self._manager_lock = threading.Lock()

    # --- the loop ----------------------------------------------------------------------------------

    def _ensure_manager(self) -> Any:
        with self._manager_lock:
            if self.closed:
                raise BatchRequestFailed("The model's batch engine was closed (the model was unloaded).")
            if self._manager is not None and self._manager.is_running():
                return self._manager
            from transformers import ContinuousBatchingConfig, GenerationConfig

            # Non-default sampling values in the base config, or per-request ones are refused.
            generation_config = GenerationConfig(
                do_sample=True, temperature=0.7, top_k=50, top_p=0.9, max_new_tokens=16,
                eos_token_id=self.stops or None, pad_token_id=self.lm.tokenizer.pad_token_id,
            )
            cb_config = ContinuousBatchingConfig(
                per_request_processors=True,
                num_blocks=self.num_blocks,
                page_size=self.limits.page_size,
                max_batch_tokens=self.limits.step_tokens,
                max_requests_per_batch=self.limits.max_requests,
                allow_block_sharing=False,  # each request computes its whole prompt: its tokens are its own
                auto_switch_to_flash=False,
            )
            self.lm.model.__dict__.pop("_cached_continuous_batching_manager", None)
            manager = self.lm.model.init_continuous_batching(
                generation_config=generation_config, continuous_batching_config=cb_config
            )
            step = manager._generation_step
            manager._generation_step = lambda: self._measured_step(manager, step)
            router = manager.output_router
            router.deliver = self._deliver
            router.deliver_batch = lambda outputs: [self._deliver(o) for o in outputs]
            # The loop's thread inherits daemon-ness from the thread that starts it. transformers starts
            # it as an ordinary thread, which would keep a worker (or pytest) from exiting while a
            # model is held: start it from a daemon thread.
            starter = threading.Thread(target=manager.start, daemon=True, name="batch-engine-start")
            starter.start()
            starter.join()
            self._manager = manager
            return manager

    def _measured_step(self, manager: Any, step: Callable[[], None]) -> None:
        """One forward pass of the batch, measured and split by tokens (runs in the loop's thread)."""
        batch = manager.batch_processor.inputs_and_outputs.requests_in_batch
        self.measure_step({future.state.request_id: int(future.query_length) for future in batch}, step)

    def _deliver(self, output: Any) -> None:
        with self._cond:
            ticket = self._running.get(output.request_id)
        if ticket is not None:
            error = f"The batch failed this request: {output.error}" if output.error else None
            ticket.outputs.put(Update(list(output.generated_tokens), output.is_finished(), error))

    def _enter(self, ticket: Ticket, decoding: DecodingConfig) -> None:
        self._ensure_manager().add_request(
            ticket.ids, request_id=ticket.rid, max_new_tokens=ticket.max_new_tokens, streaming=True,
            eos_token_id=self.stops or -1, **sampling_kwargs(decoding, self.vocab_size),
        )

    def _loop_failure(self) -> str | None:
        manager = self._manager
        if manager is None or manager.is_running():
            return None
        why = manager.background_thread_status.fatal_error
        return "The batch loop stopped before this request finished" + (f": {why}" if why else ".")

    def _cancel(self, ticket: Ticket) -> None:
        manager = self._manager
        if manager is None or ticket.rid not in self._running:
            return
        manager.cancel_request(ticket.rid)
        limit = time.monotonic() + 30
        with self._cond:
            while manager.is_running() and time.monotonic() < limit and self._still_in_loop(manager, ticket.rid):
                self._cond.wait(POLL_S)

    @staticmethod
    def _still_in_loop(manager: Any, rid: str) -> bool:
        # The loop reads new requests and cancellations together, then drops the cancelled ones before
        # it schedules a step; the steps that included the request have ended by then.
        processor = manager.batch_processor
        if not manager.cancel_queue.empty() or processor is None:
            return True
        scheduler = processor.scheduler
        return rid in scheduler.active_requests or rid in scheduler.waiting_requests

    def close(self) -> None:
        with self._manager_lock:
            self.closed = True
            manager, self._manager = self._manager, None
        if manager is not None and manager.is_running():
            manager.stop(block=True, timeout=30)
