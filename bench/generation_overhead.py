"""Benchmark: tokens/s of a battle side through the worker and the websocket, versus ``model.generate``.

Run from the repository root; everything it starts lives in a temporary folder and stops with it
(only the prepared weights are shared: ARENA_DATA_DIR/models, as `make run` and the tests use them):

    .venv/bin/python bench/generation_overhead.py [--rounds 3] [--max-new-tokens 128] [--prompt "..."]
                                                  [--other-max-new-tokens 1] [--wait-quiet 30] [--keep]

Settings the worker reads pass through the environment (e.g. ARENA_STREAM_FLUSH_S=0.25 or
ARENA_TORCH_THREADS=2 before the command).

Set up in the same run, as `make run` does it: a temporary SQLite database (migrated), an embedded Redis
on a unix socket in the temporary folder, the bundled models registered and SmolLM2-135M-Instruct
prepared (the GGUF is converted once, then cached), a real Celery worker (threads pool, 2 threads, the
model's queue) and a real daphne server on a free loopback port; all stopped on every exit path.

Each round measures three things one after the other, never at once (the order alternates between rounds):

* page: a named battle through HTTP (POST /arena/battles/ with the session and CSRF cookies of a first
  GET /arena/compare/), then the battle's websocket, opened as static/arena/arena.js opens it; every
  message is timestamped on arrival, and the page's handling of it (snapshot, token splicing, gap
  refresh over HTTP, reconnection) is replayed to know when text first appears. Side A is "SmolLM2-135M
  greedy"; side B is a greedy twin contender of the same model that stops after --other-max-new-tokens
  tokens (1 by default): it prefills next to side A, then leaves it a core of its own (2 cores here:
  side A's thread on one; web server, Redis and this client on the other). With --other-max-new-tokens
  as large as --max-new-tokens it is a full battle: both sides generate at once and share the cores.
* direct: ``model.generate`` in this process, on the model loaded by the worker's own loader
  (``workers.runtime.language_model_get``: same prepared path, dtype and device), with the same
  chat-template prompt ids (``workers.generation.build_prompt_ids``), greedy, the same max_new_tokens
  and end-of-sequence ids, and the worker's torch thread count (ARENA_TORCH_THREADS); a streamer
  timestamps each token in the calling thread. The worker is idle meanwhile (its CPU is reported).
* loop: the worker's token loop (``workers.generation.generate``) in this process, without the worker:
  it tells the cost of the loop apart from that of the worker, Redis, Channels and the socket.

In a full battle, direct and loop run next to side B's loop in a second thread of this process, so that
all three see the same competition for the cores.

Decode rate: tokens after the first / time from the first token to the last. The page's "tokens"
messages are batched (every ARENA_STREAM_FLUSH_S) and carry the running count, so over the socket it is
(count in the last message - count in the first) / (arrival of the last - arrival of the first).
Time to first token: from sending the POST to the first text of side A on the socket ("socket") and in
the replayed page ("shown"); direct: from the call (chat template and tokenisation included) to the
first token. It prints the figures and whether the ratio page / direct meets 0.95; it asserts nothing.

On a shared machine the figures are noisy: each measurement reports "noise", the cores that other
processes kept busy meanwhile (from /proc/stat, less our own processes' CPU); before each one it waits
up to --wait-quiet seconds for a quiet second; the summary repeats over the quiet rounds when some were
not, and a "best" row gives the fastest of each figure.
"""


from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL_KEY = "smollm2-135m-instruct"
CONTENDER = "SmolLM2-135M greedy"
TWIN = "SmolLM2-135M greedy (benchmark twin)"
TARGET_RATIO = 0.95
DEFAULT_PROMPT = "Explain step by step how a refrigerator keeps food cold, and why it needs electricity."
FINISHED = {"done", "failed", "timeout"}
RECONNECT_MAX_S = 10.0  # RECONNECT_MAX_MS of static/arena/arena.js
RESYNC_RETRY_S = 0.7  # RESYNC_RETRY_MS of static/arena/arena.js: how soon the page asks again after a gap
SETTLE_S = 0.5  # pause between measurements: the side that just finished writes and announces its end
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- set-up ------------------------------------------------------------------------------------


def environment_set(tmp: Path) -> None:
    """Point this process, and the children that inherit its environment, at the temporary services."""
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'arena.sqlite3'}"  # an absolute path: sqlite:////tmp/...
    os.environ["REDIS_URL"] = f"unix://{tmp / 'redis' / 'redis.sock'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["PYTHONUNBUFFERED"] = "1"
    # The rounds come seconds apart: the per-minute rate limits would refuse the later ones.
    os.environ["ARENA_BATTLES_PER_MINUTE_PER_SESSION"] = "100000"
    os.environ["ARENA_BATTLES_PER_MINUTE_PER_IP"] = "100000"


def django_setup() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def contenders_prepare(*, max_new_tokens: int, other_max_new_tokens: int) -> tuple[Any, Any]:
    """Register the bundled models, prepare SmolLM2 (cached after the first run) and return the measured
    contender and its twin (the other side of each battle), with the asked token budgets."""
    from tqdm import tqdm

    from modelhub.models import Contender, Model
    from modelhub.services import bundled_models_register, model_prepare

    bundled_models_register()
    model = Model.objects.get(source_type=Model.SourceType.PACKAGE, source=MODEL_KEY)
    with tqdm(total=100, desc="prepare SmolLM2", unit="%", leave=False) as bar:

        def progress(fraction: float, text: str) -> None:
            bar.n = round(100 * fraction)
            bar.set_postfix_str(text[:60])

        model = model_prepare(model_id=model.id, progress=progress)
    if model.status != Model.Status.READY:
        raise SystemExit(f"SmolLM2 could not be prepared: {model.error}")
    contender = Contender.objects.get(name=CONTENDER)
    contender.max_new_tokens = max_new_tokens
    contender.save(update_fields=["max_new_tokens"])
    # Named battles need two different contenders: a greedy twin of the same model, on the same queue (the
    # arena only draws contenders whose queue a live worker serves, so a side B that never runs is refused).
    twin, _ = Contender.objects.update_or_create(
        name=TWIN,
        defaults={"model": model, "decoding": "greedy", "precision": contender.precision,
                  "max_new_tokens": other_max_new_tokens},
    )
    return contender, twin


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (from /proc)."""
    return _stat_cpu_s(Path(f"/proc/{pid}/stat"))


def threads_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of a process."""
    spent = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            spent[int(task.name)] = _stat_cpu_s(task / "stat")
    return spent


def _stat_cpu_s(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_s() -> float:
    """CPU seconds the machine's cores have been busy since boot: all of /proc/stat but idle and iowait
    (steal included: time the hypervisor gave to others is interference too)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS


class CpuWatch:
    """The CPU spent during one measurement by our processes, and by everything else on the machine: on a
    shared 2-core machine the second is the noise, so each measurement reports it."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids | {"bench": os.getpid()}
        self.spent: dict[str, float] = {}
        self.others_cores = 0.0  # cores kept busy by other processes, on average

    def __enter__(self) -> CpuWatch:
        self._wall, self._machine = time.perf_counter(), machine_busy_s()
        self._own = {name: process_cpu_s(pid) for name, pid in self.pids.items()}
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        self.spent = {name: process_cpu_s(pid) - self._own[name] for name, pid in self.pids.items()}
        others = machine_busy_s() - self._machine - sum(self.spent.values())
        self.others_cores = max(0.0, others / wall) if wall > 0 else 0.0


def quiet_wait(max_wait_s: float, threshold_cores: float = 0.25) -> float:
    """Wait, up to max_wait_s, for a second in which the machine (our services idle) is nearly idle; return
    the busy cores of the last second looked at."""
    deadline = time.monotonic() + max_wait_s
    while True:
        before = machine_busy_s()
        time.sleep(1.0)
        busy = machine_busy_s() - before
        if busy < threshold_cores or time.monotonic() >= deadline:
            return busy


class Services:
    """The embedded Redis, the Celery worker and the web server of one run.

    Stopped by ``stop`` on every exit path; the children also get SIGTERM from the kernel when this
    process dies outright (PR_SET_PDEATHSIG, as `make run` sets it).
    """

    def __init__(self, tmp: Path, queues: list[str], concurrency: int) -> None:
        self.tmp = tmp
        self.queues = queues
        self.concurrency = concurrency
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.redis: Any = None
        self.children: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        from config.embedded_redis import EmbeddedRedis
        from config.management.commands.runarena import _die_with_parent

        self.redis = EmbeddedRedis(self.tmp / "redis" / "redis.sock", preexec_fn=_die_with_parent).start()
        self._spawn("worker", [
            sys.executable, "-m", "celery", "-A", "config.celery", "worker",
            "--pool", "threads", "--concurrency", str(self.concurrency), "--queues", ",".join(self.queues),
            "--hostname", "genbench@%h", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
        ], _die_with_parent)
        self._spawn("web", [
            sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application",
        ], _die_with_parent)

    def _spawn(self, name: str, command: list[str], preexec: Callable[[], None]) -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        # Own session: a Ctrl-C in the terminal reaches only this process, which then stops them in order.
        self.children[name] = subprocess.Popen(
            command, cwd=ROOT, env=dict(os.environ), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=preexec, start_new_session=True,
        )
        log.close()

    def pids(self) -> dict[str, int]:
        pids = {name: process.pid for name, process in self.children.items()}
        if self.redis and self.redis.process:
            pids["redis"] = self.redis.process.pid
        return pids

    def check_alive(self) -> None:
        for name, process in self.children.items():
            if process.poll() is not None:
                raise RuntimeError(f"The {name} process exited ({process.returncode}).\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        try:
            text = (self.tmp / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(f"  {name}| {line}" for line in text.splitlines()[-lines:])

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        """Until the web server accepts connections and the worker answers a ping."""
        from config.celery import app

        deadline = time.monotonic() + timeout_s
        web_up = worker_up = False
        while not (web_up and worker_up):
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"Start-up took over {timeout_s:.0f} s (web {web_up}, worker {worker_up}).")
            if not web_up:
                with socket.socket() as probe:
                    probe.settimeout(0.5)
                    web_up = probe.connect_ex(("127.0.0.1", self.port)) == 0
            if not worker_up:
                worker_up = bool(app.control.ping(timeout=0.5))
            if not (web_up and worker_up):
                time.sleep(0.3)

    def stop(self) -> None:
        # The web server and the worker together (the worker's warm shutdown finishes a running task), Redis last.
        for process in self.children.values():
            if process.poll() is None:
                process.terminate()
        for name, process in self.children.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"The {name} process did not stop in 20 s; killing it.", file=sys.stderr)
                process.kill()
                process.wait()
        if self.redis:
            self.redis.stop()


# --- the page: a battle through HTTP and the websocket ------------------------------------------


@dataclass
class _Side:
    text: str = ""
    status: str = "queued"
    pending: list[dict] = field(default_factory=list)


class PageReplay:
    """What static/arena/arena.js does with the messages, reduced to the text of each side: tokens
    join the text at their offset; a message past its end (a gap: text sent before the socket was in
    the group) waits, and the page asks for the stored state over HTTP until the text reaches it."""

    def __init__(self, http: Any, base: str, battle_id: int, started: float) -> None:
        self.http = http
        self.url = f"{base}/arena/battles/{battle_id}/"
        self.started = started
        self.sides = {"a": _Side(), "b": _Side()}
        self.first_shown: float | None = None
        self.gaps = 0
        self.refreshes = 0
        self._refresh: asyncio.Task | None = None

    def _note(self, now: float) -> None:
        if self.first_shown is None and self.sides["a"].text:
            self.first_shown = now

    def state_apply(self, state: dict, now: float) -> None:
        for name, side_state in (state.get("sides") or {}).items():
            if name in self.sides:
                self.side_apply(name, side_state, now)

    def side_apply(self, name: str, state: dict, now: float) -> None:
        side = self.sides[name]
        status, server_text = state.get("status") or side.status, state.get("text") or ""
        # While streaming, the stored text may lag behind what the socket delivered: keep the longer one.
        keep_local = status not in FINISHED and len(side.text) > len(server_text) and side.text.startswith(server_text)
        if not keep_local:
            side.text = server_text
        side.status = status
        self._drain(side)
        self._note(now)

    def _splice(self, side: _Side, message: dict) -> bool:
        offset, text = message["offset"], message.get("text") or ""
        if offset > len(side.text):
            return False
        if offset + len(text) > len(side.text):
            side.text += text[len(side.text) - offset:]
        return True

    def _drain(self, side: _Side) -> None:
        if side.status in FINISHED:
            side.pending.clear()
            return
        side.pending.sort(key=lambda message: message["offset"])
        while side.pending and side.pending[0]["offset"] <= len(side.text):
            self._splice(side, side.pending.pop(0))

    def tokens_apply(self, message: dict, now: float) -> None:
        side = self.sides.get(message.get("side"))
        if side is None or side.status in FINISHED:
            return
        if self._splice(side, message):
            self._drain(side)
        else:
            side.pending.append(message)
            self.gaps += 1
            if self._refresh is None or self._refresh.done():
                self._refresh = asyncio.get_running_loop().create_task(self._refresh_until_joined())
        side.status = "running"
        self._note(now)

    def has_gap(self) -> bool:
        return any(side.pending and side.status not in FINISHED for side in self.sides.values())

    async def _refresh_until_joined(self) -> None:
        while True:
            async with self.http.get(self.url, headers={"Accept": "application/json"}) as reply:
                state = (await reply.json())["battle"]
            self.refreshes += 1
            self.state_apply(state, time.perf_counter())
            if not self.has_gap() or state.get("stage") != "generating":
                return
            await asyncio.sleep(RESYNC_RETRY_S)

    async def close(self) -> None:
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh


@dataclass
class PageRound:
    battle_id: int
    started_wall: float  # time.time() when the POST was sent (the database's timestamps are wall-clock)
    post_s: float  # POST sent -> its answer
    socket_open_s: float  # POST sent -> websocket open
    ttft_socket_s: float | None  # POST sent -> first text of side A on the socket
    ttft_shown_s: float | None  # POST sent -> first text of side A the page can show (no gap before it)
    decode_tps: float | None  # side A over the socket
    end_to_end_s: float  # POST sent -> side A's side_done
    output_tokens: int  # side A, as stored
    counted_pieces: int  # the running count in side A's last tokens message (text pieces)
    messages: int  # tokens messages of side A
    gaps: int  # tokens messages past the end of the page's text (sent before the socket joined)
    reconnects: int  # the socket closed under the page, which opened it again
    worker_ttft_s: float | None  # as the worker measured it (from the start of its token loop)
    worker_decode_tps: float | None  # (tokens - 1) / (duration - ttft), as the worker stored them
    status: str
    text: str
    worker_cpu_s: float = 0.0  # CPU of the worker process during the round (both sides)
    other_cpu_s: float = 0.0  # CPU of the web server and Redis during the round
    others_cores: float = 0.0  # cores kept busy by other processes on the machine meanwhile (noise)
    claimed_s: float | None = None  # POST sent -> the worker claimed side A (Response.started_at)
    side_thread_cpu_s: float = 0.0  # CPU of the worker's busiest thread during the round: side A's


def _cookie(jar: Any, name: str) -> str:
    for cookie in jar:
        if cookie.key == name:
            return cookie.value
    raise RuntimeError(f"The server set no {name} cookie.")


class _Follow:
    """Side A's messages on the battle socket, across the page's reconnections."""

    def __init__(self, page: PageReplay) -> None:
        self.page = page
        self.ticks: list[tuple[float, int]] = []  # side A's tokens messages: arrival, running count
        self.first_socket_text: float | None = None
        self.done_a: dict | None = None  # side A's side_done message, with its arrival as "at"
        self.opened: float | None = None
        self.reconnects = 0

    def finished(self) -> bool:
        return all(side.status in FINISHED for side in self.page.sides.values())

    async def socket(self, ws: Any, deadline: float) -> bool:
        """Follow one connection until both sides are finished (True) or it closes (False: the page
        reconnects). A socket that got its snapshot counts as a good one (resets the back-off)."""
        import aiohttp

        got_snapshot = False
        while not self.finished():
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("The battle did not finish in time (ARENA_GENERATION_TIMEOUT_S + 60 s).")
            message = await ws.receive(timeout=remaining)
            now = time.perf_counter()
            if message.type != aiohttp.WSMsgType.TEXT:
                return got_snapshot
            data = json.loads(message.data)
            kind = data.get("type")
            if kind in ("snapshot", "state"):
                got_snapshot = True
                self.page.state_apply(data["battle"], now)
                side_a = data["battle"]["sides"]["a"]
                if self.done_a is None and side_a["status"] in FINISHED:  # its side_done went by unseen
                    self.done_a = side_a | {"at": now}
            elif kind == "tokens":
                if data.get("side") == "a":
                    self.ticks.append((now, int(data.get("output_tokens") or 0)))
                    if self.first_socket_text is None and data.get("text"):
                        self.first_socket_text = now
                self.page.tokens_apply(data, now)
            elif kind == "side_done":
                self.page.side_apply(data["side"], data, now)
                if data["side"] == "a":
                    self.done_a = data | {"at": now}
        return True


async def page_round(*, base: str, prompt: str, contender_a: str, contender_b: str, timeout_s: float) -> PageRound:
    """One named battle as the page runs it, timed from sending the POST."""
    import aiohttp

    jar = aiohttp.CookieJar(unsafe=True)  # aiohttp drops cookies of a bare IP address otherwise
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{base}/arena/compare/") as reply:  # the session and CSRF cookies, as a page load
            reply.raise_for_status()
            await reply.read()
        headers = {
            "X-CSRFToken": _cookie(jar, "csrftoken"), "Origin": base, "Referer": f"{base}/arena/compare/",
            "Accept": "application/json", "X-Requested-With": "XMLHttpRequest",
        }
        started, started_wall = time.perf_counter(), time.time()
        body = {"prompt": prompt, "contender_a": contender_a, "contender_b": contender_b}
        async with http.post(f"{base}/arena/battles/", json=body, headers=headers) as reply:
            answer = await reply.json()
            if reply.status != 201:
                raise RuntimeError(f"POST /arena/battles/ answered {reply.status}: {answer}")
        posted = time.perf_counter()
        battle = answer["battle"]
        page = PageReplay(http, base, battle["id"], started)
        page.state_apply(battle, posted)
        follow = _Follow(page)
        try:
            retry = 0
            while not follow.finished():
                async with http.ws_connect(base.replace("http", "ws", 1) + battle["ws_url"], origin=base) as ws:
                    follow.opened = follow.opened or time.perf_counter()
                    retry = 0 if await follow.socket(ws, started + timeout_s) else retry
                if not follow.finished():
                    # Closed under us: the page reconnects after 1, 2, 4... s (arena.js scheduleReconnect).
                    follow.reconnects += 1
                    await asyncio.sleep(min(2.0**retry, RECONNECT_MAX_S))
                    retry += 1
        finally:
            await page.close()
    done, ticks, first_socket_text, opened = follow.done_a, follow.ticks, follow.first_socket_text, follow.opened
    if done is None or opened is None:
        raise RuntimeError("Side A finished before the websocket said so: nothing to time. Use more tokens.")
    tokens = int(done.get("output_tokens") or 0)
    ttft, duration = done.get("time_to_first_token_s"), done.get("duration_s")
    worker_tps = (tokens - 1) / (duration - ttft) if ttft is not None and duration and duration > ttft else None
    decode = None
    if len(ticks) >= 2 and ticks[-1][0] > ticks[0][0]:
        decode = (ticks[-1][1] - ticks[0][1]) / (ticks[-1][0] - ticks[0][0])
    if first_socket_text is None and page.first_shown is not None:
        first_socket_text = page.first_shown  # the text came in the snapshot, stored before the socket opened
    return PageRound(
        battle_id=battle["id"],
        started_wall=started_wall,
        post_s=posted - started,
        socket_open_s=opened - started,
        ttft_socket_s=None if first_socket_text is None else first_socket_text - started,
        ttft_shown_s=None if page.first_shown is None else page.first_shown - started,
        decode_tps=decode,
        end_to_end_s=done["at"] - started,
        output_tokens=tokens,
        counted_pieces=ticks[-1][1] if ticks else 0,
        messages=len(ticks),
        gaps=page.gaps,
        reconnects=follow.reconnects,
        worker_ttft_s=ttft,
        worker_decode_tps=worker_tps,
        status=done.get("status", ""),
        text=done.get("text") or "",
    )


def page_round_measured(services: Services, **kwargs: Any) -> PageRound:
    """A page round, with the CPU the worker, the web server and Redis spent on it, and the noise."""
    worker = services.pids()["worker"]
    threads_before = threads_cpu_s(worker)
    with CpuWatch(services.pids()) as watch:
        result = asyncio.run(page_round(**kwargs))
    threads_after = threads_cpu_s(worker)
    # Side A's thread is the busiest one (side B stops after a token); in a full battle, the busier side's.
    result.side_thread_cpu_s = max(cpu - threads_before.get(tid, 0.0) for tid, cpu in threads_after.items())
    time.sleep(SETTLE_S)  # the task's last writes and messages
    result.worker_cpu_s = watch.spent["worker"]
    result.other_cpu_s = watch.spent["web"] + watch.spent["redis"]
    result.others_cores = watch.others_cores
    from arena.models import Response

    claimed = Response.objects.get(battle_id=result.battle_id, side="a").started_at
    result.claimed_s = claimed.timestamp() - result.started_wall if claimed else None
    return result


# --- in this process: model.generate, and the worker's loop -----------------------------------------


@dataclass
class LocalRound:
    ttft_s: float | None  # from the call (prompt ids included) to the first token
    decode_tps: float | None
    duration_s: float
    output_tokens: int  # without the end-of-sequence token, as the worker counts
    text: str
    cpu_s: float  # this thread's CPU time (torch runs in it with one thread)
    worker_cpu_s: float = 0.0  # CPU the worker process spent meanwhile (it should be idle)
    others_cores: float = 0.0  # cores kept busy by other processes on the machine meanwhile (noise)


def _timing_streamer() -> Any:
    from transformers.generation.streamers import BaseStreamer

    class TimingStreamer(BaseStreamer):
        """Timestamps each token in the generating thread (no second thread, unlike TextIteratorStreamer)."""

        def __init__(self) -> None:
            self.prompt_seen = False
            self.ids: list[int] = []
            self.times: list[float] = []

        def put(self, value: Any) -> None:
            now = time.perf_counter()
            if not self.prompt_seen:  # generate() first puts the prompt
                self.prompt_seen = True
                return
            for token in value.reshape(-1).tolist():
                self.ids.append(int(token))
                self.times.append(now)

        def end(self) -> None:
            pass

    return TimingStreamer()


def _rate(times: list[float]) -> float | None:
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) >= 2 and times[-1] > times[0] else None


def direct_round(lm: Any, prompt: str, max_new_tokens: int) -> LocalRound:
    """``model.generate``, greedy, on the same prompt ids, token budget and end-of-sequence ids as the worker."""
    import torch

    from workers.generation import build_prompt_ids, eos_token_ids

    stops = eos_token_ids(lm)
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else min(stops)
    streamer = _timing_streamer()
    cpu, started = time.thread_time(), time.perf_counter()
    input_ids = build_prompt_ids(lm, prompt)
    with torch.inference_mode():
        lm.model.generate(
            input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False, max_new_tokens=max_new_tokens,
            eos_token_id=sorted(stops), pad_token_id=pad, streamer=streamer,
        )
    finished, cpu = time.perf_counter(), time.thread_time() - cpu
    ttft = streamer.times[0] - started if streamer.times else None  # first token chosen, EOS too (as the worker)
    # The worker neither counts nor streams the end-of-sequence token.
    cut = next((i for i, token in enumerate(streamer.ids) if token in stops), len(streamer.ids))
    ids, times = streamer.ids[:cut], streamer.times[:cut]
    text = lm.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return LocalRound(ttft, _rate(times), finished - started, len(ids), text, cpu)


def loop_round(lm: Any, prompt: str, max_new_tokens: int) -> LocalRound:
    """The worker's token loop (``workers.generation.generate``), here, with an on_token that only timestamps."""
    from workers.generation import DecodingConfig, generate

    times: list[float] = []
    cpu, started = time.thread_time(), time.perf_counter()
    result = generate(lm, prompt, DecodingConfig(method="greedy", max_new_tokens=max_new_tokens),
                      on_token=lambda _delta: times.append(time.perf_counter()))
    finished, cpu = time.perf_counter(), time.thread_time() - cpu
    return LocalRound(result.time_to_first_token_s, _rate(times), finished - started, result.output_tokens,
                      result.text, cpu)


def local_round_measured(services: Services, run: Callable[[], LocalRound],
                         competitor: Callable[[], object] | None = None) -> LocalRound:
    """A round in this process, with the worker's CPU meanwhile (to show that it was idle), and the noise.

    With ``competitor``, it runs in a second thread of this process from the start, as side B runs next to
    side A in the worker's other thread: a full battle's competition for the cores, on both paths."""
    import threading

    other = threading.Thread(target=competitor, name="side-b", daemon=True) if competitor else None
    with CpuWatch(services.pids()) as watch:
        if other:
            other.start()
        result = run()
        if other:
            other.join()
    result.worker_cpu_s = watch.spent["worker"]
    result.others_cores = watch.others_cores
    time.sleep(SETTLE_S)
    return result


# --- report ------------------------------------------------------------------------------------------


def _ms(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{1000 * value:.{digits}f}"


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


HEADER = (
    f"{'round':<7}{'ttft page':>10}{'shown':>7}{'direct':>8}{'extra':>7}  |"
    f"{'tok/s page':>11}{'worker':>8}{'loop':>7}{'direct':>8}{'ratio':>7}  |"
    f"{'e2e s':>7}{'tokens':>7}{'msgs':>6}{'gaps':>5}{'reconn':>7}{'same':>6}{'noise':>7}"
)
QUIET_CORES = 0.2  # a round is "quiet" when other processes kept less than this many cores busy in each part


def _noise(page: PageRound, direct: LocalRound, loop: LocalRound) -> float:
    return max(page.others_cores, direct.others_cores, loop.others_cores)


def row(label: str, page: PageRound, direct: LocalRound, loop: LocalRound, same: bool | None = None,
        noise: bool = True) -> str:
    extra = None if page.ttft_socket_s is None or direct.ttft_s is None else page.ttft_socket_s - direct.ttft_s
    shown_noise = _noise(page, direct, loop) if noise else None
    return (
        f"{label:<7}{_ms(page.ttft_socket_s):>10}{_ms(page.ttft_shown_s):>7}{_ms(direct.ttft_s):>8}{_ms(extra):>7}  |"
        f"{_f(page.decode_tps):>11}{_f(page.worker_decode_tps):>8}{_f(loop.decode_tps):>7}{_f(direct.decode_tps):>8}"
        f"{_f(_ratio(page.decode_tps, direct.decode_tps), 3):>7}  |"
        f"{page.end_to_end_s:>7.2f}{page.output_tokens:>7}{page.messages:>6}{page.gaps:>5}{page.reconnects:>7}"
        f"{'-' if same is None else ('yes' if same else 'NO'):>6}{_f(shown_noise, 2):>7}"
    )


def _combine(rounds: list[Any], cls: type, pick: Callable[[list[float]], float]) -> Any:
    """One row of ``cls`` whose numeric fields are ``pick`` (median, min, max) of the rounds'."""
    values = {}
    for name in cls.__dataclass_fields__:
        column = [getattr(r, name) for r in rounds]
        present = [v for v in column if isinstance(v, int | float) and not isinstance(v, bool)]
        if present and len(present) == len([v for v in column if v is not None]):
            value = pick(present)
            values[name] = round(value) if all(isinstance(v, int) for v in present) else value
        else:
            values[name] = column[0]
    return cls(**values)


def _best(rounds: list[Any], cls: type) -> Any:
    """The best of each figure (fastest rate, shortest times): on a shared machine, the closest to no noise."""
    row_ = _combine(rounds, cls, max)
    for name in ("ttft_socket_s", "ttft_shown_s", "ttft_s", "post_s", "socket_open_s", "end_to_end_s",
                 "duration_s", "worker_ttft_s", "others_cores", "messages", "gaps", "reconnects", "claimed_s"):
        if hasattr(row_, name):
            setattr(row_, name, _combine(rounds, cls, min).__dict__[name])
    return row_


def summary(label: str, pages: list[PageRound], directs: list[LocalRound], loops: list[LocalRound]) -> None:
    page, direct, loop = (_combine(pages, PageRound, statistics.median), _combine(directs, LocalRound,
                          statistics.median), _combine(loops, LocalRound, statistics.median))
    ratios = [_ratio(p.decode_tps, d.decode_tps) for p, d in zip(pages, directs, strict=True)]
    ratio = _median(ratios)
    verdict = "met" if ratio is not None and ratio >= TARGET_RATIO else "NOT met"
    print(f"\n{label}:")
    print(f"  decode tokens/s, worker + websocket / model.generate: median ratio {_f(ratio, 3)} "
          f"({_f(page.decode_tps)} / {_f(direct.decode_tps)}); target >= {TARGET_RATIO}: {verdict}")
    print(f"  the worker's loop in this process / model.generate: {_f(_ratio(loop.decode_tps, direct.decode_tps), 3)};"
          f" the worker's own (stored) figure / model.generate: "
          f"{_f(_ratio(page.worker_decode_tps, direct.decode_tps), 3)}")
    extra = None if page.ttft_socket_s is None or direct.ttft_s is None else page.ttft_socket_s - direct.ttft_s
    print(f"  time to first token: page {_ms(page.ttft_socket_s)} ms on the socket, {_ms(page.ttft_shown_s)} ms "
          f"shown; model.generate {_ms(direct.ttft_s)} ms; extra {_ms(extra)} ms")
    rest = None
    if None not in (page.ttft_socket_s, page.claimed_s, page.worker_ttft_s):
        rest = page.ttft_socket_s - page.claimed_s - page.worker_ttft_s
    print(f"    of the page's: POST answered after {_ms(page.post_s)} ms (socket open after {_ms(page.socket_open_s)} "
          f"ms); side A claimed by the worker after {_ms(page.claimed_s)} ms; its token loop's first token "
          f"{_ms(page.worker_ttft_s)} ms later (the same loop here: {_ms(loop.ttft_s)} ms); then {_ms(rest)} ms to "
          "the page (model cache, meter, first flush, Redis, daphne, socket)")
    print(f"  end to end (POST -> side done): {page.end_to_end_s:.2f} s for {page.output_tokens:.0f} tokens; "
          f"model.generate {direct.duration_s:.2f} s")
    cpu_page = page.worker_cpu_s / page.output_tokens if page.output_tokens else None
    cpu_direct = direct.cpu_s / direct.output_tokens if direct.output_tokens else None
    cpu_loop = loop.cpu_s / loop.output_tokens if loop.output_tokens else None
    cpu_side = page.side_thread_cpu_s / page.output_tokens if page.output_tokens else None
    print(f"  CPU per token: side A's worker thread {_ms(cpu_side, 1)} ms, model.generate {_ms(cpu_direct, 1)} ms, "
          f"the loop here {_ms(cpu_loop, 1)} ms; the whole worker process {_ms(cpu_page, 1)} ms (side B and Celery "
          f"too); web server + Redis {_ms(page.other_cpu_s)} ms a battle")


def report(pages: list[PageRound], directs: list[LocalRound], loops: list[LocalRound], loads: list[float],
           args: argparse.Namespace) -> None:
    print("\n" + HEADER)
    for i, (p, d, lo) in enumerate(zip(pages, directs, loops, strict=True), start=1):
        print(row(str(i), p, d, lo, p.text == d.text))
    print(row("median", _combine(pages, PageRound, statistics.median), _combine(directs, LocalRound,
              statistics.median), _combine(loops, LocalRound, statistics.median)))
    print(row("best", _best(pages, PageRound), _best(directs, LocalRound), _best(loops, LocalRound), noise=False))
    print("(ttft in ms from sending the POST / calling generate; tok/s = decode rate after the first token; noise = "
          "cores other processes kept busy, the most of the round's three measurements)")
    summary(f"all {len(pages)} rounds, medians", pages, directs, loops)
    noise = [_noise(p, d, lo) for p, d, lo in zip(pages, directs, loops, strict=True)]
    quiet = [i for i, value in enumerate(noise) if value < QUIET_CORES]
    if quiet and len(quiet) < len(pages):
        summary(f"the {len(quiet)} quiet round(s) (noise < {QUIET_CORES} cores), medians",
                [pages[i] for i in quiet], [directs[i] for i in quiet], [loops[i] for i in quiet])
    elif not quiet:
        print(f"\nno round was quiet (other processes kept >= {QUIET_CORES} cores busy): the figures are noisy; "
              "the 'best' row is the closest to an idle machine")
    best_ratio = _ratio(_best(pages, PageRound).decode_tps, _best(directs, LocalRound).decode_tps)
    print(f"best page rate / best direct rate: {_f(best_ratio, 3)}")
    idle = max(d.worker_cpu_s for d in directs + loops)
    print(f"the worker was idle during the in-process measurements: at most {_ms(idle)} ms of its CPU in one")
    if any(p.counted_pieces != p.output_tokens for p in pages):
        print("note: the socket counts text pieces, not tokens, and they differed in some rounds: "
              + ", ".join(f"{p.counted_pieces}/{p.output_tokens}" for p in pages))
    if any(p.reconnects for p in pages):
        print("note: the server closed the battle socket under the page in some rounds (it reconnected, as arena.js "
              "does, and lost the tokens sent meanwhile): " + ", ".join(str(p.reconnects) for p in pages))
    if any(p.text != d.text for p, d in zip(pages, directs, strict=True)):
        print("note: the worker's text differed from model.generate's in some rounds (see 'same').")
    print(f"\nsetup: {args.max_new_tokens} new tokens, greedy, float32 on CPU, {args.threads} torch thread(s) per "
          f"request; side B stops after {args.other_max_new_tokens} token(s); stream flush every "
          f"{args.flush_s} s; {os.cpu_count()} cores; 1-minute load before each round "
          f"{', '.join(f'{load:.2f}' for load in loads)}")


# --- main --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--other-max-new-tokens", type=int, default=1,
                        help="token budget of side B: 1 (it prefills with side A, then leaves it the cores) or "
                             "as --max-new-tokens (a full battle: both sides compete for the cores)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--wait-quiet", type=float, default=30.0, metavar="SECONDS",
                        help="before each measurement, wait up to this long for a second in which the machine is "
                             "nearly idle (0: don't wait)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, logs)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or not 1 <= args.max_new_tokens <= 4096 or not 1 <= args.other_max_new_tokens <= 4096:
        parser.error("--rounds must be >= 1 and token budgets between 1 and 4096")

    # SIGTERM ends the run like Ctrl-C, through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    # A short path: a unix socket path must stay under 108 bytes.
    tmp = Path(tempfile.mkdtemp(prefix="genbench-", dir="/tmp"))
    environment_set(tmp)
    services: Services | None = None
    try:
        from tqdm import tqdm

        django_setup()
        contender, twin = contenders_prepare(max_new_tokens=args.max_new_tokens,
                                             other_max_new_tokens=args.other_max_new_tokens)
        import torch
        from django.conf import settings

        from workers import runtime

        # The worker runs each request with ARENA_TORCH_THREADS threads; so does model.generate here.
        torch.set_num_threads(settings.ARENA_TORCH_THREADS)
        args.threads = torch.get_num_threads()
        args.flush_s = settings.ARENA_STREAM_FLUSH_S
        lm = runtime.language_model_get(path=contender.model.prepared_path, precision=contender.precision)

        services = Services(tmp, ["default", contender.model.queue_name], concurrency=2)
        tqdm.write(f"starting Redis, the worker and the web server ({services.base}) in {tmp}")
        services.start()
        services.wait_ready()
        page_kwargs = {"base": services.base, "prompt": args.prompt, "contender_a": contender.slug,
                       "contender_b": twin.slug, "timeout_s": settings.ARENA_GENERATION_TIMEOUT_S + 60.0}
        # Warm-up, not counted: the worker loads the model on its first request (or its warm-up thread),
        # and first calls of torch and the tokenizer are slower.
        tqdm.write("warm-up (not counted)")
        page_round_measured(services, **page_kwargs)
        competitor: Callable[[], object] | None = None
        if args.other_max_new_tokens > 1:  # a full battle: side B's loop runs next to the direct measurements too
            from workers.generation import DecodingConfig, generate

            side_b = DecodingConfig(method="greedy", max_new_tokens=args.other_max_new_tokens)
            competitor = functools.partial(generate, lm, args.prompt, side_b)

        local_round_measured(services, lambda: direct_round(lm, args.prompt, args.max_new_tokens), competitor)
        local_round_measured(services, lambda: loop_round(lm, args.prompt, args.max_new_tokens), competitor)

        pages: list[PageRound] = []
        directs: list[LocalRound] = []
        loops: list[LocalRound] = []
        loads: list[float] = []
        bar = tqdm(range(args.rounds), desc="rounds")
        tqdm.write(HEADER)
        for i in bar:
            loads.append(os.getloadavg()[0])
            measured: dict[str, Any] = {}
            order = ("page", "direct", "loop") if i % 2 == 0 else ("direct", "loop", "page")
            for what in order:
                if args.wait_quiet > 0:
                    bar.set_postfix_str("waiting for a quiet machine")
                    quiet_wait(args.wait_quiet)
                bar.set_postfix_str(what)
                services.check_alive()
                if what == "page":
                    measured[what] = page_round_measured(services, **page_kwargs)
                elif what == "direct":
                    measured[what] = local_round_measured(
                        services, lambda: direct_round(lm, args.prompt, args.max_new_tokens), competitor)
                else:
                    measured[what] = local_round_measured(
                        services, lambda: loop_round(lm, args.prompt, args.max_new_tokens), competitor)
            if measured["page"].status != "done":
                raise RuntimeError(f"Side A ended '{measured['page'].status}'.\n{services.log_tail('worker')}")
            pages.append(measured["page"])
            directs.append(measured["direct"])
            loops.append(measured["loop"])
            same = pages[-1].text == directs[-1].text
            tqdm.write(row(str(i + 1), pages[-1], directs[-1], loops[-1], same))
        bar.close()
        report(pages, directs, loops, loads, args)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception:
        if services is not None:
            print(services.log_tail("worker") + "\n" + services.log_tail("web"), file=sys.stderr)
        raise
    finally:
        if services is not None:
            services.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
