"""Benchmark: float32 against bfloat16 for a prepared language model on this machine's CPU.

    .venv/bin/python bench/precision.py var/models/qwen25-coder-05b-instruct [more folders]
                                        [--prompts 20] [--max-new-tokens 24] [--threads 1]

For each folder, both precisions are loaded in turn in this process and run the same chat prompts,
greedy, one at a time, with ``--threads`` torch threads (1: as the worker's decode loop runs on
CPU, ARENA_TORCH_THREADS). Figures per precision:
  load      seconds to load the converted safetensors folder
  memory    the weights in memory (parameters and buffers) and the process's peak RSS so far
  first     time to the first token (prefill), p50 and p95 over the prompts
  tok/s     output tokens / decoding time after the first token, over all prompts
  equal     how many of bfloat16's answers are token for token those of float32 (greedy), and
            how many share at least the first 8 tokens
It prints the figures and asserts nothing. The default precision of the bundled Qwen2.5-Coder
contenders (modelhub.catalogue) was chosen from them (docs/deploy.md, "The same-family pair").
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from workers.generation import DecodingConfig, generate  # noqa: E402
from workers.loading import load_causal_lm  # noqa: E402

PROMPTS = [
    "Why is the sky blue?",
    "Write a Python function that reverses a string.",
    "What is the difference between a list and a tuple in Python?",
    "Explain recursion to a ten-year-old.",
    "How do I read a CSV file in Python?",
    "What is the capital of Australia?",
    "Give me three tips for writing clean code.",
    "What does HTTP status 404 mean?",
    "Write a SQL query that counts rows per country in a table named users.",
    "Why do we use version control?",
    "Summarise the plot of Romeo and Juliet in two sentences.",
    "What is a hash table?",
    "How many minutes are there in a week?",
    "Write a haiku about autumn.",
    "What is the time complexity of binary search?",
    "Explain what an API is.",
    "Translate 'good morning' into French and Spanish.",
    "What is the difference between RAM and disk storage?",
    "Write a bash command that counts the lines of every .py file in a folder.",
    "Why does ice float on water?",
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(folder: Path, precision: str, prompts: list[str], max_new_tokens: int) -> dict:
    started = time.monotonic()
    lm = load_causal_lm(folder, "cpu", precision)
    load_s = time.monotonic() - started
    decoding = DecodingConfig(method="greedy", max_new_tokens=max_new_tokens)
    generate(lm, "Hi", DecodingConfig(method="greedy", max_new_tokens=2))  # warm the kernels
    firsts, tokens, decode_s, answers = [], 0, 0.0, []
    for prompt in prompts:
        result = generate(lm, prompt, decoding)
        firsts.append(result.time_to_first_token_s or result.duration_s)
        tokens += max(result.output_tokens - 1, 0)
        decode_s += result.duration_s - (result.time_to_first_token_s or result.duration_s)
        answers.append(result.token_ids)
    figures = {
        "precision": precision,
        "parameters": lm.parameter_count,
        "weights_gib": lm.bytes / 1024**3,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "load_s": load_s,
        "first_p50": statistics.median(firsts),
        "first_p95": _percentile(firsts, 0.95),
        "tok_s": tokens / decode_s if decode_s else float("nan"),
        "answers": answers,
    }
    del lm
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path, help="converted model folders (ARENA_DATA_DIR/models/<slug>)")
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    prompts = PROMPTS[: args.prompts]
    print(f"{len(prompts)} prompts, greedy, {args.max_new_tokens} new tokens, {args.threads} torch thread(s), "
          f"load average {os.getloadavg()[0]:.2f}")
    for folder in args.folders:
        rows = [run(folder, precision, prompts, args.max_new_tokens) for precision in ("float32", "bfloat16")]
        reference = rows[0]["answers"]
        print(f"\n{folder.name} ({rows[0]['parameters'] / 1e6:,.0f}M parameters)")
        print(f"  {'precision':9} {'load':>6} {'weights':>8} {'peak RSS':>9} {'first p50':>10} {'first p95':>10} "
              f"{'tok/s':>6}  equal to float32")
        for row in rows:
            same = sum(a == b for a, b in zip(row["answers"], reference, strict=True))
            prefix = sum(a[:8] == b[:8] for a, b in zip(row["answers"], reference, strict=True))
            print(f"  {row['precision']:9} {row['load_s']:5.1f}s {row['weights_gib']:6.2f}GiB "
                  f"{row['peak_rss_gib']:7.2f}GiB "
                  f"{row['first_p50']:9.2f}s {row['first_p95']:9.2f}s {row['tok_s']:6.2f}  "
                  f"{same}/{len(prompts)} whole, {prefix}/{len(prompts)} first 8 tokens")


if __name__ == "__main__":
    main()
