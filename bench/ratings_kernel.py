"""Benchmark of the rating kernel: aggregated counts versus a FastChat-style per-battle fit.

Run from the repository root:  python bench/ratings_kernel.py  [--battles 1000000 --contenders 50]

Ours (analysis.leaderboard.ratings): aggregate the battles into unique (a, b, outcome) rows with counts, fit
Bradley-Terry by L-BFGS on those rows, bootstrap by multinomial draws over the rows.

FastChat-style baseline: the Chatbot Arena notebook's ``compute_mle_elo`` is a logistic regression
on a dense design matrix with one row per battle (X[row, a] = +ln 10, X[row, b] = -ln 10; a tie is
half a win), and its bootstrap resamples the battles with replacement and refits from scratch. We
reproduce that with numpy/scipy: same dense X (ties as label 0.5 on one row instead of two
duplicated rows with labels 1 and 0, which gives the same likelihood), L-BFGS on the mean log-loss
with gradient X.T @ (p - y) as sklearn's lbfgs solver computes it. ``--sklearn`` additionally times
the notebook's exact call (sklearn LogisticRegression on the duplicated 2N-row design), if
scikit-learn is installed.

The script prints figures only; it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.leaderboard.ratings import (  # noqa: E402
    PairCounts,
    bootstrap_bradley_terry,
    fit_bradley_terry,
)

WINNERS = np.array(["model_b", "tie", "model_a"], dtype=object)  # indexed by outcome code 0..2


def make_battles(n_battles: int, n_contenders: int, seed: int, tie_share: float = 0.1):
    """Seeded battles from a BT model: list of (model_a, model_b, winner) plus the true ratings."""
    rng = np.random.default_rng(seed)
    true = np.sort(rng.normal(1000.0, 150.0, n_contenders))
    names = np.array([f"model-{i:02d}" for i in range(n_contenders)], dtype=object)
    a = rng.integers(0, n_contenders, n_battles)
    b = (a + rng.integers(1, n_contenders, n_battles)) % n_contenders
    p = 1.0 / (1.0 + 10.0 ** ((true[b] - true[a]) / 400.0))
    # ties drawn so that E[score of a] = p (ties as half a win stay consistent with BT)
    q = np.clip((p - 0.5 * tie_share) / (1.0 - tie_share), 0.0, 1.0)
    outcome = np.where(rng.random(n_battles) < tie_share, 1, np.where(rng.random(n_battles) < q, 2, 0))
    battles = list(zip(names[a].tolist(), names[b].tolist(), WINNERS[outcome].tolist(), strict=True))
    return battles, names.tolist(), true


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


# --- FastChat-style per-battle pipeline --------------------------------------------------------


def encode_per_battle(battles, names):
    """Per-battle arrays (FastChat's factorize + winner masks)."""
    index = {name: i for i, name in enumerate(names)}
    col_a, col_b, col_w = zip(*battles, strict=True)
    a = np.array([index[x] for x in col_a])
    b = np.array([index[x] for x in col_b])
    w = np.array(col_w, dtype=object)
    y = np.full(len(a), 0.5)  # tie and tie (bothbad)
    y[w == "model_a"] = 1.0
    y[w == "model_b"] = 0.0
    return a, b, y


def dense_design(a, b, n, base=10.0):
    x = np.zeros((len(a), n))
    rows = np.arange(len(a))
    x[rows, a] = math.log(base)
    x[rows, b] = -math.log(base)
    return x


def _logreg_loss_grad(w, x, y):
    z = x @ w
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
    grad = x.T @ (expit(z) - y) / len(y)
    return loss, grad


def fit_per_battle(x, y, tol=1e-6, maxiter=1000):
    """Unpenalised logistic regression without intercept on the dense per-battle design."""
    res = minimize(
        _logreg_loss_grad,
        np.zeros(x.shape[1]),
        args=(x, y),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": tol, "ftol": 1e-15, "maxiter": maxiter},
    )
    theta = res.x - res.x.mean()
    return 400.0 * theta + 1000.0, res.nit


def bootstrap_per_battle(x, y, rounds, seed=0):
    """Resample battles with replacement and refit from scratch each round (FastChat's loop)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rounds):
        idx = rng.integers(0, len(y), len(y))
        out.append(fit_per_battle(x[idx], y[idx])[0])
    return np.array(out)


def sklearn_notebook_fit(battles, names):
    """The Chatbot Arena notebook's compute_mle_elo, with numpy instead of pandas."""
    from sklearn.linear_model import LogisticRegression

    a, b, y = encode_per_battle(battles, names)
    n_rows = 2 * len(a)  # duplicated battles
    x = dense_design(np.r_[a, a], np.r_[b, b], len(names))
    label = np.zeros(n_rows)
    label[: len(a)][y == 1.0] = 1.0
    label[len(a) :][y == 1.0] = 1.0
    label[: len(a)][y == 0.5] = 1.0  # one tie = one a win + one b win
    lr = LogisticRegression(fit_intercept=False, penalty=None, tol=1e-8)
    lr.fit(x, label)
    coef = lr.coef_[0]
    return 400.0 * (coef - coef.mean()) + 1000.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--contenders", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=100, help="bootstrap rounds for our kernel")
    parser.add_argument(
        "--baseline-rounds",
        type=int,
        default=5,
        help="bootstrap rounds actually run for the per-battle baseline (then extrapolated to --rounds)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sklearn", action="store_true", help="also time sklearn on the 2N-row design")
    args = parser.parse_args(argv)

    print(f"generating {args.battles:,} battles among {args.contenders} contenders (seed {args.seed})")
    (battles, names, true), t_gen = timed(make_battles, args.battles, args.contenders, args.seed)
    print(f"  generated in {t_gen:.2f} s (not counted)\n")

    # ours
    counts, t_agg = timed(PairCounts.from_battles, battles, names)
    index = {name: i for i, name in enumerate(names)}
    a_idx = np.array([index[x] for x, _, _ in battles])
    b_idx = np.array([index[x] for _, x, _ in battles])
    codes = np.array([{"model_b": 0, "tie": 1, "model_a": 2}[w] for _, _, w in battles])
    counts2, t_agg_codes = timed(PairCounts.from_codes, names, a_idx, b_idx, codes)
    same = np.array_equal(counts2.count, counts.count) and np.array_equal(counts2.outcome, counts.outcome)
    ours, t_fit = timed(fit_bradley_terry, counts)
    boot, t_boot = timed(bootstrap_bradley_terry, counts, rounds=args.rounds, seed=0)
    width = np.median(boot.upper - boot.lower)

    # FastChat-style per battle
    (a, b, y), t_enc = timed(encode_per_battle, battles, names)
    x, t_design = timed(dense_design, a, b, len(names))
    (base_ratings, nit), t_base_fit = timed(fit_per_battle, x, y)
    k = min(args.baseline_rounds, args.rounds)
    _, t_base_boot_k = timed(bootstrap_per_battle, x, y, k)
    t_base_boot = t_base_boot_k / k * args.rounds if k else float("nan")

    print(
        f"unique rows: {len(counts.count):,} (from {counts.total:,} battles); both aggregations equal: {same}"
    )
    print(f"max |ours - per-battle fit|: {np.abs(ours - base_ratings).max():.2e} rating points")
    print(f"max |ours - true|: {np.abs(ours - (true - true.mean() + 1000)).max():.1f} rating points")
    print(f"median 95% interval width (ours, {args.rounds} rounds): {width:.2f} rating points")
    print(f"per-battle point fit: {nit} L-BFGS iterations\n")

    rows = [
        ("aggregate / encode (list of tuples)", t_agg, t_enc),
        ("aggregate from int arrays", t_agg_codes, None),
        ("build dense design", None, t_design),
        ("point fit", t_fit, t_base_fit),
        (f"bootstrap, {args.rounds} rounds", t_boot, t_base_boot),
        ("total (tuples -> fit + bootstrap)", t_agg + t_boot, t_enc + t_design + t_base_fit + t_base_boot),
    ]
    print(f"{'step':<38}{'ours (s)':>12}{'per-battle (s)':>16}{'ratio':>10}")
    for label, mine, theirs in rows:
        m = f"{mine:12.3f}" if mine is not None else f"{'-':>12}"
        t = f"{theirs:16.3f}" if theirs is not None else f"{'-':>16}"
        r = f"{theirs / mine:9.0f}x" if mine and theirs else f"{'-':>10}"
        print(f"{label:<38}{m}{t}{r}")
    if k < args.rounds:
        print(
            f"\nper-battle bootstrap: ran {k} rounds in {t_base_boot_k:.2f} s, "
            f"EXTRAPOLATED linearly to {args.rounds} rounds"
        )

    if args.sklearn:
        try:
            sk, t_sk = timed(sklearn_notebook_fit, battles, names)
        except ImportError:
            print("\nscikit-learn not installed: --sklearn skipped")
        else:
            print(
                f"\nsklearn LogisticRegression on the duplicated {2 * args.battles:,}-row design "
                f"(notebook compute_mle_elo, encode + fit): {t_sk:.2f} s, "
                f"{t_sk / (t_agg + t_fit):.0f}x our aggregate + fit; "
                f"max |ours - sklearn| {np.abs(ours - sk).max():.2e} points"
            )


if __name__ == "__main__":
    main()
