"""Benchmark: N people start a battle at the same moment; batched decoding versus one request at a time.

Run from the repository root (it takes a few minutes per path on 2 cores):

    .venv/bin/python bench/capacity.py [--sizes 1,4,8,16] [--paths batched,per-request]
                                       [--max-new-tokens 200] [--keep]

For each path the script starts the arena itself, as `make run` does it (``manage.py runarena``:
an embedded Redis, one Celery worker with the launcher's default thread count, daphne), in a
temporary folder with its own SQLite database; only the converted weights are shared
(ARENA_DATA_DIR/models). It waits for the launcher's "The arena is up" (the worker holds its models
warm). SmolLM2-135M-Instruct is the one chat model prepared, so every battle is drawn, as for any
visitor, between two of its three contenders (greedy, sampling, contrastive). Paths: "batched"
(ARENA_BATCHING=1: two shared decode loops per model, workers.batching for greedy and sampling,
workers.contrastive_batch for contrastive search) and "per-request"
(ARENA_BATCHING=0: each side generates alone in a worker thread, 2 threads, as before issue 12).
Other settings pass through the environment (ARENA_BATCH_MAX_REQUESTS=8, ARENA_TORCH_THREADS=2...).

One battle first, not counted: the first request after start-up pays one-time set-up. Then for each
N: N people, each in its own session (GET /arena/ for the session and CSRF cookies, then its own
websocket), send their prompts (the page's examples, the same ones on both paths) at the same moment,
follow their battle's websocket as the page does (snapshot, tokens, side_done; reconnecting if it
drops) until both answers are finished, and cast a blind vote, which reveals the energy.

Figures per N (all times from sending the POST, on this client's clock):
  TTFT      time to the side's first text on the websocket: p50, p95, max over the 2N sides
  both      time to both answers of a battle (p50, max)
  tok/s     all output tokens / from the first POST to the last answer. N = 1 is the baseline "one
            battle": --singles battles (4) played one after another on the first prompts, pooled
            (tokens / the time each took): one draw of a pair is too noisy (13 to 200 tokens).
  J/tok     all joules / all output tokens of the voted battles (the worker's own figure: on a CPU,
            an estimate from CPU time; failed battles cannot be voted on and have none)
  queued    sides told a place in line ("queue" messages), and the furthest place
  failed    sides that failed or timed out (ARENA_SIDE_TIMEOUT_S, 180 s, counts from the battle's start)
Targets at N = 8 (issue 12): p95 TTFT <= 3 s; tok/s >= 3x the batched path's N = 1; J/token below
the per-request path's. It prints whether each is met; it asserts nothing. On a shared machine the
figures are noisy: each row gives the machine's 1-minute load average before the round.

An engine contender (issue 24): ``--engine URL --served-model ID [--meter SPEC]`` registers a model
served by that engine (family SmolLM2) and leaves only it and the local greedy SmolLM2 enabled, so
every battle is engine against local; ``--engine local`` starts `transformers serve
--continuous-batching` on the converted SmolLM2 itself, metered with ``process:`` (its pid file).
Each battle then also casts the final vote (which names the contenders), and the rows add the engine
sides' first token (p50, p95) and failures. Target at N = 8: every side finishes, the engine side's
first token p95 <= 5 s. Only the batched path is run with an engine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from generation_overhead import FINISHED, RECONNECT_MAX_S, _cookie, free_port
from load_votes import percentile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arena.examples import EXAMPLE_PROMPTS  # noqa: E402 - plain Python, no Django

PATHS = {"batched": "1", "per-request": "0"}
TARGET_TTFT_P95_S, TARGET_SPEED_UP, TARGET_ENGINE_TTFT_P95_S = 3.0, 3.0, 5.0
ENGINE_CONTENDER = "SmolLM2 on an engine"
ENGINE_PREPARE = """
from modelhub.models import Contender, Model
from modelhub.services import model_prepare, model_register
model = model_register(name="{name}", family="SmolLM2", kind="chat", source_type="endpoint", source="{url}",
                       served_model_id="{served}", meter="{meter}")
model = model_prepare(model_id=model.id)
assert model.status == "ready", model.error
Contender.objects.exclude(name__in=["SmolLM2-135M greedy", "{name}"]).update(enabled=False)
if {max_new_tokens}:
    Contender.objects.update(max_new_tokens={max_new_tokens})
print(model.smoke_test_output)
"""
PREPARE = """
import django
django.setup()
from django.core.management import call_command
from modelhub.models import Contender
call_command("migrate", verbosity=0)
call_command("register_bundled", verbosity=0)
call_command("prepare_models", "smollm2-135m-instruct")
if {max_new_tokens}:
    Contender.objects.filter(model__source="smollm2-135m-instruct").update(max_new_tokens={max_new_tokens})
"""


# --- the arena, started as `make run` starts it ------------------------------------------------


@contextlib.contextmanager
def bench_folder(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary data dir for one bench run: removed at the end, or kept (and said so) with --keep."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        yield tmp
    finally:
        if keep:
            print("Kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def arena_env(tmp: Path, batching: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        ARENA_DATA_DIR=str(tmp), ARENA_BATCHING=batching, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="config.settings", LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        # Every person comes from 127.0.0.1: the per-address limits would refuse the larger rounds.
        ARENA_BATTLES_PER_MINUTE_PER_SESSION="100000", ARENA_BATTLES_PER_MINUTE_PER_IP="100000",
        ARENA_VOTES_PER_DAY_PER_IP="100000",
    )
    return env


def data_dir_prepare(tmp: Path, max_new_tokens: int) -> None:
    """The temporary folder's database, with SmolLM2 prepared (its conversion shared with ARENA_DATA_DIR)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    settings.ARENA_MODELS_DIR.mkdir(parents=True, exist_ok=True)
    (tmp / "models").symlink_to(settings.ARENA_MODELS_DIR)
    print("Preparing SmolLM2 in", tmp, "(the first time converts the GGUF file)…", flush=True)
    done = subprocess.run([sys.executable, "-c", PREPARE.format(max_new_tokens=max_new_tokens)], cwd=ROOT,
                          env=arena_env(tmp, "1"), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"SmolLM2 could not be prepared:\n{done.stdout}{done.stderr}")


def engine_register(tmp: Path, engine: tuple[str, str, str], max_new_tokens: int) -> None:
    """The engine-served contender, checked as preparation checks it; the only other one enabled is the
    local greedy SmolLM2."""
    url, served, meter = engine
    script = "import django\ndjango.setup()\n" + ENGINE_PREPARE.format(
        name=ENGINE_CONTENDER, url=url, served=served, meter=meter, max_new_tokens=max_new_tokens
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=arena_env(tmp, "1"), capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(f"The engine contender could not be registered:\n{done.stdout}{done.stderr}")
    print("Engine contender ready:", done.stdout.strip()[-200:], flush=True)


@contextlib.contextmanager
def local_engine(tmp: Path) -> Iterator[tuple[str, str, str]]:
    """`transformers serve --continuous-batching` on the converted SmolLM2, its pid in a file: (base URL,
    served id, meter spec). Warmed with one request (its first pays the batch set-up)."""
    import httpx2
    from django.conf import settings

    folder = settings.ARENA_MODELS_DIR / "smollm2-135m-instruct"
    port, pidfile = free_port(), tmp / "engine.pid"
    with (tmp / "engine.log").open("w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "transformers"), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--continuous-batching", "--cb-block-size", "32", "--cb-num-blocks", "256", str(folder)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            # one torch thread and a bounded KV cache, as the tests' engine (tests/conftest.py, ENGINE_CACHE)
            env=dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1"),
        )
    pidfile.write_text(str(process.pid))
    url = f"http://127.0.0.1:{port}/v1"
    try:
        started = time.monotonic()
        while True:
            try:
                if httpx2.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                if process.poll() is not None or time.monotonic() - started > 180:
                    raise SystemExit(f"The engine did not start: see {tmp / 'engine.log'}") from None
            time.sleep(0.5)
        httpx2.post(f"{url}/chat/completions", timeout=300, json={
            "model": str(folder), "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1})
        print(f"Engine (transformers serve) up after {time.monotonic() - started:.1f} s on {url}", flush=True)
        yield url, str(folder), f"process:{pidfile}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


class Arena:
    """`manage.py runarena` in its own session; its output goes to a log file once it is up."""

    def __init__(self, tmp: Path, path: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"runarena-{path}.log"
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runarena", "--skip-prepare", "--port", str(self.port)],
            cwd=ROOT, env=arena_env(tmp, PATHS[path]), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self.lines: list[str] = []
        self.up = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with self.log.open("w") as log:
            for line in self.process.stdout:
                self.lines.append(line)
                log.write(line)
                log.flush()
                if "The arena is up" in line:
                    self.up.set()

    def wait_up(self, timeout_s: float = 600) -> float:
        started = time.monotonic()
        while not self.up.wait(0.5):
            if self.process.poll() is not None or time.monotonic() - started > timeout_s:
                raise RuntimeError("The arena did not come up:\n" + "".join(self.lines[-40:]))
        return time.monotonic() - started

    def threads(self) -> str:
        return next((line.split(":", 1)[1].strip() for line in self.lines if line.startswith("Worker 1:")), "?")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# --- one person: a battle as the page plays it ---------------------------------------------------


@dataclass
class Played:
    posted: float = 0.0  # perf_counter when the POST was sent
    refused: str = ""  # the server's answer when the battle was not created
    first_text: dict[str, float] = field(default_factory=dict)  # side -> seconds after the POST
    done: dict[str, float] = field(default_factory=dict)  # side -> seconds after the POST
    status: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    joules: float | None = None  # both sides, revealed by the blind vote
    contenders: dict[str, str] = field(default_factory=dict)  # side -> name, after the final vote (--engine)
    places: list[int] = field(default_factory=list)  # places in line the sides were told
    queued_sides: set[str] = field(default_factory=set)


async def person(base: str, prompt: str, go: asyncio.Event, timeout_s: float, final: bool = False) -> Played:
    import aiohttp

    played = Played()
    jar = aiohttp.CookieJar(unsafe=True)  # aiohttp drops cookies of a bare IP address otherwise
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{base}/arena/") as reply:  # the session and CSRF cookies, as a page load
            reply.raise_for_status()
            await reply.read()
        headers = page_headers(jar, base)
        await go.wait()
        battle = await battle_start(http, base, {"prompt": prompt}, headers, played)
        if battle is None:
            return played
        await follow(http, base, battle, played, timeout_s)
        if all(status == "done" for status in played.status.values()):
            url = f"{base}/arena/battles/{battle['id']}/vote/"
            async with http.post(url, data={"stage": "blind", "choice": "tie"}, headers=headers) as reply:
                state = (await reply.json())["battle"]
            energies = [side.get("energy") or {} for side in state["sides"].values()]
            if all(energy.get("joules") is not None for energy in energies):
                played.joules = sum(energy["joules"] for energy in energies)
            if final:  # the final vote names the contenders
                async with http.post(url, data={"stage": "final", "choice": "tie"}, headers=headers) as reply:
                    state = (await reply.json())["battle"]
                played.contenders = {
                    side: (data.get("contender") or {}).get("name", "") for side, data in state["sides"].items()
                }
    return played


def page_headers(jar, base: str) -> dict[str, str]:
    """The headers the page's script sends with a POST (CSRF token from the session's cookies)."""
    return {"X-CSRFToken": _cookie(jar, "csrftoken"), "Origin": base, "Referer": f"{base}/arena/",
            "Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}


async def battle_start(http, base: str, data: dict, headers: dict, played: Played) -> dict | None:
    """POST the battle as the page does (trying again after a 503 with Retry-After, as the page does);
    the battle's state, or None when refused (``played.refused`` says why)."""
    played.posted = time.perf_counter()
    while True:
        async with http.post(f"{base}/arena/battles/", data=data, headers=headers) as reply:
            answer = await reply.json()
            retry_after = reply.headers.get("Retry-After")
        if reply.status == 503 and retry_after:  # warming up: the page tries again by itself
            await asyncio.sleep(float(retry_after))
            continue
        if reply.status != 201:
            played.refused = f"{reply.status}: {answer.get('error')}"
            return None
        return answer["battle"]


async def follow(http, base: str, battle: dict, played: Played, timeout_s: float) -> None:
    """The battle's websocket until both sides are finished, reconnecting as static/arena/socket.js does."""
    import aiohttp

    def side_state(side: str, state: dict, now: float) -> None:
        if state.get("text") and side not in played.first_text:
            played.first_text[side] = now  # text stored before the socket joined: the snapshot shows it
        if state.get("status") in FINISHED and side not in played.done:
            played.done[side] = now
            played.status[side] = state["status"]
            played.tokens[side] = int(state.get("output_tokens") or 0)

    for side, state in battle["sides"].items():
        side_state(side, state, time.perf_counter() - played.posted)
    deadline, retry = played.posted + timeout_s, 0
    while len(played.done) < 2:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"battle {battle['id']} did not finish in {timeout_s:.0f} s")
        async with http.ws_connect(base.replace("http", "ws", 1) + battle["ws_url"], origin=base) as ws:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                now = time.perf_counter() - played.posted
                data = json.loads(message.data)
                kind = data.get("type")
                if kind in ("snapshot", "state"):
                    retry = 0
                    for side, state in data["battle"]["sides"].items():
                        side_state(side, state, now)
                elif kind == "tokens" and data.get("text"):
                    played.first_text.setdefault(data["side"], now)
                elif kind == "queue" and data.get("position", 0) > 0:
                    played.queued_sides.add(data["side"])
                    played.places.append(int(data["position"]))
                elif kind == "side_done":
                    side_state(data["side"], data, now)
                if len(played.done) == 2:
                    break
        if len(played.done) < 2:
            await asyncio.sleep(min(2.0**retry, RECONNECT_MAX_S))
            retry += 1


async def crowd(
    base: str, n: int, timeout_s: float, first_prompt: int = 0, final: bool = False
) -> tuple[list[Played], float]:
    """N people sending at the same moment; returns their battles and the round's wall time."""
    go = asyncio.Event()
    prompts = [EXAMPLE_PROMPTS[(first_prompt + i) % len(EXAMPLE_PROMPTS)] for i in range(n)]
    tasks = [asyncio.create_task(person(base, prompt, go, timeout_s, final)) for prompt in prompts]
    await asyncio.sleep(1.0)  # every person has loaded the page
    started = time.perf_counter()
    go.set()
    played = await asyncio.gather(*tasks)
    return played, time.perf_counter() - started


# --- figures -------------------------------------------------------------------------------------


@dataclass
class Row:
    path: str
    n: int
    load: float
    ttft: list[float]
    both: list[float]
    tokens: int
    tokens_per_s: float
    joules_per_token: float | None
    queued: int
    furthest: int
    failed: int
    refused: int
    engine_ttft: list[float] = field(default_factory=list)  # the engine sides' first token (--engine)
    engine_failed: int = 0


def row_of(path: str, n: int, load: float, played: list[Played], one_after_another: bool = False) -> Row:
    """Figures of a round. ``one_after_another``: the battles were played in turn (N = 1), so tok/s
    is over the time each took, not the span from the first to the last."""
    ttft = sorted(t for p in played for t in p.first_text.values())
    both = sorted(max(p.done.values()) for p in played if len(p.done) == 2)
    last = max((max(p.done.values()) + p.posted for p in played if p.done), default=0.0)
    first = min(p.posted for p in played)
    tokens = sum(sum(p.tokens.values()) for p in played)
    voted = [p for p in played if p.joules is not None]
    voted_tokens = sum(sum(p.tokens.values()) for p in voted)
    return Row(
        path=path, n=n, load=load, ttft=ttft, both=both, tokens=tokens,
        tokens_per_s=tokens / busy if (busy := (
            sum(max(p.done.values()) for p in played if p.done) if one_after_another else last - first
        )) > 0 else 0.0,
        joules_per_token=sum(p.joules for p in voted) / voted_tokens if voted_tokens else None,
        queued=sum(len(p.queued_sides) for p in played), furthest=max((max(p.places) for p in played if p.places),
                                                                      default=0),
        failed=sum(1 for p in played for status in p.status.values() if status != "done"),
        refused=sum(1 for p in played if p.refused),
        engine_ttft=sorted(p.first_text[side] for p in played for side, name in p.contenders.items()
                           if name == ENGINE_CONTENDER and side in p.first_text),
        engine_failed=sum(1 for p in played for side, name in p.contenders.items()
                          if name == ENGINE_CONTENDER and p.status.get(side) != "done"),
    )


def _s(value: float) -> str:
    return f"{value:6.2f}" if value == value else "     -"  # NaN: no value


HEADER = (f"{'path':12} {'N':>3} {'load':>5} | {'TTFT p50':>8} {'p95':>6} {'max':>6} | {'both p50':>8} {'max':>6} | "
          f"{'tokens':>6} {'tok/s':>6} {'J/tok':>7} | {'queued':>6} {'place':>5} {'failed':>6} {'refused':>7}")


def line(row: Row) -> str:
    jpt = f"{row.joules_per_token:7.4f}" if row.joules_per_token is not None else "      -"
    engine = (f" | engine sides {len(row.engine_ttft)}: TTFT p50 {_s(percentile(row.engine_ttft, 50))} p95 "
              f"{_s(percentile(row.engine_ttft, 95))}, failed {row.engine_failed}") if row.engine_ttft else ""
    return line_plain(row, jpt) + engine


def line_plain(row: Row, jpt: str) -> str:
    return (f"{row.path:12} {row.n:3d} {row.load:5.2f} | {_s(percentile(row.ttft, 50)):>8} "
            f"{_s(percentile(row.ttft, 95))} {_s(row.ttft[-1] if row.ttft else float('nan'))} | "
            f"{_s(percentile(row.both, 50)):>8} "
            f"{_s(row.both[-1] if row.both else float('nan'))} | {row.tokens:6d} {row.tokens_per_s:6.1f} {jpt} | "
            f"{row.queued:6d} {row.furthest:5d} {row.failed:6d} {row.refused:7d}")


def verdict(rows: list[Row]) -> list[str]:
    found = {(row.path, row.n): row for row in rows}
    batched8, batched1, single8 = found.get(("batched", 8)), found.get(("batched", 1)), found.get(("per-request", 8))
    out = []
    if batched8 and batched8.engine_ttft:
        p95 = percentile(batched8.engine_ttft, 95)
        finished = batched8.failed == 0 and batched8.refused == 0
        out.append(f"engine side's p95 TTFT at N=8: {p95:.2f} s (target <= {TARGET_ENGINE_TTFT_P95_S:.0f} s): "
                   f"{'met' if p95 <= TARGET_ENGINE_TTFT_P95_S else 'NOT met'}; every side finished: "
                   f"{'yes' if finished else 'NO'}")
    if batched8:
        p95 = percentile(batched8.ttft, 95)
        out.append(f"p95 TTFT at N=8, batched: {p95:.2f} s (target <= {TARGET_TTFT_P95_S:.0f} s): "
                   f"{'met' if p95 <= TARGET_TTFT_P95_S else 'NOT met'}")
        if batched1 and batched1.tokens_per_s:
            ratio = batched8.tokens_per_s / batched1.tokens_per_s
            out.append(f"tokens/s at N=8 / one battle, batched: {ratio:.1f}x (target >= {TARGET_SPEED_UP:.0f}x): "
                       f"{'met' if ratio >= TARGET_SPEED_UP else 'NOT met'}")
        if single8 and batched8.joules_per_token and single8.joules_per_token:
            lower = batched8.joules_per_token < single8.joules_per_token
            out.append(f"J/token at N=8: batched {batched8.joules_per_token:.4f}, per-request "
                       f"{single8.joules_per_token:.4f}: {'lower' if lower else 'NOT lower'}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,4,8,16", help="people per round, comma-separated")
    parser.add_argument("--paths", default="batched,per-request", help="batched, per-request or both")
    parser.add_argument("--max-new-tokens", type=int, default=0,
                        help="new tokens per answer for the SmolLM2 contenders (default: theirs, 200)")
    parser.add_argument("--timeout", type=float, default=420.0, help="seconds one round may take")
    parser.add_argument("--singles", type=int, default=4,
                        help="battles played one after another for N = 1 (its figures pool them)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    parser.add_argument("--engine", help="an engine's base URL for an engine contender, or 'local' to start one")
    parser.add_argument("--served-model", default="", help="the id the engine serves (with --engine URL)")
    parser.add_argument("--meter", default="none", help="the engine's meter spec (with --engine URL)")
    args = parser.parse_args(argv)
    if args.engine:
        args.paths = "batched"
    sizes = [int(size) for size in args.sizes.split(",")]
    paths = [path.strip() for path in args.paths.split(",")]
    for path in paths:
        if path not in PATHS:
            parser.error(f"--paths: {path!r} is neither batched nor per-request")
    rows: list[Row] = []
    with bench_folder("capacity-", args.keep) as tmp, contextlib.ExitStack() as stack:
        data_dir_prepare(tmp, args.max_new_tokens)
        engine = None
        if args.engine == "local":
            engine = stack.enter_context(local_engine(tmp))
        elif args.engine:
            engine = (args.engine, args.served_model, args.meter)
        if engine is not None:
            engine_register(tmp, engine, args.max_new_tokens)
        final = engine is not None
        for path in paths:
            arena = Arena(tmp, path)
            try:
                up_s = arena.wait_up()
                print(f"\n{path}: the arena was up after {up_s:.1f} s (worker 1: {arena.threads()})", flush=True)
                asyncio.run(crowd(arena.base, 1, args.timeout, final=final))  # not counted: one-time set-up
                print(HEADER, flush=True)
                for n in sizes:
                    load = os.getloadavg()[0]
                    if n == 1:  # one battle at a time, several: a single draw of a pair is too noisy a baseline
                        played = [p for i in range(args.singles) for p in
                                  asyncio.run(crowd(arena.base, 1, args.timeout, first_prompt=i, final=final))[0]]
                    else:
                        played, _ = asyncio.run(crowd(arena.base, n, args.timeout, final=final))
                    rows.append(row_of(path, n, load, played, one_after_another=n == 1))
                    print(line(rows[-1]), flush=True)
                    time.sleep(3)  # the last answers' writes; a quieter start for the next round
            finally:
                arena.stop()
    print("\n" + HEADER)
    for row in rows:
        print(line(row))
    for text in verdict(rows):
        print(text)


if __name__ == "__main__":
    main()
