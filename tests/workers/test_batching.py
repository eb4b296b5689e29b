"""The shared decode loop: text equal to model.generate, per-request settings, energy shares that add
up to the measured steps, isolation of a failing request, refusals, cancellation and queue places."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from tests.workers import batch_helpers
from tests.workers.batch_helpers import RecordingMeter, after_steps, run_together
from tests.workers.greedy_reference import hf_greedy
from workers.batching import BatchEngine, BatchLimits, PromptTooLong, batchable, sampling_kwargs
from workers.contrastive_batch import ContrastiveBatchEngine
from workers.generation import DecodingConfig, build_prompt_ids, generate
from workers.loading import load_causal_lm

PROMPTS = ["What is the capital of France?", "hello", "日本語 café", "The quick brown fox"]


def make_engine(lm, **limits):
    return batch_helpers.make_engine(BatchEngine, lm, **limits)


engine = batch_helpers.engine_fixture(BatchEngine)


def greedy(n: int) -> DecodingConfig:
    return DecodingConfig(method="greedy", max_new_tokens=n)


def test_greedy_through_the_batch_equals_generate_with_requests_joining_later(engine, tiny_lm):
    calls = [lambda p=p: engine.generate(p, greedy(20)) for p in PROMPTS]
    starts = {1: after_steps(engine, 2), 2: after_steps(engine, 5), 3: after_steps(engine, 9)}
    results = run_together(calls, starts=starts)
    for prompt, (result, reading) in zip(PROMPTS, results, strict=True):
        assert result.token_ids == hf_greedy(tiny_lm, prompt, 20)
        assert result.output_tokens == len(result.token_ids)
        assert result.prompt_tokens == build_prompt_ids(tiny_lm, prompt).shape[1]
        assert result.finish_reason == ("stop" if len(result.token_ids) < 20 else "length")
        assert reading.joules >= 0
    # Later ones joined a running loop: some step held more than one request.
    assert max(len(r.method) for _, r in results) > 0
    assert any("shared with up to 0 other" not in r.method for _, r in results)


def test_on_token_deltas_make_the_text(engine):
    deltas: list[str] = []
    result, _ = engine.generate("日本語 café", greedy(25), on_token=deltas.append)
    assert "".join(deltas) == result.text


def test_sampling_requests_keep_their_own_settings(engine, tiny_lm):
    torch.manual_seed(0)
    expected = hf_greedy(tiny_lm, "hello", 12)
    top1 = DecodingConfig(method="sampling", temperature=1.0, top_k=1, max_new_tokens=12)
    hot = DecodingConfig(method="sampling", temperature=50.0, top_k=0, top_p=1.0, max_new_tokens=12)
    results = run_together([
        lambda: engine.generate("hello", top1),
        lambda: engine.generate("hello", hot),
        lambda: engine.generate("hello", hot),
    ])
    assert results[0][0].token_ids == expected  # its own top_k=1, although its neighbours sample wildly
    assert results[1][0].token_ids != expected and results[2][0].token_ids != expected
    assert results[1][0].token_ids != results[2][0].token_ids


def test_sampling_kwargs_and_what_is_batched():
    assert sampling_kwargs(DecodingConfig(method="greedy"), 100) == {"temperature": 1.0, "top_k": 1, "top_p": 1.0}
    assert sampling_kwargs(DecodingConfig(method="sampling", temperature=0.0), 100)["top_k"] == 1
    kwargs = sampling_kwargs(DecodingConfig(method="sampling", temperature=0.7, top_k=0, top_p=0.9), 100)
    assert kwargs == {"temperature": 0.7, "top_k": 100, "top_p": 0.9}
    assert batchable(DecodingConfig(method="greedy")) and batchable(DecodingConfig(method="sampling"))
    assert not batchable(DecodingConfig(method="contrastive"))
    assert not batchable(DecodingConfig(method="sampling", seed=3))  # one generator serves the whole batch
    assert not batchable(DecodingConfig(method="greedy", repetition_penalty=1.3))


def test_energy_shares_add_up_to_the_measured_steps(engine):
    meter = engine.meter_for_test
    long_prompt = " ".join(["The quick brown fox jumps over the lazy dog."] * 8)
    results = run_together([
        lambda: engine.generate(long_prompt, greedy(6)),
        lambda: engine.generate("hello", greedy(6)),
        lambda: engine.generate("What is the capital of France?", greedy(24)),
    ], starts={2: after_steps(engine, 1)})
    measured = sum(r.joules for r in meter.readings)
    attributed = sum(reading.joules for _, reading in results)
    assert measured > 0
    assert attributed == pytest.approx(measured, rel=0.01)
    assert engine.total_joules == pytest.approx(measured, rel=1e-9)
    for _, reading in results:
        assert reading.source == "estimate" and reading.device == "cpu"
        assert reading.method.startswith("share of a batch of up to 16 requests, split by tokens")
        assert "CPU time of the whole process" in reading.method


def test_split_is_by_tokens_computed(engine):
    """Two requests that start in the same step and run as long: the one with the longer prompt pays
    for its prefill tokens."""
    meter = engine.meter_for_test
    engine.generate("hi", greedy(1))  # start the loop first: both then join one prefill step
    meter.readings.clear()
    long_prompt = " ".join(["The quick brown fox jumps over the lazy dog."] * 8)
    gate = threading.Barrier(2)
    (long_result, long_energy), (short_result, short_energy) = run_together([
        lambda: engine.generate(long_prompt, DecodingConfig(method="greedy", max_new_tokens=1)),
        lambda: engine.generate("hello", DecodingConfig(method="greedy", max_new_tokens=1)),
    ], starts={0: gate.wait, 1: gate.wait})
    if len(meter.readings) == 1:  # both in one step: the split is exactly by prompt tokens
        ratio = long_energy.joules / (long_energy.joules + short_energy.joules)
        share = long_result.prompt_tokens / (long_result.prompt_tokens + short_result.prompt_tokens)
        assert ratio == pytest.approx(share, rel=1e-6)
    # Either way each was charged for the tokens it computed (its prompt: one new token is its prefill's),
    # and the two shares hold all that was measured (a timing comparison of two steps would be noise).
    for result, reading in ((long_result, long_energy), (short_result, short_energy)):
        assert f"({result.prompt_tokens} tokens in 1 step," in reading.method
    measured = sum(r.joules for r in meter.readings)
    assert long_energy.joules + short_energy.joules == pytest.approx(measured, rel=1e-9)


@pytest.mark.parametrize("method", ["greedy", "contrastive"])
def test_a_failing_caller_fails_alone(tiny_lm, method):
    """An error in one caller's thread (its on_token) cancels its request alone, in both loops."""
    kind = ContrastiveBatchEngine if method == "contrastive" else BatchEngine
    engine, _ = batch_helpers.make_engine(kind, tiny_lm)

    def decoding(n: int) -> DecodingConfig:
        return DecodingConfig(method=method, max_new_tokens=n)

    def reference(prompt: str, n: int) -> list[int]:  # greedy: model.generate's own text
        if method == "greedy":
            return hf_greedy(tiny_lm, prompt, n)
        return generate(tiny_lm, prompt, decoding(n)).token_ids

    def broken(_delta: str) -> None:
        raise RuntimeError("the page went away")

    try:
        results = run_together([
            lambda: engine.generate("hello", decoding(20), on_token=broken),
            lambda: engine.generate("What is the capital of France?", decoding(20)),
        ])
        assert isinstance(results[0], RuntimeError)
        assert results[1][0].token_ids == reference("What is the capital of France?", 20)
        assert engine._in_flight == 0 and not engine._running and not getattr(engine, "_held", None)
        # The loop goes on serving.
        assert engine.generate("hello", decoding(5))[0].token_ids == reference("hello", 5)
    finally:
        engine.close()

def test_a_prompt_longer_than_the_context_is_refused_before_the_batch(engine, tiny_lm):
    context = tiny_lm.model.config.max_position_embeddings
    too_long = "fox " * (context + 10)
    with pytest.raises(PromptTooLong, match=f"at most {context} tokens"):
        engine.generate(too_long, greedy(5))
    assert engine.steps_started == 0 and not engine._running and engine._in_flight == 0


def test_should_stop_and_the_deadline_end_a_request_in_the_batch(engine, tiny_lm):
    seen: list[str] = []
    stop_after = 3

    def should_stop() -> bool:
        return len(seen) >= stop_after

    results = run_together([
        lambda: engine.generate("hello", DecodingConfig(method="greedy", max_new_tokens=400),
                                on_token=seen.append, should_stop=should_stop),
        lambda: engine.generate("What is the capital of France?", greedy(400), deadline=time.monotonic() + 0.3),
        lambda: engine.generate("The quick brown fox", greedy(12)),
    ])
    cancelled, timed_out, normal = (r[0] for r in results)
    # The requests that were ended early kept every share the steps gave them.
    measured = sum(r.joules for r in engine.meter_for_test.readings)
    assert sum(r[1].joules for r in results) == pytest.approx(measured, rel=0.01)
    assert cancelled.finish_reason in ("cancelled", "stop")
    assert timed_out.finish_reason in ("timeout", "stop")
    assert normal.token_ids == hf_greedy(tiny_lm, "The quick brown fox", 12)
    assert engine._in_flight == 0 and not engine._running
    # A deadline already past while waiting: no step is run for it.
    result, reading = engine.generate("hello", greedy(5), deadline=time.monotonic() - 1)
    assert result.finish_reason == "timeout" and result.output_tokens == 0 and reading.joules == 0


@pytest.mark.parametrize("method", ["greedy", "contrastive"])
def test_waiting_requests_learn_their_place_in_line(tiny_lm, method):
    """The admission line in front of both loops (continuous batching; contrastive search)."""
    kind = ContrastiveBatchEngine if method == "contrastive" else BatchEngine
    engine = kind(tiny_lm, meter=RecordingMeter(), step_lock=threading.Lock(), limits=BatchLimits(max_requests=1))

    def decoding(n: int) -> DecodingConfig:
        return DecodingConfig(method=method, max_new_tokens=n)

    places: dict[int, list[int]] = {1: [], 2: []}

    def after_the_first_waits() -> None:  # the third joins once the second is in line, however busy the cores
        after_steps(engine, 2)()
        limit = time.monotonic() + 60
        while not places[1] and time.monotonic() < limit:
            time.sleep(0.005)

    try:
        results = run_together([
            lambda: engine.generate("hello", decoding(30)),
            lambda: engine.generate("hello", decoding(3), on_queue=places[1].append),
            lambda: engine.generate("hello", decoding(3), on_queue=places[2].append),
        ], starts={1: after_steps(engine, 1), 2: after_the_first_waits})
        assert all(not isinstance(r, Exception) for r in results)
        assert places[1] == [1, 0]
        assert places[2][0] in (1, 2) and places[2][-1] == 0 and places[2] == sorted(places[2], reverse=True)
    finally:
        engine.close()


def test_smollm2_greedy_through_the_batch_equals_generate(smollm2_dir, capsys):
    """The bundled model in float32; prompts join at different steps. Where a token differs, the
    reference's logits at that step are a near-tie (the two best within 1e-3)."""
    lm = load_causal_lm(smollm2_dir, "cpu", "float32")
    engine, meter = make_engine(lm)
    prompts = ["What is the capital of France?", "Write a haiku about the sea.", "List three fruits.", "Say hi."]
    n = 12
    try:
        started = time.monotonic()
        results = run_together(
            [lambda p=p: engine.generate(p, greedy(n)) for p in prompts],
            starts={1: after_steps(engine, 1), 2: after_steps(engine, 3), 3: after_steps(engine, 6)},
        )
        elapsed = time.monotonic() - started
    finally:
        engine.close()
    for prompt, (result, _) in zip(prompts, results, strict=True):
        expected = hf_greedy(lm, prompt, n)
        if result.token_ids != expected:
            at = next(i for i, (a, b) in enumerate(zip(result.token_ids, expected, strict=False)) if a != b)
            ids = torch.cat([build_prompt_ids(lm, prompt)[0], torch.tensor(expected[:at], dtype=torch.long)])
            with torch.inference_mode():
                logits = lm.model(input_ids=ids[None]).logits[0, -1].float()
            top = torch.topk(logits, 2).values
            assert float(top[0] - top[1]) < 1e-3, f"{prompt!r} differs at token {at} without a near-tie"
    attributed = sum(reading.joules for _, reading in results)
    assert attributed == pytest.approx(sum(r.joules for r in meter.readings), rel=0.01)
    with capsys.disabled():
        tokens = sum(r.output_tokens for r, _ in results)
        print(f"\nSmolLM2 batched: {len(prompts)} requests, {tokens} tokens in {elapsed:.1f} s, "
              f"{engine.steps_done} steps")


EXIT_WITH_A_RUNNING_LOOP = """
import sys, threading
from workers.batching import BatchEngine
from workers.contrastive_batch import ContrastiveBatchEngine
from workers.energy import CpuTimeEstimateMeter
from workers.generation import DecodingConfig
from workers.loading import load_causal_lm
lm = load_causal_lm(sys.argv[1], "cpu", "float32")
engine = BatchEngine(lm, meter=CpuTimeEstimateMeter(15.0), step_lock=threading.Lock())
print("tokens", engine.generate("hello", DecodingConfig(max_new_tokens=3))[0].output_tokens)
engine = ContrastiveBatchEngine(lm, meter=CpuTimeEstimateMeter(15.0), step_lock=threading.Lock())
print("tokens", engine.generate("hello", DecodingConfig(method="contrastive", max_new_tokens=3))[0].output_tokens)
"""


def test_a_process_holding_a_running_loop_still_exits(tiny_llm_dir):
    """A worker shutting down (or pytest ending) must not wait forever on the loops' threads."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", EXIT_WITH_A_RUNNING_LOOP, str(tiny_llm_dir)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tokens" in done.stdout
