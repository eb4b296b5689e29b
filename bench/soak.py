"""Chaos soak (issue 23): mixed traffic on the arena while its parts fail, one at a time.

Run from the repository root, on a machine whose PostgreSQL cluster may be restarted (it uses the
local cluster, `pg_ctlcluster`, with a database of its own; loopback only):

    .venv/bin/python bench/soak.py [--minutes 20] [--sessions 20] [--keep]

It starts the arena's processes as `make run` does (a Redis server, one Celery worker with the
launcher's thread count, daphne), on PostgreSQL, in a temporary data dir (only the converted weights
are shared with ARENA_DATA_DIR). SmolLM2-135M-Instruct's three contenders answer (48 new tokens at
most, so battles turn over) and all-MiniLM-L6-v2 is prepared for a training run.

Traffic, for --minutes: --sessions people, each in its own session, playing battles as the page does
(page load, POST, the battle's websocket, blind vote, final vote, a pause); three leaderboard readers
(the page and /api/leaderboard.json); sockets opening and closing on /ws/leaderboard/; one training
run (train_encoder --queue, 30 steps). Faults, each once, at 15 %, 35 %, 55 % and 75 % of the run:
the worker is killed (SIGKILL) and a new one started 5 s later (as a supervisor would); Redis is
stopped and started again 5 s later; PostgreSQL is restarted (`pg_ctlcluster ... restart`); the web
process is stopped (SIGTERM) and started again.

Report: votes acknowledged (200) vs stored, for both votes (lost, duplicated), every battle's final
state as the page sees it (each side finished, with a reason when it failed), HTTP answers by status
(5xx inside a fault's window, from the fault until the arena served a battle again, and outside),
the time to recover from each fault, the training run's end, and the resident memory of the worker
and web processes once warm (1 minute after they started) and at the end. It asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from capacity import ROOT, bench_folder, page_headers
from generation_overhead import FINISHED, free_port

PROMPTS = [
    "Name three fruits.", "Say hello in French.", "What is 2 + 2?", "Give me a word that rhymes with cat.",
    "Name a planet.", "What colour is the sky?", "Write one sentence about the sea.", "Name two colours.",
]
DATABASE = "arena_soak"
PREPARE = """
import django, json
django.setup()
from django.core.management import call_command
from modelhub.models import Contender, Model
from config.management.commands.runarena import worker_concurrency, worker_queue_plan
call_command("migrate", verbosity=0)
call_command("register_bundled", verbosity=0)
call_command("prepare_models", "smollm2-135m-instruct", "all-minilm-l6-v2")
Contender.objects.filter(model__source="smollm2-135m-instruct").update(max_new_tokens=48)
models = list(Model.objects.order_by("kind", "name"))
print(json.dumps({"queues": worker_queue_plan([m.queue_name for m in models], 1)[0],
                  "threads": worker_concurrency([m.kind for m in models])}))
"""
STATE = """
import django, json
django.setup()
from arena.models import Battle, Vote
from training.models import TrainingRun
votes = {v.battle_id: [v.blind_choice, v.final_choice] for v in Vote.objects.all()}
run = TrainingRun.objects.order_by("-id").first()
print(json.dumps({"votes": votes, "battles": Battle.objects.count(),
                  "training": run and [run.status, run.step, run.total_steps, run.error[:200]]}))
"""


def pg_cluster() -> tuple[str, str]:
    """(version, name) of the local PostgreSQL cluster on port 5432."""
    for line in subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout.splitlines():
        version, name, port, *_ = line.split()
        if port == "5432":
            return version, name
    raise SystemExit("No PostgreSQL cluster on port 5432 (pg_lsclusters).")


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql], check=True, capture_output=True)


class Processes:
    """Redis, the worker and the web server, each startable and stoppable on its own."""

    def __init__(self, tmp: Path, env: dict, queues: list[str], threads: int, web_port: int, redis_port: int):
        self.tmp, self.env, self.queues, self.threads = tmp, env, queues, threads
        self.web_port, self.redis_port = web_port, redis_port
        self.redis = self.worker = self.web = None
        self.started: dict[str, float] = {}
        self.memory: list[tuple[str, int, float, float | None]] = []  # name, pid, warm MiB, end MiB
        self.worker_number = 0
        self.stopping: set[str] = set()  # processes stopped on purpose (a fault), not to be restarted
        self.exits: list[tuple[str, int | None, float]] = []  # unplanned exits: name, exit code, time

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "a")  # noqa: SIM115 - lives as long as the process
        process = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.started[f"{name}:{process.pid}"] = time.monotonic()
        return process

    def start_redis(self) -> None:
        self.redis = self._spawn("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                           "--save", "", "--appendonly", "no"])

    def start_worker(self) -> None:
        self.worker_number += 1
        self.worker = self._spawn("worker", [
            sys.executable, "-m", "celery", "-A", "config.celery", "worker", "--pool", "threads",
            "--concurrency", str(self.threads), "--queues", ",".join(self.queues),
            "--hostname", f"soak-worker-{self.worker_number}@%h", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle",
        ])

    def start_web(self) -> None:
        self.web = self._spawn("web", [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.web_port),
                                       "config.asgi:application"])

    @staticmethod
    def stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def rss_mib(self, process: subprocess.Popen | None) -> float | None:
        """Resident memory of a process and its children (MiB)."""
        if process is None or process.poll() is not None:
            return None
        try:
            parent = psutil.Process(process.pid)
            return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 2**20
        except psutil.NoSuchProcess:
            return None

    def record_memory(self, name: str, process: subprocess.Popen | None, when: str) -> None:
        if process is None:
            return
        value = self.rss_mib(process)
        for i, (n, pid, warm, end) in enumerate(self.memory):
            if n == name and pid == process.pid:
                self.memory[i] = (n, pid, warm, value) if when == "end" else (n, pid, value, end)
                return
        self.memory.append((name, process.pid, value, None) if when == "warm" else (name, process.pid, None, value))

    def stop_all(self) -> None:
        self.stopping.update({"web", "worker", "redis"})
        for process in (self.web, self.worker, self.redis):
            self.stop(process)

    async def restart(self, name: str, sig: int, pause_s: float = 0.0) -> float:
        """A fault: stop the process with `sig`, wait `pause_s`, start it again (the supervisor keeps off it
        meanwhile). Returns how long it took to exit."""
        self.stopping.add(name)
        stopping = time.monotonic()
        await asyncio.to_thread(self.stop, getattr(self, name), sig)
        exited = time.monotonic() - stopping
        await asyncio.sleep(pause_s)
        {"redis": self.start_redis, "worker": self.start_worker, "web": self.start_web}[name]()
        self.stopping.discard(name)
        return exited

    async def supervise(self, t0: float) -> None:
        """Restart a process that exits unasked, 1 s later, as systemd's Restart=on-failure and the
        launcher (`make run`) do; each such exit is reported."""
        starts = {"redis": self.start_redis, "worker": self.start_worker, "web": self.start_web}
        while True:
            await asyncio.sleep(1)
            for name, start in starts.items():
                process = getattr(self, name)
                if name in self.stopping or process is None or process.poll() is None:
                    continue
                self.exits.append((name, process.returncode, time.monotonic() - t0))
                print(f"{time.monotonic() - t0:6.0f} s  the {name} exited ({process.returncode})", flush=True)
                self.record_memory(name, process, "end")
                await asyncio.sleep(1)
                start()


@dataclass
class Ledger:
    """What the clients saw."""

    statuses: Counter = field(default_factory=Counter)
    errors_5xx: list[tuple[float, int, str]] = field(default_factory=list)  # (time, status, path)
    unreachable: list[float] = field(default_factory=list)  # connection refused or reset
    battles: dict[int, object] = field(default_factory=dict)  # battle id -> the cookie jar of its session
    blind_acked: dict[int, str] = field(default_factory=dict)
    final_acked: dict[int, str] = field(default_factory=dict)
    created_at: list[float] = field(default_factory=list)  # times of battles created (201)
    served_at: list[float] = field(default_factory=list)  # times of 2xx answers
    sides_done_at: list[float] = field(default_factory=list)
    socket_opens: Counter = field(default_factory=Counter)

    def answer(self, t0: float, status: int, path: str) -> None:
        self.statuses[status] += 1
        if 200 <= status < 300:
            self.served_at.append(time.monotonic() - t0)
        if status >= 500:
            self.errors_5xx.append((time.monotonic() - t0, status, path))


async def request(http, ledger: Ledger, t0: float, method: str, url: str, **kwargs):
    """One HTTP request: (status, JSON or None), or (None, None) when the server was unreachable."""
    import aiohttp

    try:
        async with http.request(method, url, timeout=aiohttp.ClientTimeout(total=60), **kwargs) as reply:
            body = await reply.read()
            ledger.answer(t0, reply.status, url.split("/", 3)[-1])
            try:
                data = json.loads(body) if reply.content_type == "application/json" else None
            except ValueError:
                data = None
            return reply.status, data, reply.headers.get("Retry-After")
    except (TimeoutError, aiohttp.ClientError, ConnectionError):
        ledger.unreachable.append(time.monotonic() - t0)
        return None, None, None


async def person(base: str, ledger: Ledger, t0: float, stop_at: float, rng: random.Random) -> None:
    import aiohttp

    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        while time.monotonic() < stop_at:
            status, _, _ = await request(http, ledger, t0, "GET", f"{base}/arena/")
            if status != 200:
                await asyncio.sleep(2)
                continue
            headers = page_headers(jar, base)
            status, data, retry = await request(http, ledger, t0, "POST", f"{base}/arena/battles/",
                                                data={"prompt": rng.choice(PROMPTS)}, headers=headers)
            if status != 201:
                await asyncio.sleep(float(retry or 2))
                continue
            battle = data["battle"]
            ledger.battles[battle["id"]] = jar
            ledger.created_at.append(time.monotonic() - t0)
            state = await follow(http, base, battle["id"], ledger, t0, stop_at + 300)
            if state is None or state["stage"] != "blind_vote":
                await asyncio.sleep(1)
                continue
            for stage, acked in (("blind", ledger.blind_acked), ("final", ledger.final_acked)):
                choice = rng.choice(["a", "b", "tie", "bothbad"])
                for _ in range(30):  # the page lets a person click again until the vote is stored
                    status, data, retry = await request(
                        http, ledger, t0, "POST", f"{base}/arena/battles/{battle['id']}/vote/",
                        data={"stage": stage, "choice": choice}, headers=headers)
                    if status == 200:
                        acked[battle["id"]] = choice
                        break
                    if status in (400, 403, 404, 409, 429):
                        break
                    await asyncio.sleep(float(retry or 2))
                await asyncio.sleep(rng.uniform(0.5, 1.5))
            await asyncio.sleep(rng.uniform(1, 3))


async def follow(http, base: str, battle_id: int, ledger: Ledger, t0: float, deadline: float) -> dict | None:
    """Poll the battle's state as the page does when its socket is down, until both sides are finished."""
    seen_done: set[str] = set()
    while time.monotonic() < deadline:
        status, data, _ = await request(http, ledger, t0, "GET", f"{base}/arena/battles/{battle_id}/")
        if status == 200:
            state = data["battle"]
            for side, s in state["sides"].items():
                if s["status"] in FINISHED and side not in seen_done:
                    seen_done.add(side)
                    ledger.sides_done_at.append(time.monotonic() - t0)
            if all(s["status"] in FINISHED for s in state["sides"].values()):
                return state
        await asyncio.sleep(1.0)
    return None


async def reader(base: str, ledger: Ledger, t0: float, stop_at: float) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        while time.monotonic() < stop_at:
            for path in ("/leaderboard/", "/api/leaderboard.json"):
                await request(http, ledger, t0, "GET", base + path)
            await asyncio.sleep(2)


async def sockets(base: str, ledger: Ledger, stop_at: float) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        while time.monotonic() < stop_at:
            try:
                async with http.ws_connect(base.replace("http", "ws", 1) + "/ws/leaderboard/", origin=base,
                                           timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
                    message = await asyncio.wait_for(ws.receive(), 10)
                    ledger.socket_opens["heard" if message.type == aiohttp.WSMsgType.TEXT else "closed"] += 1
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                ledger.socket_opens["failed"] += 1
            await asyncio.sleep(0.5)


def wait_port(port: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port}")


def recovery(fault_at: float, ledger: Ledger) -> float | None:
    """Seconds from a fault until the arena works again: a request answered 2xx and a side of a battle
    finished (its page saw it), both after the fault."""
    served = [t for t in ledger.served_at if t > fault_at]
    done = [t for t in ledger.sides_done_at if t > fault_at]
    if not served or not done:
        return None
    return max(min(served), min(done)) - fault_at


async def soak(args, processes: Processes, base: str, env: dict) -> dict:
    ledger = Ledger()
    t0 = time.monotonic()
    duration = args.minutes * 60
    stop_at = t0 + duration
    tasks = [asyncio.create_task(person(base, ledger, t0, stop_at, random.Random(i))) for i in range(args.sessions)]
    tasks += [asyncio.create_task(reader(base, ledger, t0, stop_at)) for _ in range(3)]
    tasks.append(asyncio.create_task(sockets(base, ledger, stop_at)))
    training = await asyncio.to_thread(subprocess.run, [
        sys.executable, "manage.py", "train_encoder", "all-MiniLM-L6-v2", "--objective", "cosent", "--name",
        "Soak MiniLM", "--pairs", str(args.pairs), "--steps", "30", "--batch-size", "16", "--queue",
    ], cwd=ROOT, env=env, capture_output=True, text=True)
    print("training run:", (training.stdout + training.stderr).strip().splitlines()[-1:], flush=True)

    faults: list[tuple[str, float]] = []

    async def at(fraction: float) -> float:
        await asyncio.sleep(max(0.0, t0 + fraction * duration - time.monotonic()))
        return time.monotonic() - t0

    async def warm_memory() -> None:
        await asyncio.sleep(60)
        processes.record_memory("worker", processes.worker, "warm")
        processes.record_memory("web", processes.web, "warm")

    asyncio.create_task(warm_memory())
    supervisor = asyncio.create_task(processes.supervise(t0))
    now = await at(0.15)
    print(f"{now:6.0f} s  fault: the worker is killed", flush=True)
    processes.record_memory("worker", processes.worker, "end")
    faults.append(("worker killed, a new one 5 s later", now))
    await processes.restart("worker", signal.SIGKILL, pause_s=5)
    asyncio.create_task(warm_memory())

    now = await at(0.35)
    print(f"{now:6.0f} s  fault: Redis restarts", flush=True)
    faults.append(("Redis stopped, started 5 s later", now))
    await processes.restart("redis", signal.SIGTERM, pause_s=5)

    now = await at(0.55)
    print(f"{now:6.0f} s  fault: PostgreSQL restarts", flush=True)
    version, name = pg_cluster()
    faults.append(("PostgreSQL restarted (pg_ctlcluster restart)", now))
    await asyncio.to_thread(subprocess.run, ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart"],
                            check=True)

    now = await at(0.75)
    print(f"{now:6.0f} s  fault: the web process restarts", flush=True)
    processes.record_memory("web", processes.web, "end")
    exited = await processes.restart("web", signal.SIGTERM)
    faults.append((f"web process stopped (SIGTERM, it exited in {exited:.1f} s) and started again", now))
    await asyncio.to_thread(wait_port, processes.web_port)
    asyncio.create_task(warm_memory())

    await asyncio.gather(*tasks)
    supervisor.cancel()
    processes.record_memory("worker", processes.worker, "end")
    processes.record_memory("web", processes.web, "end")
    return {"ledger": ledger, "faults": faults, "t0": t0}


async def final_states(base: str, ledger: Ledger) -> Counter:
    """Each battle as its own session's page sees it now: stage, and sides finished with a reason."""
    import aiohttp

    outcome: Counter = Counter()
    for battle_id, jar in ledger.battles.items():
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            status, data, _ = await request(http, Ledger(), 0, "GET", f"{base}/arena/battles/{battle_id}/")
        if status != 200:
            outcome[f"unreadable ({status})"] += 1
            continue
        sides = data["battle"]["sides"].values()
        finished = all(s["status"] in FINISHED for s in sides)
        reasons = all(s["status"] == "done" or s["error"] for s in sides)
        outcome[f"{data['battle']['stage']}, sides {'finished' if finished else 'NOT finished'}"
                f"{'' if reasons else ', a failure without a reason'}"] += 1
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--pairs", type=Path, default=Path("/work/shared/data/stsbenchmark/sts-train.csv"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    with bench_folder("arena-soak-", args.keep) as tmp:
        models = settings.ARENA_MODELS_DIR
        models.mkdir(parents=True, exist_ok=True)
        (tmp / "models").symlink_to(models)
        web_port, redis_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
        env.update(
            ARENA_DATA_DIR=str(tmp), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DATABASE}", REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            ARENA_BATTLES_PER_MINUTE_PER_IP="100000", ARENA_VOTES_PER_DAY_PER_IP="100000", LOG_LEVEL="WARNING",
        )
        psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        psql(f"CREATE DATABASE {DATABASE}")
        print("Preparing SmolLM2 and MiniLM on PostgreSQL…", flush=True)
        done = subprocess.run([sys.executable, "-c", PREPARE], cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"Preparation failed:\n{done.stdout}{done.stderr}")
        plan = json.loads(done.stdout.strip().splitlines()[-1])
        processes = Processes(tmp, env, plan["queues"], plan["threads"], web_port, redis_port)
        base = f"http://127.0.0.1:{web_port}"
        try:
            processes.start_redis()
            wait_port(redis_port)
            processes.start_worker()
            processes.start_web()
            wait_port(web_port)
            print(f"Soak: {args.minutes:g} min, {args.sessions} sessions, on {base}", flush=True)
            result = asyncio.run(soak(args, processes, base, env))
            print("Traffic stopped; letting the last answers finish (up to 4 min)…", flush=True)
            time.sleep(30)
            outcome = asyncio.run(final_states(base, result["ledger"]))
            state = subprocess.run([sys.executable, "-c", STATE], cwd=ROOT, env=env, capture_output=True, text=True)
            stored = json.loads(state.stdout.strip().splitlines()[-1])
        finally:
            processes.stop_all()
            psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        report(args, result, outcome, stored, processes)


def report(args, result: dict, outcome: Counter, stored: dict, processes: Processes) -> None:
    ledger, faults = result["ledger"], result["faults"]
    votes = {int(k): v for k, v in stored["votes"].items()}
    blind_lost = [b for b in ledger.blind_acked if b not in votes]
    final_lost = [b for b, c in ledger.final_acked.items() if b not in votes or votes[b][1] != c]
    blind_changed = [b for b, c in ledger.blind_acked.items() if b in votes and votes[b][0] != c]
    windows = []
    faults = sorted([*faults, *((f"the {name} exited unasked (exit code {code}), restarted 1 s later", at)
                                for name, code, at in processes.exits)], key=lambda fault: fault[1])
    for name, at in faults:
        back = recovery(at, ledger)
        windows.append((name, at, back))
    inside = outside = 0
    for t, _, _ in ledger.errors_5xx:
        if any(at <= t <= at + (back if back is not None else 1e9) for _, at, back in windows):
            inside += 1
        else:
            outside += 1
    lines = [
        f"Soak: {args.minutes:g} min, {args.sessions} sessions, 3 leaderboard readers, a socket opening every 0.5 s,"
        " one training run",
        f"battles created: {len(ledger.battles)} (stored in all: {stored['battles']})",
        f"blind votes acknowledged {len(ledger.blind_acked)}, stored {sum(1 for b in ledger.blind_acked if b in votes)}"
        f" (lost {len(blind_lost)}, stored with another choice {len(blind_changed)})",
        f"final votes acknowledged {len(ledger.final_acked)}, lost or different {len(final_lost)};"
        f" duplicates impossible (one vote row per battle), rows {len(votes)}",
        "battles as their pages see them at the end: " + "; ".join(f"{n} {k}" for k, n in sorted(outcome.items())),
        "HTTP answers: " + ", ".join(f"{status}: {n}" for status, n in sorted(ledger.statuses.items())),
        f"5xx inside fault windows {inside}, outside {outside};"
        f" unreachable (refused or reset) {len(ledger.unreachable)}",
        f"leaderboard sockets: {dict(ledger.socket_opens)}",
        f"training run at the end: {stored['training']}",
    ]
    for name, at, back in windows:
        lines.append(f"fault at {at:5.0f} s: {name}; working again (a 2xx answer and a finished side) after "
                     f"{'never' if back is None else f'{back:.1f} s'}")
    for name, pid, warm, end in processes.memory:
        growth = f"{(end / warm - 1) * 100:+.0f} %" if warm and end else "-"
        lines.append(f"memory {name} (pid {pid}): warm {warm or 0:.0f} MiB, end {end or 0:.0f} MiB ({growth})")
    if ledger.errors_5xx:
        lines.append("5xx: " + ", ".join(f"{t:.0f}s {s} {p}" for t, s, p in ledger.errors_5xx[:20]))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
