"""Benchmark: the same-family pair (Qwen2.5-Coder 0.5B against 1.5B) in battles, as a visitor plays them.

    .venv/bin/python bench/family_pair.py [--named 2] [--crowd 4] [--keep]

The arena is started as `make run` starts it (bench/capacity.py's launcher: `manage.py runarena`, an
embedded Redis, one worker, batched decoding) in a temporary folder with its own SQLite database,
sharing ARENA_DATA_DIR's joined weights and converted models. Only the two Qwen2.5-Coder models are
prepared there, so every anonymous battle under the default policy (same-family) is 0.5B against
1.5B, with the bundled contenders (greedy, bfloat16, their max_new_tokens). The launcher's own
start-up is timed too (its "The arena is up"; models already converted).

One battle first, not counted (one-time set-up). Then:
  named    --named battles picked by name (/arena/compare/'s request), one after another, each with a
           20-word question;
  crowd    --crowd people in their own sessions send an example prompt at the same moment
           (anonymous battles drawn by the policy).
Each person follows the battle's websocket as the page does, votes (tie, then tie again), which
reveals the energy and then the names. Figures (times from the POST, on this client's clock):
  TTFT     time to a side's first text: p50 / p95 / max over the sides
  both     time until both answers of a battle are finished: p50 / max
  per model: answers, tokens, tok/s (each answer's tokens over its own duration, pooled), joules per
           token (all its joules / all its tokens: the worker's figure, an estimate from CPU time on
           this machine) and the ratio of the 1.5B's J/token to the 0.5B's
Targets (issue 20, this 2-core machine, quiet): named battle both sides done <= 90 s and first token
<= 5 s each; the 1.5B >= 1.5x the 0.5B's J/token; crowd of 4: every side finishes, p95 TTFT <= 10 s.
It prints whether each is met; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from capacity import ROOT, Arena, Played, arena_env, battle_start, bench_folder, follow, page_headers
from load_votes import percentile

sys.path.insert(0, str(ROOT))

from arena.examples import EXAMPLE_PROMPTS  # noqa: E402 - plain Python, no Django

SMALL, LARGE = "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"
QUESTION = "Why is the sky blue during the day but red and orange at sunset? Please explain it simply for me."
PREPARE = f"""
import django
django.setup()
from django.core.management import call_command
from modelhub.models import Model
call_command("migrate", verbosity=0)
call_command("register_bundled", verbosity=0)
slugs = [m.slug for m in Model.objects.filter(source__in=["{SMALL}", "{LARGE}"])]
call_command("prepare_models", *slugs)
print(" ".join(m.contenders.get().slug for m in Model.objects.filter(source__in=["{SMALL}", "{LARGE}"])
               .order_by("parameter_count")))
"""


@dataclass
class Side:
    model: str = ""
    tokens: int = 0
    duration_s: float | None = None
    joules: float | None = None


@dataclass
class PairPlayed(Played):
    sides: dict[str, Side] = field(default_factory=dict)


def data_dir_prepare(tmp: Path) -> list[str]:
    """The temporary folder's database with the pair prepared; the slugs of its contenders, small first."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    for shared in ("models", "weights"):
        (settings.ARENA_DATA_DIR / shared).mkdir(parents=True, exist_ok=True)
        (tmp / shared).symlink_to(settings.ARENA_DATA_DIR / shared)
    print("Preparing the Qwen2.5-Coder pair in", tmp, "(the first time joins and converts them)…", flush=True)
    done = subprocess.run([sys.executable, "-c", PREPARE], cwd=ROOT, env=arena_env(tmp, "1"),
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"The pair could not be prepared:\n{done.stdout}{done.stderr}")
    return done.stdout.split()[-2:]


async def person(base: str, prompt: str, go: asyncio.Event, timeout_s: float, named: list[str]) -> PairPlayed:
    import aiohttp

    played = PairPlayed()
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{base}/arena/") as reply:
            reply.raise_for_status()
            await reply.read()
        headers = page_headers(jar, base)
        data = {"prompt": prompt} | ({"contender_a": named[0], "contender_b": named[1]} if named else {})
        await go.wait()
        battle = await battle_start(http, base, data, headers, played)
        if battle is None:
            return played
        await follow(http, base, battle, played, timeout_s)
        if not all(status == "done" for status in played.status.values()):
            return played
        state = {}
        for stage in ("blind", "final"):
            async with http.post(f"{base}/arena/battles/{battle['id']}/vote/", data={"stage": stage, "choice": "tie"},
                                 headers=headers) as reply:
                state = (await reply.json())["battle"]
        for name, side in state["sides"].items():
            energy, contender = side.get("energy") or {}, side.get("contender") or {}
            played.sides[name] = Side(contender.get("model", "?"), side["output_tokens"], side["duration_s"],
                                      energy.get("joules"))
    return played


async def crowd(base: str, prompts: list[str], timeout_s: float, named: list[str]) -> list[PairPlayed]:
    go = asyncio.Event()
    tasks = [asyncio.create_task(person(base, prompt, go, timeout_s, named)) for prompt in prompts]
    await asyncio.sleep(1.0)
    go.set()
    return list(await asyncio.gather(*tasks))


def report(title: str, played: list[PairPlayed]) -> dict[str, float]:
    ttft = sorted(t for p in played for t in p.first_text.values())
    both = sorted(max(p.done.values()) for p in played if len(p.done) == 2)
    failed = sum(1 for p in played for status in p.status.values() if status != "done")
    refused = [p.refused for p in played if p.refused]
    print(f"\n{title}: {len(played)} battle(s), load average {os.getloadavg()[0]:.2f}")
    if refused:
        print("  refused:", "; ".join(refused))
    if ttft:
        print(f"  TTFT p50 {percentile(ttft, 50):.2f} s, p95 {percentile(ttft, 95):.2f} s, max {ttft[-1]:.2f} s")
    if both:
        print(f"  both answers done: p50 {percentile(both, 50):.1f} s, max {both[-1]:.1f} s; failed sides: {failed}")
    per_model: dict[str, list[Side]] = {}
    for p in played:
        for side in p.sides.values():
            per_model.setdefault(side.model, []).append(side)
    jpt = {}
    for model, sides in sorted(per_model.items()):
        tokens = sum(s.tokens for s in sides)
        seconds = sum(s.duration_s or 0 for s in sides)
        joules = sum(s.joules or 0 for s in sides)
        jpt[model] = joules / tokens if tokens else float("nan")
        print(f"  {model:30} {len(sides)} answer(s), {tokens:4d} tokens, {tokens / seconds if seconds else 0:5.2f} "
              f"tok/s, {joules:7.1f} J, {jpt[model]:.3f} J/token")
    small = next((v for k, v in jpt.items() if "0.5B" in k), None)
    large = next((v for k, v in jpt.items() if "1.5B" in k), None)
    figures = {"ttft_p95": percentile(ttft, 95) if ttft else float("nan"), "ttft_max": ttft[-1] if ttft else
               float("nan"), "both_max": both[-1] if both else float("nan"), "failed": failed + len(refused)}
    if small and large:
        figures["ratio"] = large / small
        print(f"  J/token, 1.5B / 0.5B: {large / small:.2f}x")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--named", type=int, default=2, help="named battles, one after another")
    parser.add_argument("--crowd", type=int, default=4, help="people starting an anonymous battle together")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one round may take")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = parser.parse_args(argv)
    verdicts = []
    with bench_folder("family-pair-", args.keep) as tmp:
        named = data_dir_prepare(tmp)
        arena = Arena(tmp, "batched")
        try:
            up_s = arena.wait_up()
            print(f"The arena was up after {up_s:.1f} s (models converted already; worker 1: {arena.threads()})")
            asyncio.run(crowd(arena.base, [EXAMPLE_PROMPTS[0]], args.timeout, named))  # one-time set-up
            rounds = [asyncio.run(crowd(arena.base, [QUESTION], args.timeout, named)) for _ in range(args.named)]
            one = report(f"Named battles, 0.5B against 1.5B, one at a time ({len(QUESTION.split())}-word question)",
                         [p for r in rounds for p in r])
            verdicts.append(f"named: both done in {one['both_max']:.1f} s (<= 90 s), first token at most "
                            f"{one['ttft_max']:.2f} s (<= 5 s): "
                            f"{'met' if one['both_max'] <= 90 and one['ttft_max'] <= 5 else 'NOT met'}")
            if "ratio" in one:
                verdicts.append(f"J/token 1.5B / 0.5B: {one['ratio']:.2f}x (>= 1.5x): "
                                f"{'met' if one['ratio'] >= 1.5 else 'NOT met'}")
            played = asyncio.run(crowd(arena.base, EXAMPLE_PROMPTS[1:1 + args.crowd], args.timeout, []))
            many = report(f"{args.crowd} anonymous battles at once (same-family policy)", played)
            verdicts.append(f"crowd of {args.crowd}: p95 first token {many['ttft_p95']:.2f} s (<= 10 s), "
                            f"{many['failed']} failed: "
                            f"{'met' if many['ttft_p95'] <= 10 and many['failed'] == 0 else 'NOT met'}")
        finally:
            arena.stop()
    print()
    for text in verdicts:
        print(text)


if __name__ == "__main__":
    main()
