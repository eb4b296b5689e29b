"""`make run`'s launcher as a real process: up, serving, and stopped cleanly by Ctrl-C."""

import http.cookiejar
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from config.management.commands.runarena import worker_concurrency, worker_queue_plan
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


def _launch(env: dict, port: int, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "runarena", "--skip-prepare", "--port", str(port), *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _read_until_up(process: subprocess.Popen, timeout_s: float) -> str:
    """The launcher's output up to the line saying that the arena is up (or its end, or the timeout)."""
    output = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if "The arena is up" in line:
            break
    return "".join(output)


def test_runarena_with_two_workers_serves_and_ctrl_c_stops_every_child(launcher_env):
    env, data_dir = launcher_env
    port = free_port()
    process = _launch(env, port, "--workers", "2")
    try:
        output = _read_until_up(process, timeout_s=120)
        assert "The arena is up" in output, output
        assert "Created the admin account" in output
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


def test_worker_threads_admit_a_full_batch_per_language_model(settings):
    settings.ARENA_BATCHING, settings.ARENA_BATCH_MAX_REQUESTS = True, 8
    assert worker_concurrency(["chat", "completion", "encoder"]) == 2 * 2 * 8 + 2
    assert worker_concurrency(["encoder"]) == worker_concurrency([]) == 2
    settings.ARENA_BATCHING = False  # one request at a time per thread: two threads, as before
    assert worker_concurrency(["chat", "completion"]) == 2


def test_warming_models_names_what_keeps_a_worker_from_serving(transactional_db):
    from datetime import timedelta

    from django.utils import timezone

    from config.management.commands.runarena import warming_models
    from workers.models import WorkerHeartbeat

    now = timezone.now()
    machine = socket.gethostname()
    expected = {11: {"SmolLM2", "MiniLM"}, 12: set(), 13: {"Gemma"}}
    assert warming_models(expected) == {"worker 11", "worker 12", "worker 13"}  # none has beaten yet
    WorkerHeartbeat.objects.create(hostname="w1@h", pid=11, machine=machine, started_at=now, last_seen=now,
                                   models_loaded=["SmolLM2"])
    WorkerHeartbeat.objects.create(hostname="w2@h", pid=12, machine=machine, started_at=now, last_seen=now)
    WorkerHeartbeat.objects.create(hostname="w3@h", pid=13, machine=machine, started_at=now,
                                   last_seen=now - timedelta(hours=1), models_loaded=["Gemma"])  # an old beat
    WorkerHeartbeat.objects.create(hostname="w4@other", pid=13, machine="elsewhere", started_at=now, last_seen=now,
                                   models_loaded=["Gemma"])  # the same pid on another machine
    assert warming_models(expected) == {"MiniLM", "worker 13"}
    WorkerHeartbeat.objects.filter(pid=11).update(models_loaded=["SmolLM2", "MiniLM"])
    WorkerHeartbeat.objects.filter(hostname="w3@h").update(last_seen=now)
    assert warming_models(expected) == set()


PREPARE_SMOLLM2 = """
import django
django.setup()
from django.core.management import call_command
from modelhub.models import Contender
call_command("migrate", verbosity=0)
call_command("register_bundled", verbosity=0)
call_command("prepare_models", "smollm2-135m-instruct")
Contender.objects.filter(model__source="smollm2-135m-instruct").update(max_new_tokens=12)
"""


def _post_battle(port: int, prompt: str) -> tuple[int, dict]:
    """A new battle as the page sends it: its own session and CSRF token."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"http://127.0.0.1:{port}/arena/", timeout=10).read()
    token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/arena/battles/", data=urllib.parse.urlencode({"prompt": prompt}).encode(),
        headers={"X-CSRFToken": token, "Accept": "application/json", "Referer": f"http://127.0.0.1:{port}/arena/"},
    )
    try:
        answer = opener.open(request, timeout=30)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    battle = json.loads(answer.read())["battle"]
    deadline = time.monotonic() + 120
    while battle["stage"] == "generating" and time.monotonic() < deadline:
        time.sleep(0.5)
        battle = json.loads(opener.open(f"http://127.0.0.1:{port}/arena/battles/{battle['id']}/", timeout=10).read())[
            "battle"]
    return answer.status, battle


def test_runarena_says_up_only_once_the_worker_holds_its_models_warm(launcher_env, settings):
    """'Warming up' first; 'up' once the worker has loaded SmolLM2, and then a battle is served at once."""
    env, data_dir = launcher_env
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "models").symlink_to(settings.ARENA_MODELS_DIR)  # converted once, by the other tests
    env = dict(env, ARENA_WARM_MODELS="1", DJANGO_SETTINGS_MODULE="config.settings")
    subprocess.run([sys.executable, "-c", PREPARE_SMOLLM2], cwd=ROOT, env=env, check=True, timeout=600,
                   capture_output=True)
    port = free_port()
    process = _launch(env, port)
    try:
        text = _read_until_up(process, timeout_s=240)
        assert "The arena is up" in text, text
        assert text.index("Warming up: loading SmolLM2") < text.index("The arena is up"), text
        assert "Fewer than two chat contenders" not in text
        worker = next(w for w in _health_details(port)["workers"]["seen"] if w["alive"])
        assert any("SmolLM2" in name for name in worker["models_loaded"]), worker
        status, battle = _post_battle(port, "Say hello.")
        assert status == 201 and battle["stage"] == "blind_vote", battle
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        assert "Stopped." in rest
    finally:
        if process.poll() is None:
            process.kill()


def test_the_launcher_leaves_engine_queues_to_the_engines_hosts_when_told(db, settings):
    from config.management.commands.runarena import models_served_here
    from modelhub.models import Model

    local = Model.objects.create(name="Local", family="F", kind="chat", source_type="hf_folder", source="/m")
    engine = Model.objects.create(name="Engine", family="F", kind="chat", source_type="endpoint",
                                  source="http://gpu-1:8000/v1", served_model_id="m", meter="nvml:0")
    assert set(models_served_here()) == {local, engine}
    settings.ARENA_LAUNCHER_ENGINE_QUEUES = False
    assert list(models_served_here()) == [local]
