"""The shared contrastive-search loop: text equal to the one-request loop with requests joining at
different steps, energy shares that add up to the measured steps, a failing step that fails only the
newest request, cancellation and refusals. (Places in line and a failing caller: the admission line and
a request's life are shared, tests/workers/test_batching.py.)"""

from __future__ import annotations

import threading
import time

import pytest
import torch

from tests.workers import batch_helpers
from tests.workers.batch_helpers import after_steps, run_together
from tests.workers.contrastive_reference import contrastive_search_reference
from workers.batching import BatchRequestFailed, PromptTooLong
from workers.contrastive_batch import ContrastiveBatchEngine
from workers.generation import DecodingConfig, build_prompt_ids, eos_token_ids, generate
from workers.loading import LoadedLM, load_causal_lm

PROMPTS = ["What is the capital of France?", "hello", "日本語 café", "The quick brown fox jumps over the lazy dog"]


def contrastive(n: int, k: int = 4, alpha: float = 0.6, **kwargs) -> DecodingConfig:
    return DecodingConfig(method="contrastive", max_new_tokens=n, contrastive_k=k, penalty_alpha=alpha, **kwargs)


def make_engine(lm, **limits):
    return batch_helpers.make_engine(ContrastiveBatchEngine, lm, **limits)


engine = batch_helpers.engine_fixture(ContrastiveBatchEngine)


def test_the_batch_writes_the_text_of_the_one_request_loop_with_requests_joining_later(engine, tiny_lm):
    # Different k and α per request; later ones join while the first are decoding.
    decodings = [contrastive(30), contrastive(30, k=2), contrastive(30, k=3, alpha=0.3), contrastive(30, k=4)]
    results = run_together(
        [lambda p=p, d=d: engine.generate(p, d) for p, d in zip(PROMPTS, decodings, strict=True)],
        starts={1: after_steps(engine, 2), 2: after_steps(engine, 5), 3: after_steps(engine, 9)},
    )
    peers = []
    for prompt, decoding, (result, reading) in zip(PROMPTS, decodings, results, strict=True):
        assert result.token_ids == generate(tiny_lm, prompt, decoding).token_ids, prompt
        peers.append(int(reading.method.split("shared with up to ")[1].split()[0]))
    assert max(peers) >= 1  # they did share steps
    # The cache holds nothing once every request has left.
    assert engine._rows == [] and engine._cache is None and not engine._held


def test_prompts_that_arrive_together_are_read_in_one_step_and_keep_their_text(engine, tiny_lm):
    steps: list[dict[str, int]] = []
    measure = engine.measure_step

    def recorded(tokens, step):
        steps.append(dict(tokens))
        return measure(tokens, step)

    engine.measure_step = recorded
    late = [PROMPTS[0], PROMPTS[2], PROMPTS[3]]
    results = {}
    threads = [threading.Thread(target=lambda p=p: results.__setitem__(p, engine.generate(p, contrastive(12))))
               for p in late]
    first = threading.Thread(target=engine.generate, args=("hello", contrastive(5)))

    def wait_for(condition) -> None:
        limit = time.monotonic() + 30
        while not condition() and time.monotonic() < limit:
            time.sleep(0.005)

    with engine.step_lock:  # the loop takes the first request and waits at its step while three more arrive
        first.start()
        wait_for(lambda: engine._held and not engine._inbox)
        for thread in threads:
            thread.start()
        wait_for(lambda: len(engine._inbox) == 3)
    for thread in [*threads, first]:
        thread.join(timeout=120)
    lengths = sorted(int(build_prompt_ids(tiny_lm, prompt).shape[1]) for prompt in late)
    assert any(sorted(tokens.values()) == lengths for tokens in steps)  # their three prompts, in one pass
    for prompt in late:
        assert results[prompt][0].token_ids == generate(tiny_lm, prompt, contrastive(12)).token_ids, prompt


def test_it_is_contrastive_search_as_the_paper_defines_it(engine, tiny_lm):
    """Against the plain reference (no KV cache, the whole sequence re-run at each step)."""
    ids = build_prompt_ids(tiny_lm, "The quick brown fox")
    expected = contrastive_search_reference(tiny_lm.model, ids, 4, 0.6, 15, eos_token_ids(tiny_lm))
    results = run_together([
        lambda: engine.generate("The quick brown fox", contrastive(15)),
        lambda: engine.generate("hello", contrastive(15)),
    ])
    assert results[0][0].token_ids == expected


def test_energy_shares_add_up_to_the_measured_steps(engine):
    results = run_together(
        [lambda p=p: engine.generate(p, contrastive(20)) for p in PROMPTS],
        starts={2: after_steps(engine, 3)},
    )
    measured = sum(r.joules for r in engine.meter_for_test.readings)
    attributed = sum(reading.joules for _, reading in results)
    assert measured > 0
    assert attributed == pytest.approx(measured, rel=0.01)
    assert engine.total_joules == pytest.approx(measured, rel=1e-9)
    for result, reading in results:
        # Its prompt in its prefill, then k = 4 candidates per step.
        tokens = int(reading.method.split("split by tokens (")[1].split()[0])
        steps = int(reading.method.split(" tokens in ")[1].split()[0])
        assert tokens == result.prompt_tokens + 4 * (steps - 1)
        assert "estimated" in reading.method and reading.source == "estimate"


class FailingWhenCrowded:
    """The model, except that a pass over more than ``rows`` rows runs out of memory."""

    def __init__(self, model, rows: int) -> None:
        self._model, self._rows = model, rows
        self.failures = 0

    def __call__(self, *, input_ids, **kwargs):
        if input_ids.shape[0] > self._rows:
            self.failures += 1
            raise torch.OutOfMemoryError("CPU out of memory (test)")
        return self._model(input_ids=input_ids, **kwargs)

    def __getattr__(self, name):
        return getattr(self._model, name)


def test_a_step_that_runs_out_of_memory_fails_the_newest_request_alone(tiny_lm):
    crowded = FailingWhenCrowded(tiny_lm.model, rows=2 * 4)  # two requests of k = 4 fit
    lm = LoadedLM(**{**tiny_lm.__dict__, "model": crowded})
    engine, _ = make_engine(lm)
    try:
        def after_both_run() -> None:
            """Step 6, and the second request in the loop: the third is then the newest (on a busy machine the
            second's thread may not have been scheduled by step 6)."""
            after_steps(engine, 6)()
            limit = time.monotonic() + 60
            while len(engine._running) < 2 and time.monotonic() < limit:
                time.sleep(0.005)

        results = run_together(
            [lambda p=p: engine.generate(p, contrastive(25)) for p in PROMPTS[1:]],
            starts={1: after_steps(engine, 2), 2: after_both_run},
        )
        assert crowded.failures >= 1
        assert isinstance(results[2], BatchRequestFailed) and "ran out of memory" in str(results[2])
        for prompt, (result, _) in zip(PROMPTS[1:3], results[:2], strict=True):
            assert result.token_ids == generate(tiny_lm, prompt, contrastive(25)).token_ids
        assert engine._in_flight == 0 and not engine._running and not engine._held
        # The loop goes on serving.
        again, _ = engine.generate("hello", contrastive(5))
        assert again.token_ids == generate(tiny_lm, "hello", contrastive(5)).token_ids
    finally:
        engine.close()


def test_should_stop_and_the_deadline_end_a_request_and_keep_its_shares(engine, tiny_lm):
    seen: list[str] = []

    results = run_together([
        lambda: engine.generate("hello", contrastive(400), on_token=seen.append, should_stop=lambda: len(seen) >= 3),
        lambda: engine.generate("What is the capital of France?", contrastive(400), deadline=time.monotonic() + 0.3),
        lambda: engine.generate("The quick brown fox", contrastive(12)),
    ])
    cancelled, timed_out, normal = (r[0] for r in results)
    measured = sum(r.joules for r in engine.meter_for_test.readings)
    assert sum(r[1].joules for r in results) == pytest.approx(measured, rel=0.01)
    assert cancelled.finish_reason in ("cancelled", "stop")
    assert timed_out.finish_reason in ("timeout", "stop")
    assert normal.token_ids == generate(tiny_lm, "The quick brown fox", contrastive(12)).token_ids
    assert engine._in_flight == 0 and not engine._running and not engine._held
    result, reading = engine.generate("hello", contrastive(5), deadline=time.monotonic() - 1)
    assert result.finish_reason == "timeout" and result.output_tokens == 0 and reading.joules == 0


def test_a_prompt_longer_than_the_context_is_refused_before_the_batch(engine, tiny_lm):
    context = tiny_lm.model.config.max_position_embeddings
    with pytest.raises(PromptTooLong, match=f"at most {context} tokens"):
        engine.generate("fox " * (context + 10), contrastive(5))
    assert engine.steps_started == 0 and not engine._held


def test_the_memory_budget_counts_the_k_copies_of_a_request(tiny_lm):
    from workers.batching import kv_bytes_per_token

    per_token = kv_bytes_per_token(tiny_lm.model)
    engine, _ = make_engine(tiny_lm, kv_cache_bytes=per_token * 400)
    try:
        assert engine.kv_slots == 400
        # k = 4 copies of every token: 100 tokens of prompt + output at most.
        with pytest.raises(PromptTooLong, match="holds at most 100 tokens"):
            engine.generate("fox " * 120, contrastive(5))
        result, _ = engine.generate("hello", contrastive(500))
        assert result.output_tokens + result.prompt_tokens <= 100
    finally:
        engine.close()


def test_smollm2_contrastive_through_the_batch_equals_the_one_request_loop(smollm2_dir, capsys):
    """The bundled model in float32, prompts joining at different steps, then all at once (their prompts
    read in one padded pass); timed against one at a time."""
    lm = load_causal_lm(smollm2_dir, "cpu", "float32")
    engine, meter = make_engine(lm)
    prompts = ["What is the capital of France?", "Write a haiku about the sea.", "List three fruits.", "Say hi."]
    decoding = contrastive(24)
    try:
        started = time.monotonic()
        expected = [generate(lm, p, decoding).token_ids for p in prompts]
        alone = time.monotonic() - started
        started = time.monotonic()
        results = run_together(
            [lambda p=p: engine.generate(p, decoding) for p in prompts],
            starts={1: after_steps(engine, 1), 2: after_steps(engine, 3), 3: after_steps(engine, 6)},
        )
        together = time.monotonic() - started
        at_once = run_together([lambda p=p: engine.generate(p, decoding) for p in prompts])  # read in one pass
    finally:
        engine.close()
    for prompt, want, (result, _), (same, _) in zip(prompts, expected, results, at_once, strict=True):
        assert result.token_ids == want, prompt
        assert same.token_ids == want, prompt
    attributed = sum(reading.joules for _, reading in results + at_once)
    assert attributed == pytest.approx(sum(r.joules for r in meter.readings), rel=0.01)
    with capsys.disabled():
        tokens = sum(len(t) for t in expected)
        print(f"\nSmolLM2 contrastive: {tokens} tokens one at a time {alone:.1f} s, batched {together:.1f} s")
