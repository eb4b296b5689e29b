"""Benchmark: a burst of websockets against one web process (issue 23's socket budget).

Run from the repository root (about a minute; loopback only):

    .venv/bin/python bench/sockets.py [--one-address 500] [--addresses 20 --per-address 10]

It starts daphne on the project's ASGI application and a Redis server, in a temporary data dir with
its own SQLite database (no worker: the sockets and pages need none). Then, twice:
  1. --one-address sockets opened at once on /ws/leaderboard/ from 127.0.0.1;
  2. --addresses x --per-address sockets opened at once from the loopback aliases 127.0.0.2, 127.0.0.3…;
and during each burst, from another address (127.0.0.254): the arena page and the leaderboard page
(GET, timed) and the websocket of a battle of that visitor's own session (its snapshot, timed).

Printed per burst: sockets that were accepted and heard the server, sockets refused politely (an
{"type": "error"} message, then close code 4429), sockets that failed any other way (for example
1011 or a reset: the failure issue 23 found), the time the burst took, and the bystander's page
and battle-socket times. The settings in force (ARENA_SOCKETS_PER_ADDRESS, ARENA_SOCKETS_MAX,
ARENA_CHANNEL_REDIS_CONNECTIONS) pass through the environment. It asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from capacity import ROOT, bench_folder
from soak import free_port, wait_port

SETUP = """
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
"""
BATTLE = """
import django, json, sys
django.setup()
from arena.models import Battle
from modelhub.models import Contender, Model
model = Model.objects.create(name="Bench model", family="Bench", kind="chat", source_type="hf_folder",
                             source="/nonexistent", status="ready")
a = Contender.objects.create(model=model, name="Bench A")
b = Contender.objects.create(model=model, name="Bench B", decoding="sampling")
battle = Battle.objects.create(prompt="hello", session_key=sys.argv[1], contender_a=a, contender_b=b, policy="bench")
for side, contender in (("a", a), ("b", b)):
    battle.responses.create(side=side, contender=contender, status="done", text="hi", output_tokens=1)
print(json.dumps({"id": battle.id}))
"""


async def open_socket(url: str, origin: str, local: str, outcome: Counter) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(local_addr=(local, 0))
    try:
        async with aiohttp.ClientSession(connector=connector) as http, http.ws_connect(url, origin=origin) as ws:
            message = await asyncio.wait_for(ws.receive(), 30)
            if message.type == aiohttp.WSMsgType.TEXT and json.loads(message.data).get("type") == "error":
                closing = await asyncio.wait_for(ws.receive(), 10)
                outcome[f"refused politely (close {ws.close_code or closing.data})"] += 1
            elif message.type == aiohttp.WSMsgType.TEXT:
                outcome["accepted"] += 1
            else:
                outcome[f"failed (close {ws.close_code})"] += 1
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        outcome[f"failed ({type(error).__name__})"] += 1


async def bystander(base: str, battle_id: int, cookies: dict) -> dict:
    """The visitor from elsewhere: two pages and their own battle's socket, during the burst."""
    import aiohttp

    figures = {}
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.254", 0))
    async with aiohttp.ClientSession(connector=connector, cookies=cookies) as http:
        for path in ("/arena/", "/leaderboard/"):
            started = time.perf_counter()
            async with http.get(base + path) as reply:
                await reply.read()
            figures[path] = f"{reply.status} in {time.perf_counter() - started:.2f} s"
        started = time.perf_counter()
        url = base.replace("http", "ws", 1) + f"/ws/battles/{battle_id}/"
        async with http.ws_connect(url, origin=base) as ws:
            message = json.loads((await asyncio.wait_for(ws.receive(), 30)).data)
        figures["battle socket"] = f"{message['type']} in {time.perf_counter() - started:.2f} s"
    return figures


async def burst(base: str, sources: list[str], battle_id: int, cookies: dict) -> tuple[Counter, float, dict]:
    outcome: Counter = Counter()
    url = base.replace("http", "ws", 1) + "/ws/leaderboard/"
    started = time.perf_counter()
    sockets = [asyncio.create_task(open_socket(url, base, source, outcome)) for source in sources]
    await asyncio.sleep(0.05)  # the burst is under way
    seen = await bystander(base, battle_id, cookies)
    await asyncio.gather(*sockets)
    return outcome, time.perf_counter() - started, seen


async def session_of(base: str) -> dict:
    """A visitor's session cookie (a page load), from the bystander's address."""
    import aiohttp

    connector = aiohttp.TCPConnector(local_addr=("127.0.0.254", 0))
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as http:
        async with http.get(f"{base}/arena/") as reply:
            await reply.read()
    return {cookie.key: cookie.value for cookie in jar}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one-address", type=int, default=500)
    parser.add_argument("--addresses", type=int, default=20)
    parser.add_argument("--per-address", type=int, default=10)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with bench_folder("arena-sockets-", args.keep) as tmp:
        web_port, redis_port = free_port(), free_port()
        env = dict(os.environ, ARENA_DATA_DIR=str(tmp), DJANGO_SETTINGS_MODULE="config.settings", PYTHONUNBUFFERED="1",
                   REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", LOG_LEVEL="WARNING")
        env.pop("DATABASE_URL", None)
        subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, check=True)
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"], stdout=subprocess.DEVNULL)
        web = subprocess.Popen([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port),
                                "config.asgi:application"], cwd=ROOT, env=env, stdout=open(Path(tmp) / "web.log", "w"),
                               stderr=subprocess.STDOUT)
        try:
            wait_port(redis_port)
            wait_port(web_port)
            base = f"http://127.0.0.1:{web_port}"
            cookies = asyncio.run(session_of(base))
            made = subprocess.run([sys.executable, "-c", BATTLE, cookies["sessionid"]], cwd=ROOT, env=env,
                                  capture_output=True, text=True, check=True)
            battle_id = json.loads(made.stdout.strip().splitlines()[-1])["id"]
            settings = {k: os.environ.get(k, "default") for k in
                        ("ARENA_SOCKETS_PER_ADDRESS", "ARENA_SOCKETS_MAX", "ARENA_CHANNEL_REDIS_CONNECTIONS")}
            print(f"daphne on {base}; settings {settings}")
            rounds = [
                (f"{args.one_address} sockets from one address", ["127.0.0.1"] * args.one_address),
                (f"{args.addresses * args.per_address} sockets from {args.addresses} addresses",
                 [f"127.0.0.{2 + i % args.addresses}" for i in range(args.addresses * args.per_address)]),
            ]
            for name, sources in rounds:
                outcome, took, seen = asyncio.run(burst(base, sources, battle_id, cookies))
                print(f"{name}: {dict(outcome)} in {took:.1f} s; during it, from another address: {seen}")
        finally:
            web.terminate()
            redis.terminate()
            web.wait()
            redis.wait()


if __name__ == "__main__":
    main()
