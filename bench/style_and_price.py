"""Simulation: style control and the price of energy on a FastChat-format log with known truth.

    python bench/style_and_price.py [--battles 12000] [--seed 7] [--log FILE]

Six contenders in three families. Voters like longer answers (+1.2 logit per unit of the normalised
length difference (a-b)/(a+b)) and, after the energy reveal, dislike energy: each doubling of an
answer's energy costs it ``--price`` (40) rating points. Energy grows with length. The two "gamma"
contenders are equally strong and differ only in length. It writes the log (with ``conv_metadata``),
rates it as ``manage.py leaderboard --battles FILE [--style-control]`` does, and prints the plain and
style-controlled ratings next to the truth, the style coefficients, and the price of energy fitted
alone and with the style features. No Django, no database; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analysis.leaderboard.battle_log import BattleLogReader  # noqa: E402 - plain Python, no Django
from analysis.leaderboard.board import board_compute, board_inputs_from_records  # noqa: E402
from analysis.leaderboard.contextual import energy_price  # noqa: E402

# name: (family, true rating, mean answer tokens, mean joules)
MODELS = {
    "alpha-big": ("alpha", 1080, 420, 9.0), "alpha-small": ("alpha", 1000, 180, 2.0),
    "beta-big": ("beta", 1040, 260, 8.0), "beta-small": ("beta", 990, 200, 2.5),
    "gamma-verbose": ("gamma", 1000, 700, 4.0), "gamma-terse": ("gamma", 1000, 120, 4.0),
}
LENGTH_LOGIT = 1.2
K = math.log(10) / 400


def write_log(path: Path, battles: int, seed: int, price: float) -> None:
    rng = random.Random(seed)
    names = list(MODELS)
    with path.open("w") as out:
        for i in range(battles):
            a, b = rng.sample(names, 2)
            (fa, ra, la, ea), (fb, rb, lb, eb) = MODELS[a], MODELS[b]
            ta, tb = max(5, int(rng.gauss(la, la * 0.2))), max(5, int(rng.gauss(lb, lb * 0.2)))
            joules_a = ea * ta / la * rng.lognormvariate(0, 0.3)
            joules_b = eb * tb / lb * rng.lognormvariate(0, 0.3)
            logit = K * (ra - rb) + LENGTH_LOGIT * (ta - tb) / (ta + tb)
            after = logit - price * K * math.log2(joules_a / joules_b)

            def vote(x: float) -> str:
                if rng.random() < 0.1:
                    return "tie"
                return "model_a" if rng.random() < 1 / (1 + math.exp(-x)) else "model_b"

            meta = {"sum_assistant_a_tokens": ta, "sum_assistant_b_tokens": tb}
            for side in "ab":
                meta |= {f"header_count_{side}": {"h1": rng.randint(0, 2)},
                         f"list_count_{side}": {"ordered": rng.randint(0, 3), "unordered": 0},
                         f"bold_count_{side}": {"**": rng.randint(0, 2), "__": 0}}
            out.write(json.dumps({
                "question_id": f"q{i}", "model_a": a, "model_b": b, "winner": vote(logit), "tstamp": 1.7e9 + i,
                "anony": True, "family_a": fa, "family_b": fb, "winner_after_energy": vote(after),
                "energy_a_j": round(joules_a, 4), "energy_b_j": round(joules_b, 4), "conv_metadata": meta,
            }) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=12000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--price", type=float, default=40.0)
    parser.add_argument("--prior", type=float, default=400.0)
    parser.add_argument("--log", type=Path, help="where to write the log (default: a temporary file)")
    args = parser.parse_args()
    path = args.log or Path(tempfile.mkdtemp()) / "simulated.jsonl"
    write_log(path, args.battles, args.seed, args.price)
    inputs = board_inputs_from_records(BattleLogReader(path))["chat"]
    board = board_compute(inputs, rounds=100, figures=False, prior=args.prior)
    print(f"{args.battles} simulated battles in {path}; voters: +{LENGTH_LOGIT} logit per unit of normalised "
          f"length difference, {args.price:g} points per doubling of energy after the reveal\n")
    print(f"{'contender':15} {'true':>5} {'plain blind (95% CI)':>24} {'style-controlled (95% CI)':>28}")
    style = {r["name"]: r for r in board["style_control"]["blind"]["rows"]}
    mean_true = sum(m[1] for m in MODELS.values()) / len(MODELS)
    for r in board["ladders"]["blind"]["rows"]:
        s = style[r["name"]]
        print(f"{r['name']:15} {MODELS[r['name']][1] - mean_true + 1000:5.0f} "
              f"{r['rating']:8.0f} ({r['lower']:.0f}-{r['upper']:.0f}){'':6} {s['rating']:8.0f} "
              f"({s['lower']:.0f}-{s['upper']:.0f})")
    print("\nStyle coefficients (rating points per SD of the normalised difference):")
    for ladder in ("blind", "energy"):
        for c in board["style_control"][ladder]["coefficients"]:
            interval = f"({c['lower']:.1f} to {c['upper']:.1f})"
            print(f"  {ladder:6} {c['feature']:8} {c['points']:7.1f} {interval}, sd {c['sd']:.3f}")
    alone = energy_price([c._replace(tokens_a=None) for c in inputs.contexts], list(inputs.families),
                         inputs.families, prior=args.prior)
    print(f"\nPrice of energy, true {args.price:g} points per doubling:")
    for label, price in (("energy alone", alone), ("style-controlled", board["energy_price"])):
        p = price["overall"]
        print(f"  {label:17} {p['points']:6.1f} ({p['lower']:.1f} to {p['upper']:.1f}) from {p['battles']} votes")
        for family, f in price["by_family"].items():
            print(f"    {family:15} {f['points']:6.1f} ({f['lower']:.1f} to {f['upper']:.1f}) from {f['battles']}")


if __name__ == "__main__":
    main()
