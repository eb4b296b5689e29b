"""Benchmark of pair sampling: votes needed to recover the true order, uniform versus active.

Run from the repository root:  .venv/bin/python bench/sampling.py  [--runs 150 --seed 0 --jobs 2]

The simulation: ``--contenders`` contenders (12) with known ratings drawn once per run (normal, sd
``--spread`` rating points). Voters follow the Bradley-Terry model (P(a beats b) = 1 / (1 +
10^((R_b - R_a)/400))), with ``--ties`` of the votes a tie (drawn so that the expected score of a
side stays the BT probability). Every ``--check`` votes (or every ``--grow`` share of the
votes so far, if that is more: 5 %, which bounds the cost of long runs) the ratings are refitted with the project's
kernel (``analysis.leaderboard.ratings.fit_bradley_terry``, with a weak Gaussian prior ``--reg`` so
that early fits stay finite; the same estimator for both policies), and the run stops at the first
refit whose order has Kendall tau >= ``--tau`` (0.9) against the true order, or at ``--max-votes``.

The policies are the arena's: uniform (``arena.sampling.sample_pair``), and active
(``arena.sampling.active_probabilities``, the default floor) fed at each refit with the battles of each
pair and the refitted rating differences, as the arena's ``pair_sampling_stats`` gives them from the
latest leaderboard snapshot: the estimates are refreshed every K = max(``--check``, ``--grow`` × votes so
far) votes (10 votes, then 5 % of the votes so far), and between refits the pair probabilities stay fixed.
``--counts-only`` gives active no estimates: the Chatbot Arena paper's rule (Σ from the refitted ratings).
Run ``i`` of both policies uses the same seed (``--seed`` + i) for the true ratings and the same
random streams for pairs and votes. The script prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.leaderboard.ratings import A_WINS, B_WINS, TIE, PairCounts, fit_bradley_terry  # noqa: E402
from arena.sampling import (  # noqa: E402
    DEFAULT_FLOOR,
    Candidate,
    PairStats,
    active_probabilities,
    pair_key,
    sample_pair,
    vote_variance,
)


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-a of two score vectors (no ties expected in continuous ratings)."""
    i, j = np.triu_indices(len(x), 1)
    return float(np.mean(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])))


def draw_table(candidates, stats, floor):
    """The active policy's pairs and cumulative probabilities (``arena.sampling.active_probabilities``)."""
    probabilities = active_probabilities(candidates, stats, floor=floor)
    pairs = list(probabilities)
    return pairs, list(itertools.accumulate(probabilities[key] for key in pairs))


def simulate(policy: str, seed: int, args) -> int | None:
    """Votes needed until the refitted order reaches Kendall tau >= args.tau (None: not within max-votes)."""
    n = args.contenders
    true = np.random.default_rng(seed).normal(1000.0, args.spread, n)
    names = [f"m{i:02d}" for i in range(n)]
    candidates = [Candidate(i, "f") for i in range(n)]
    pick_rng = random.Random(seed)  # the pair draws
    vote_rng = np.random.default_rng(seed + 10_000)  # the voters
    battles = np.zeros((n, n), dtype=np.int64)  # unordered pair counts, [min, max]
    table = np.zeros((n, n, 4), dtype=np.int64)  # votes by (side a, side b, outcome code)
    # active: the pair probabilities only change at a refit (as in the arena, whose pair counts are
    # cached for ARENA_SAMPLING_STATS_TTL_S), so they are computed then, and each vote draws from them
    pairs, cumulative = None, None
    votes = 0
    while votes < args.max_votes:
        # refit every --check votes, or every --grow share of the votes so far if that is more
        step = max(args.check, int(votes * args.grow))
        for _ in range(step):
            if policy == "active":
                if pairs is None:
                    pairs, cumulative = draw_table(candidates, {}, args.floor)
                a, b = pick_rng.choices(pairs, cum_weights=cumulative, k=1)[0]
                if pick_rng.random() < 0.5:
                    a, b = b, a
            else:
                first, second = sample_pair(candidates, policy, pick_rng)
                a, b = first.id, second.id
            p = 1.0 / (1.0 + 10.0 ** ((true[b] - true[a]) / 400.0))
            u = vote_rng.random(2)
            if u[0] < args.ties:
                outcome = TIE
            else:
                q = min(max((p - 0.5 * args.ties) / (1.0 - args.ties), 0.0), 1.0)
                outcome = A_WINS if u[1] < q else B_WINS
            table[a, b, outcome] += 1
            battles[min(a, b), max(a, b)] += 1
        votes += step
        a_idx, b_idx, o_idx = np.nonzero(table)
        counts = PairCounts.from_codes(names, a_idx, b_idx, o_idx, table[a_idx, b_idx, o_idx])
        ratings = fit_bradley_terry(counts, reg=args.reg, tol=args.tol)
        if kendall_tau(ratings, true) >= args.tau:
            return votes
        if policy == "active":
            # as the arena's pair_sampling_stats with a leaderboard: counts, and the latest fit's differences
            stats = {
                pair_key(i, j): PairStats(
                    int(battles[i, j]),
                    vote_variance(1.0 / (1.0 + 10.0 ** ((ratings[j] - ratings[i]) / 400.0))),
                    None if args.counts_only else float(ratings[i] - ratings[j]),
                )
                for i in range(n)
                for j in range(i + 1, n)
            }
            pairs, cumulative = draw_table(candidates, stats, args.floor)
    return None


def simulate_both(seed: int, args) -> tuple[int | None, int | None]:
    return simulate("uniform", seed, args), simulate("active", seed, args)


def summary(values: list[int | None], max_votes: int) -> tuple[float, float, int]:
    """Mean and median votes (a run that never got there counts as max_votes), runs that never got there."""
    capped = [max_votes if v is None else v for v in values]
    return statistics.mean(capped), statistics.median(capped), sum(v is None for v in values)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--contenders", type=int, default=12)
    parser.add_argument("--spread", type=float, default=100.0, help="sd of the true ratings (rating points)")
    parser.add_argument("--ties", type=float, default=0.1, help="share of tie votes")
    parser.add_argument("--tau", type=float, default=0.9)
    parser.add_argument("--check", type=int, default=10, help="refit (and test tau) every this many votes")
    parser.add_argument("--grow", type=float, default=0.05, help="...or every this share of the votes so far")
    parser.add_argument("--reg", type=float, default=1.0, help="Gaussian prior of the refits (natural scale)")
    parser.add_argument(
        "--tol", type=float, default=1e-3, help="refit tolerance (1e-3: within ~0.3 rating points, 5x faster)"
    )
    parser.add_argument("--floor", type=float, default=DEFAULT_FLOOR, help="uniform share of the active draw")
    parser.add_argument(
        "--counts-only", action="store_true", help="active without rating estimates: the paper's counts-only rule"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes (runs are independent)")
    parser.add_argument("--max-votes", type=int, default=50_000)
    args = parser.parse_args(argv)

    print(
        f"{args.contenders} contenders, ratings ~ N(1000, {args.spread:g}), {args.ties:.0%} ties; refit every "
        f"{args.check} votes or {args.grow:.0%}; stop at Kendall tau >= {args.tau}; {args.runs} runs, "
        f"seeds {args.seed}..{args.seed + args.runs - 1}; active floor {args.floor}"
    )
    results: dict[str, list[int | None]] = {"uniform": [], "active": []}
    start = time.perf_counter()
    seeds = range(args.seed, args.seed + args.runs)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for uniform, active in tqdm(pool.map(partial(simulate_both, args=args), seeds), total=args.runs, unit="run"):
            results["uniform"].append(uniform)
            results["active"].append(active)
    elapsed = time.perf_counter() - start

    print(f"\n{'policy':<10}{'mean votes':>12}{'median':>10}{'not reached':>13}")
    figures = {}
    for policy, values in results.items():
        mean, median, missed = summary(values, args.max_votes)
        figures[policy] = (mean, median)
        print(f"{policy:<10}{mean:12.0f}{median:10.0f}{missed:13d}")
    paired = [
        (a if a is not None else args.max_votes) / (u if u is not None else args.max_votes)
        for u, a in zip(results["uniform"], results["active"], strict=True)
    ]
    print(
        f"\nactive / uniform: mean {figures['active'][0] / figures['uniform'][0]:.2f}x, "
        f"median {figures['active'][1] / figures['uniform'][1]:.2f}x "
        f"(median of the per-seed ratios {statistics.median(paired):.2f}x; target <= 0.75x)"
    )
    print(f"{elapsed:.0f} s for {args.runs} runs of both policies ({args.jobs} processes)")


if __name__ == "__main__":
    main()
