"""Simulated reveal conditions: does analysis.leaderboard.reveal recover known effects?

Run from the repository root:

    python bench/reveal_conditions.py  [--per-condition 2000 --seed 1
                                        --effects joules=0.3,relative=0.25,carbon=0.3,control=0.1]

Each condition gets ``--per-condition`` battles of simulated voters: 90 % choose a side blind (10 %
tie or both bad), 10 % of battles have energies "about the same" (ratio 1.02), the others a ratio
2^U(0.2, 3), 5 % cast no final vote. A voter whose blind choice used more energy moves to the cheaper
answer with the condition's effect (its true ``toward_cheaper`` rate, independent of the ratio, so the
true logistic slope is 0); one who chose the cheaper answer, or a tie, moves with probability 0.05.
The script prints, per condition, the true and estimated rates, the difference to control with its
Newcombe interval, whether each interval covers the truth, the logistic slope, and the power table
(``reveal.power_table``). It asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.leaderboard.reveal import (  # noqa: E402
    CONDITIONS,
    CONTROL,
    RevealVote,
    power_table,
    reveal_analysis,
)

CHOICE = np.array(["a", "b", "tie", "bothbad"], dtype=object)


def parse_effects(text: str) -> dict[str, float]:
    effects = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in CONDITIONS:
            raise argparse.ArgumentTypeError(f"unknown condition {name!r}: one of {', '.join(CONDITIONS)}")
        effects[name] = float(value)
    return effects


def simulate(condition: str, n: int, p_toward: float, rng: np.random.Generator) -> list[RevealVote]:
    blind = CHOICE[rng.choice(4, n, p=[0.45, 0.45, 0.05, 0.05])]
    same = rng.random(n) < 0.1
    ratio = np.where(same, 1.02, 2.0 ** rng.uniform(0.2, 3.0, n))
    cheap = rng.lognormal(0.0, 1.0, n)
    a_more = rng.random(n) < 0.5
    energy_a = np.where(a_more, cheap * ratio, cheap)
    energy_b = np.where(a_more, cheap, cheap * ratio)
    chose_more = ((blind == "a") & a_more) | ((blind == "b") & ~a_more)
    move = rng.random(n) < np.where(chose_more & ~same, p_toward, 0.05)
    after = np.where(move & np.isin(blind, ["a", "b"]), np.where(blind == "a", "b", "a"), blind)
    after = np.where(rng.random(n) < 0.05, None, after)
    return [
        RevealVote(condition, str(bl), None if af is None else str(af), float(ea), float(eb))
        for bl, af, ea, eb in zip(blind, after, energy_a, energy_b, strict=True)
    ]


def pct(value):
    return "   —  " if value is None else f"{100 * value:5.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-condition", type=int, default=2000, help="battles per condition")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--effects", type=parse_effects, default=parse_effects("joules=0.3,relative=0.25,carbon=0.3,control=0.1"),
        help="true toward-cheaper rate per condition, e.g. joules=0.3,control=0.1",
    )
    parser.add_argument("--minimum", type=int, default=20)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    votes = []
    for name, p in args.effects.items():
        votes += simulate(name, args.per_condition, p, rng)
    start = time.perf_counter()
    result = reveal_analysis(votes, minimum=args.minimum)
    elapsed = time.perf_counter() - start
    print(f"{len(votes)} simulated battles, seed {args.seed}; reveal_analysis took {elapsed * 1000:.0f} ms\n")

    truth_control = args.effects.get(CONTROL)
    print(
        f"{'condition':<9} {'battles':>7} {'switch':>7} {'eligible':>8} {'true':>6} {'toward cheaper (95%)':>26} covers"
    )
    for name, entry in result["conditions"].items():
        tc = entry["toward_cheaper"]
        truth = args.effects.get(name)
        ok = "—" if truth is None or tc["rate"] is None else ("yes" if tc["lower"] <= truth <= tc["upper"] else "NO")
        print(
            f"{name:<9} {entry['battles']:>7} {pct(entry['switch']['rate']):>7} {tc['n']:>8} {pct(truth):>6} "
            f"{pct(tc['rate'])} ({pct(tc['lower'])}–{pct(tc['upper'])}) {ok:>6}"
            + (f"   [{entry['reason']}]" if entry["reason"] else "")
        )

    print("\nDifference to control (Newcombe hybrid score, 95%)")
    for name, entry in result["conditions"].items():
        vs = entry["vs_control"]
        if vs is None:
            continue
        if vs["difference"] is None:
            print(f"{name:<9} {vs['reason']}")
            continue
        truth = None if truth_control is None or name not in args.effects else args.effects[name] - truth_control
        ok = "—" if truth is None else ("yes" if vs["lower"] <= truth <= vs["upper"] else "NO")
        print(
            f"{name:<9} true {pct(truth)}  estimated {pct(vs['difference'])} ({pct(vs['lower'])}–{pct(vs['upper'])})"
            f"  covers: {ok}"
        )

    print("\nLogistic slope on log2(energy ratio) (true slope 0: the simulated effects do not depend on the ratio)")
    for name, entry in result["conditions"].items():
        fit = entry["logistic"]
        if fit["slope"] is None:
            print(f"{name:<9} {fit['reason']}")
            continue
        ok = "yes" if fit["slope_lower"] <= 0 <= fit["slope_upper"] else "NO"
        print(
            f"{name:<9} n {fit['n']:>5}  intercept {fit['intercept']:+.3f}  slope {fit['slope']:+.3f} "
            f"({fit['slope_lower']:+.3f} to {fit['slope_upper']:+.3f})  covers 0: {ok}"
        )

    rows = power_table()
    differences = sorted({r["difference"] for r in rows})
    print("\nEligible votes per condition for 80% power at alpha 0.05 (two-sided), by baseline and difference")
    print(f"{'baseline':>8} " + " ".join(f"{'+' + format(d, 'g'):>7}" for d in differences))
    for baseline in sorted({r["baseline"] for r in rows}):
        cells = {r["difference"]: r["battles"] for r in rows if r["baseline"] == baseline}
        print(f"{baseline:>8g} " + " ".join(f"{'—' if cells[d] is None else cells[d]:>7}" for d in differences))


if __name__ == "__main__":
    main()
