"""`make run`'s launcher as a real process: up, serving, and stopped cleanly by Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from config.management.commands.runarena import worker_queue_plan
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def launcher_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    # A short data dir: the embedded Redis listens on a unix socket inside it.
    data_dir = Path(f"/tmp/arena-launch-{os.getpid()}")
    env.update(ARENA_DATA_DIR=str(data_dir), ARENA_WARM_MODELS="0", ARENA_HEARTBEAT_S="1",
               ARENA_HEALTH_TOKEN=HEALTH_TOKEN)
    yield env, data_dir
    subprocess.run(["rm", "-rf", str(data_dir)], check=False)


def test_worker_queue_plan_deals_model_queues_out_once_and_default_to_all():
    queues = ["model.a", "model.b", "model.c"]
    assert worker_queue_plan(queues, 1) == [["default", "model.a", "model.b", "model.c"]]
    assert worker_queue_plan(queues, 2) == [["default", "model.a", "model.c"], ["default", "model.b"]]
    assert worker_queue_plan([], 3) == [["default"], ["default"], ["default"]]
    assert worker_queue_plan(queues, 0) == [["default", *queues]]


HEALTH_TOKEN = "launcher-test-token"


def _health_details(port: int) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz",
                                     headers={"Authorization": f"Bearer {HEALTH_TOKEN}"})
    return json.loads(urllib.request.urlopen(request, timeout=10).read())


def _healthz(port: int, workers: int, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        report = _health_details(port)
        if report["workers"]["alive"] >= workers or time.monotonic() > deadline:
            return report
        time.sleep(0.5)


def test_runarena_with_two_workers_serves_and_ctrl_c_stops_every_child(launcher_env):
    env, data_dir = launcher_env
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runarena", "--skip-prepare", "--port", str(port), "--workers", "2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if "The arena is up" in line:
                break
        assert any("The arena is up" in line for line in output), "".join(output)
        assert any("Created the admin account" in line for line in output)
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/arena/", timeout=10).read().decode()
        assert "Energy Arena" in page
        children = _children(process.pid)
        assert len(children) >= 4  # redis-server, two Celery workers, the web server

        # Both workers beat; each holds its own model queues, and every model queue has one worker.
        report = _healthz(port, workers=2)
        assert report["status"] == "ok", report
        assert report["database"]["ok"] and report["redis"]["ok"]
        workers = [worker for worker in report["workers"]["seen"] if worker["alive"]]
        assert sorted(worker["hostname"].split("@")[0] for worker in workers) == ["arena-worker-1", "arena-worker-2"]
        model_queues = [set(worker["queues"]) - {"default"} for worker in workers]
        assert all(model_queues) and not model_queues[0] & model_queues[1]
        assert model_queues[0] | model_queues[1] == set(report["queues"]) - {"default"}
        assert all("default" in worker["queues"] for worker in workers)

        # A worker that dies is restarted by the launcher, as a supervisor would.
        killed = next(worker for worker in workers if worker["hostname"].startswith("arena-worker-2@"))
        os.kill(killed["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            report = _health_details(port)
            again = [w for w in report["workers"]["seen"] if w["hostname"] == killed["hostname"]]
            if again and again[0]["alive"] and again[0]["pid"] != killed["pid"]:
                break
            assert time.monotonic() < deadline, report
            time.sleep(0.5)
        assert process.poll() is None
        children = _children(process.pid)

        # A second launcher on the same port is refused before it touches anything.
        second = subprocess.run(
            [sys.executable, "manage.py", "runarena", "--skip-prepare", "--port", str(port)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )
        assert "already in use" in second.stderr + second.stdout
        assert all(_alive(child) for child in children)

        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        assert "Stopped." in rest
        assert not any(_alive(child) for child in children)
        assert not (data_dir / "redis" / "redis.pid").exists()
    finally:
        if process.poll() is None:
            process.kill()
