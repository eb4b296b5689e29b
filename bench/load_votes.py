"""Benchmark: the vote path of the web tier under load (blind vote, then the vote after the energy reveal).

Run from the repository root against PostgreSQL and Redis; it creates and drops a database of its own
and flushes one Redis database before and after (nothing else is touched):

    python bench/load_votes.py [--battles 2000] [--concurrency 64] [--server uvicorn|daphne] [--web-processes 2]
                               [--pool-size 20] [--rate VOTES_PER_S] [--cost-battles 200] [--seed 0] [--keep]
                               [--postgres postgres://postgres@127.0.0.1:5432] [--redis redis://127.0.0.1:6379/9]

Setup: every pair of bundled chat contenders voted and folded (the leaderboard rows exist), ``--battles``
battles with finished answers dealt to ``--concurrency`` sessions (an address each). Then the web server
(DEBUG off, DATABASE_CONN_MAX_AGE=0, DATABASE_POOL_SIZE per process) and every battle's blind then final
vote from its session (aiohttp, CSRF by double submit): closed loop (mean latency = concurrency /
throughput), or open loop with ``--rate`` (Poisson arrivals, latency from the intended send time). No
Celery worker runs: the pending votes are folded in process (timed), the database checked against the
acknowledged votes, and one vote timed in process. Asserts nothing; a shared 2-core machine is noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil
import psycopg
import redis
from django.conf import settings  # lazy: usable once main() has set the environment and called setup
from django.db import connection, connections
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arena.choices import CHOICES  # noqa: E402 - plain Python, no Django

TARGET_VOTES_PER_S, TARGET_P99_MS = 500.0, 100.0


def admin_connect(server: str):
    return psycopg.connect(f"{server.rstrip('/')}/postgres", autocommit=True)


def database_recreate(server: str, name: str, create: bool = True) -> None:
    with admin_connect(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def redis_flush(url: str) -> None:
    """The debounced refit tasks land in this Redis database; no worker takes them."""
    with contextlib.closing(redis.Redis.from_url(url)) as client:
        client.flushdb()


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    """Environment of this process and of the server (which adds DATABASE_POOL_SIZE)."""
    return {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "DEBUG": "0", "DATABASE_CONN_MAX_AGE": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",  # testserver: django.test.Client in vote_cost
        # The whole run is one day from one machine: the caps would refuse it (their counts still run).
        "ARENA_VOTES_PER_DAY_PER_SESSION": "1000000000", "ARENA_VOTES_PER_DAY_PER_IP": "1000000000",
        "SECRET_KEY": "bench-load-votes-" + "x" * 40,  # setup and server must agree on sessions and CSRF
        "LOG_LEVEL": "WARNING", "CHANNELS_PREFIX": "bench-votes", "HF_HUB_OFFLINE": "1", "ARENA_WARM_MODELS": "0",
    }


@dataclass
class Flow:
    battle_id: int
    blind: str
    final: str


@dataclass
class Session:
    key: str
    csrf: str  # Django accepts an unmasked 32-character secret from the cookie and the header alike
    client_ip: str
    flows: list[Flow] = field(default_factory=list)


def sessions_create(n: int, rng: random.Random) -> list[Session]:
    from importlib import import_module

    engine, sessions = import_module(settings.SESSION_ENGINE), []
    for i in range(n):
        store = engine.SessionStore()
        store.create()  # a real row, as the arena page creates on the first visit
        csrf = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(32))
        sessions.append(Session(store.session_key, csrf, f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"))
    return sessions


def battles_create(n: int, sessions: list[Session], contenders: list, rng: random.Random,
                   pairs: list | None = None) -> None:
    """``n`` chat battles with both answers finished, dealt round robin; pairs drawn as the arena does."""
    from django.utils import timezone

    from arena.models import Battle, Response
    from arena.sampling import Candidate, sample_pair

    candidates = [Candidate(id=c.id, family=c.model.family, weight=c.sampling_weight) for c in contenders]
    words = "energy joule token model answer prompt watt battery heat light power sun wind water".split()
    for start in range(0, n, 1000):
        owners, now = [sessions[i % len(sessions)] for i in range(start, min(n, start + 1000))], timezone.now()
        battles = Battle.objects.bulk_create([
            Battle(prompt=f"Explain {rng.choice(words)} ({start + i}).", contender_a_id=a.id, contender_b_id=b.id,
                   policy="uniform", session_key=s.key, client_ip=s.client_ip)
            for i, s in enumerate(owners)
            for a, b in [pairs[start + i] if pairs else sample_pair(candidates, "uniform", rng)]
        ])
        Response.objects.bulk_create([
            Response(battle=battle, side=side, contender_id=cid, status=Response.Status.DONE, finish_reason="stop",
                     text=" ".join(rng.choices(words, k=tokens)), prompt_tokens=20, output_tokens=tokens,
                     time_to_first_token_s=0.3, duration_s=tokens / 25, joules=tokens * 0.6, energy_source="estimate",
                     energy_method="CPU time × 15 W", device="cpu", worker="bench", started_at=now, finished_at=now)
            for battle in battles for side, cid in (("a", battle.contender_a_id), ("b", battle.contender_b_id))
            for tokens in [rng.randint(20, 200)]
        ])
        for battle, owner in zip(battles, owners, strict=True):
            blind = rng.choice(CHOICES)
            owner.flows.append(Flow(battle.id, blind, blind if rng.random() < 0.7 else rng.choice(CHOICES)))


def setup(battles: int, concurrency: int, rng: random.Random) -> tuple[list, list[Session]]:
    from analysis.leaderboard.services.votes import aggregates_fold
    from arena.services import vote_cast
    from modelhub.models import Model
    from modelhub.selectors import contenders_ready
    from modelhub.services import bundled_models_register

    bundled_models_register(queue_preparation=False)
    Model.objects.update(status=Model.Status.READY, progress=1.0, progress_text="ready (benchmark)")
    contenders = list(contenders_ready(kind="chat"))  # the pool an anonymous chat battle draws from
    # Every ordered pair with every outcome: the fold after the load then creates no aggregate row.
    pairs = [(a, b) for a in contenders for b in contenders if a.id != b.id for _ in CHOICES]
    warm = sessions_create(1, rng)[0]
    battles_create(len(pairs), [warm], contenders, rng, pairs)
    for flow, outcome in zip(warm.flows, CHOICES * len(pairs), strict=False):
        for stage in ("blind", "final"):
            vote_cast(battle_id=flow.battle_id, session_key=warm.key, stage=stage, choice=outcome)
    while aggregates_fold():
        pass
    sessions = sessions_create(concurrency, rng)
    battles_create(battles, sessions, contenders, rng)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh statistics, as a long-running database would have
    return contenders, sessions


def aggregates_totals() -> dict[str, int]:
    """Pair-outcome counts and Elo battles per ladder, responses in the energy sums, context rows (one per
    battle), pending votes."""
    from django.db.models import Sum

    from analysis.models import BattleContext, EloRating, EnergyStat, PairCount, PendingVote

    totals = {"energy": EnergyStat.objects.aggregate(n=Sum("responses"))["n"] or 0,
              "contexts": BattleContext.objects.count(), "pending": PendingVote.objects.count()}
    for model, column, prefix in ((PairCount, "count", "pairs"), (EloRating, "battles", "elo")):
        for ladder, total in model.objects.values_list("ladder").annotate(total=Sum(column)):
            totals[f"{prefix}_{ladder}"] = total
    return totals


def server_start(kind: str, processes: int, env: dict[str, str], log: Path) -> tuple[list[int], list]:
    """uvicorn: one port shared by its workers. daphne has no workers: a process per port."""
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(1 if kind == "uvicorn" else processes)]
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    commands = [[sys.executable, "-m", "daphne", "-p", str(p), "-v", "0", "config.asgi:application"] for p in ports]
    if kind == "uvicorn":
        commands = [[sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(ports[0]), "--workers",
                     str(processes), "--lifespan", "off", "--no-access-log", "--log-level", "warning"]]
    with log.open("ab") as out:  # sessions of their own: stopping the group stops uvicorn's workers too
        return ports, [subprocess.Popen(c, cwd=ROOT, env=os.environ | env, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True) for c in commands]


def server_stop(processes: list) -> None:
    for proc in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


async def server_wait(ports: list[int], processes: list, log: Path) -> None:
    """Until every port answers a cheap page, then touch every worker (Django loads lazily)."""
    deadline = time.monotonic() + 90
    async with aiohttp.ClientSession() as http:

        async def fetch(port: int) -> int:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/arena/examples.json") as r:
                    return r.status
            return 0

        for port in ports:
            while await fetch(port) != 200:
                if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
                    raise RuntimeError(f"the server exited or did not answer; see {log}")
                await asyncio.sleep(0.2)
        await asyncio.gather(*(fetch(p) for p in ports * 32))


@dataclass
class Outcome:
    acked: dict[str, dict[int, str]] = field(default_factory=lambda: {"blind": {}, "final": {}})
    statuses: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0


async def session_play(http, base: str, session: Session, outcome: Outcome, bar, due: list[float] | None) -> None:
    """One person's votes in order; ``due``: open-loop send times (perf_counter), None for a closed loop."""
    headers = {"Content-Type": "application/json", "X-CSRFToken": session.csrf, "Origin": base,
               "Cookie": f"{settings.CSRF_COOKIE_NAME}={session.csrf}; {settings.SESSION_COOKIE_NAME}={session.key}"}
    steps = iter(due or [])
    for flow in session.flows:
        for stage, choice in (("blind", flow.blind), ("final", flow.final)):
            sent = next(steps, None) or time.perf_counter()  # open loop: waiting for a slow answer is latency
            await asyncio.sleep(max(0.0, sent - time.perf_counter()))
            try:
                async with http.post(f"{base}/arena/battles/{flow.battle_id}/vote/", headers=headers,
                                     data=json.dumps({"stage": stage, "choice": choice})) as r:
                    await r.read()
                    status: int | str = r.status
            except (TimeoutError, aiohttp.ClientError) as error:
                status = type(error).__name__
            outcome.latencies_ms.append((time.perf_counter() - sent) * 1000)
            outcome.statuses[status] += 1
            bar.update(1)
            if status == 200:
                outcome.acked[stage][flow.battle_id] = choice
            elif stage == "blind":  # a person whose first vote failed cannot give the second
                outcome.statuses["final not sent"] += 1
                next(steps, None)
                bar.update(1)
                break


async def load_run(ports: list[int], sessions: list[Session], rate: float | None, seed: int) -> Outcome:
    outcome, rng = Outcome(), random.Random(seed + 1)
    connector, timeout = aiohttp.TCPConnector(limit=len(sessions)), aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as http:
        with tqdm(total=2 * sum(len(s.flows) for s in sessions), desc="votes", unit="vote", smoothing=0.1) as bar:
            start = t = time.perf_counter()
            due: list[list[float] | None] = [None] * len(sessions)
            if rate:  # one Poisson stream dealt round robin, so that the sessions finish together
                due = [[] for _ in sessions]
                for step in range(2 * max(len(s.flows) for s in sessions)):
                    for i, s in enumerate(sessions):
                        if step < 2 * len(s.flows):
                            t += rng.expovariate(rate)
                            due[i].append(t)
            await asyncio.gather(*(
                session_play(http, f"http://127.0.0.1:{ports[i % len(ports)]}", s, outcome, bar, due[i])
                for i, s in enumerate(sessions)
            ))
            outcome.seconds = time.perf_counter() - start
    return outcome


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))] if values else float("nan")


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += sum(psutil.Process(pid).cpu_times()[:2])
    return total


def postgres_cpu_seconds(server: str) -> float | None:
    """The whole PostgreSQL server, reaped backends included (other users' queries are noise); None when
    its data directory is not readable here."""
    try:
        with admin_connect(server) as conn:
            data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        postmaster = psutil.Process(int((Path(data_dir) / "postmaster.pid").read_text().split()[0]))
        return sum(postmaster.cpu_times()[:4]) + cpu_seconds([c.pid for c in postmaster.children()])
    except (OSError, ValueError, psutil.Error):
        return None


class ActivityWatch(threading.Thread):
    """pg_stat_activity every 0.25 s: the benchmark's connections (peak), and those waiting for a lock."""

    def __init__(self, server: str, name: str) -> None:
        super().__init__(daemon=True)
        self.server, self.name, self.stop = server, name, threading.Event()
        self.peak = self.lock_waits = self.samples = 0

    def run(self) -> None:
        with admin_connect(self.server) as conn:
            while not self.stop.wait(0.25):
                n, locked = conn.execute("SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock') FROM "
                                         "pg_stat_activity WHERE datname = %s", [self.name]).fetchone()
                self.peak, self.lock_waits, self.samples = max(self.peak, n), self.lock_waits + locked, self.samples + 1


def vote_cost(n_battles: int, rng: random.Random, contenders: list) -> None:
    """One vote at a time in process (django.test.Client keeps one connection, as the pool does; no network,
    no ASGI): SQL queries, Django's CPU and its PostgreSQL backend's CPU per vote."""
    from django.test import Client

    session = sessions_create(1, rng)[0]
    battles_create(n_battles, [session], contenders, rng)
    client = Client(enforce_csrf_checks=True)
    client.cookies[settings.SESSION_COOKIE_NAME], client.cookies[settings.CSRF_COOKIE_NAME] = session.key, session.csrf
    connection.ensure_connection()
    backend, queries = psutil.Process(connection.connection.info.backend_pid), Counter()
    for i, flow in enumerate(session.flows):
        if i == 1:  # the first vote loads code and warms caches: not timed
            wall0, cpu0, pg0 = time.perf_counter(), time.thread_time(), sum(backend.cpu_times()[:2])
        for stage, choice in (("blind", flow.blind), ("final", flow.final)):
            with connection.execute_wrapper(lambda execute, *a, stage=stage: queries.update([stage]) or execute(*a)):
                r = client.post(f"/arena/battles/{flow.battle_id}/vote/", {"stage": stage, "choice": choice},
                                content_type="application/json", HTTP_X_CSRFTOKEN=session.csrf)
            if r.status_code != 200:
                raise RuntimeError(f"in-process vote answered {r.status_code}: {r.content[:200]!r}")
    n, votes = 2 * (len(session.flows) - 1), len(session.flows)
    wall, cpu, pg = time.perf_counter() - wall0, time.thread_time() - cpu0, sum(backend.cpu_times()[:2]) - pg0
    print(f"one vote in process ({n} votes, one at a time): SQL statements blind {queries['blind'] / votes:.1f}, "
          f"final {queries['final'] / votes:.1f} (BEGIN/COMMIT not counted); per vote: wall {1000 * wall / n:.2f} ms, "
          f"Django CPU {1000 * cpu / n:.2f} ms, PostgreSQL backend CPU {1000 * pg / n:.2f} ms")


def votes_check(sessions: list[Session], outcome: Outcome, baseline: dict[str, int]) -> None:
    """The database against what the server acknowledged; leaderboard totals as increments over ``baseline``."""
    from arena.models import Vote

    ids = [flow.battle_id for s in sessions for flow in s.flows]
    stored = {b: (blind, final) for b, blind, final in
              Vote.objects.filter(battle_id__in=ids).values_list("battle_id", "blind_choice", "final_choice")}
    blind, final = outcome.acked["blind"], outcome.acked["final"]
    lost = sum(b not in stored for b in blind) + sum(not stored.get(b, ("", ""))[1] for b in final)
    unacked = sum(b not in blind for b in stored) + sum(bool(f) and b not in final for b, (_, f) in stored.items())
    wrong = sum(stored[b][0] != c for b, c in blind.items() if b in stored)
    wrong += sum(stored.get(b, ("", ""))[1] not in ("", c) for b, c in final.items())
    now = aggregates_totals()
    delta = {key: now.get(key, 0) - baseline.get(key, 0) for key in now.keys() | baseline.keys()}
    acked = {"blind": len(blind), "energy": len(final)}
    checks = [(f"{ladder} pair-outcome counts", delta.get(f"pairs_{ladder}", 0), n) for ladder, n in acked.items()]
    checks += [(f"{ladder} Elo battles", delta.get(f"elo_{ladder}", 0), 2 * n) for ladder, n in acked.items()]
    checks += [("energy responses", delta["energy"], 2 * len(blind)), ("context rows", delta["contexts"], len(blind)),
               ("pending votes left", now["pending"], 0)]
    print(f"check: acknowledged {len(blind):,} blind and {len(final):,} final votes; stored {len(stored):,} votes, "
          f"{unacked} never acknowledged, {wrong} with another choice than sent")
    for label, got, expected in checks:
        print(f"  {label}: {got:,} (expected {expected:,}) -> {'OK' if got == expected else 'MISMATCH'}")
    # Counted in the leaderboard but never acknowledged: a duplicate; acknowledged but not counted: lost.
    extra = sum(max(0, got - expected) for _, got, expected in checks[:2])
    missing = sum(max(0, expected - got) for _, got, expected in checks[:2])
    print(f"lost: {lost + missing}, duplicated: {extra}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--battles", type=int, default=2000, help="battles voted on (two votes each)")
    parser.add_argument("--concurrency", type=int, default=64, help="client sessions voting at once")
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    parser.add_argument("--web-processes", type=int, default=2, help="uvicorn workers, or daphne processes")
    parser.add_argument("--pool-size", type=int, default=20, help="DATABASE_POOL_SIZE per web process (0: off); "
                        "keep processes × size well under max_connections, which others share")
    parser.add_argument("--rate", type=float, default=None, help="open loop at this many votes/s (default: closed)")
    parser.add_argument("--cost-battles", type=int, default=200, help="battles voted in process (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--database", default="arena_bench_votes")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/9"))
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database (default: drop it)")
    args = parser.parse_args(argv)

    print(f"creating database {args.database} on {args.postgres}; flushing {args.redis}")
    database_recreate(args.postgres, args.database)
    redis_flush(args.redis)
    try:
        run(args)
    finally:
        redis_flush(args.redis)
        if not args.keep:
            connections.close_all()
            database_recreate(args.postgres, args.database, create=False)
        print(f"{'kept' if args.keep else 'dropped'} database {args.database}")


def run(args: argparse.Namespace) -> None:
    env = server_env(f"{args.postgres.rstrip('/')}/{args.database}", args.redis)
    os.environ.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from analysis.leaderboard.services.votes import aggregates_fold

    call_command("migrate", verbosity=0)
    rng, t0 = random.Random(args.seed), time.perf_counter()
    contenders, sessions = setup(args.battles, args.concurrency, rng)
    baseline = aggregates_totals()
    connections.close_all()  # the server's connections are the ones that matter from here on
    print(f"setup: {args.battles:,} battles among {len(contenders)} chat contenders, {len(sessions)} sessions; "
          f"{time.perf_counter() - t0:.1f} s")

    log = Path(tempfile.mkdtemp(prefix="bench-votes-")) / f"{args.server}.log"
    ports, processes = server_start(args.server, args.web_processes, env | {"DATABASE_POOL_SIZE": str(args.pool_size)},
                                    log)
    try:
        asyncio.run(server_wait(ports, processes, log))
        print(f"server: {args.server} × {args.web_processes}, pool {args.pool_size} per process; client: "
              f"{args.concurrency} sessions, {f'open loop at {args.rate:g} votes/s' if args.rate else 'closed loop'}; "
              "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        pids = [q.pid for p in processes for q in [psutil.Process(p.pid), *psutil.Process(p.pid).children(True)]]
        cpu0 = (cpu_seconds(pids), time.process_time(), postgres_cpu_seconds(args.postgres))
        watch = ActivityWatch(args.postgres, args.database)
        watch.start()
        outcome = asyncio.run(load_run(ports, sessions, args.rate, args.seed))
        watch.stop.set()
        cpu = [b - a if a is not None and b is not None else None for a, b in zip(cpu0, (
            cpu_seconds(pids), time.process_time(), postgres_cpu_seconds(args.postgres)), strict=True)]
    finally:
        server_stop(processes)

    acked = outcome.statuses.get(200, 0)
    lat, rate = sorted(outcome.latencies_ms), acked / outcome.seconds
    p50, p90, p99 = (percentile(lat, q) for q in (50, 90, 99))
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(outcome.statuses.items(), key=str) if k != 200) or "none"
    print(f"\nload: {len(lat):,} requests in {outcome.seconds:.2f} s, {acked:,} acknowledged; errors by status: "
          f"{errors}; load average after {os.getloadavg()[0]:.2f}")
    print(f"throughput: {rate:.1f} votes/s; latency (ms): p50 {p50:.1f}  p90 {p90:.1f}  p99 {p99:.1f}  "
          f"max {lat[-1] if lat else float('nan'):.1f}")
    if acked:
        print("CPU per vote (ms): " + ", ".join(f"{label} {1000 * c / acked:.2f}" for label, c in zip(
            ("web server", "client", "PostgreSQL (whole server)"), cpu, strict=True) if c is not None))
    print(f"PostgreSQL: peak {watch.peak} connections to the benchmark database; waiting for a lock "
          f"{watch.lock_waits / max(1, watch.samples):.2f} on average")
    met = rate >= TARGET_VOTES_PER_S and p99 < TARGET_P99_MS
    print(f"target: {TARGET_VOTES_PER_S:.0f} votes/s with p99 < {TARGET_P99_MS:.0f} ms -> "
          f"{'met' if met else 'NOT met'} ({rate:.0f} votes/s, p99 {p99:.0f} ms)\n")

    folded, queries, t = 0, Counter(), time.perf_counter()
    with connection.execute_wrapper(lambda execute, *a: queries.update(n=1) or execute(*a)):
        while n := aggregates_fold():  # what the refit task does first
            folded += n
    print(f"fold: {folded:,} votes in {time.perf_counter() - t:.2f} s, {queries['n']} SQL statements in all")
    votes_check(sessions, outcome, baseline)
    if args.cost_battles:
        vote_cost(max(2, args.cost_battles), rng, contenders)
    print(f"server log: {log}")


if __name__ == "__main__":
    main()
