"""`make run`'s launcher as a real process: up, serving, and stopped cleanly by Ctrl-C."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
    env.update(ARENA_DATA_DIR=str(data_dir), ARENA_WARM_MODELS="0")
    yield env, data_dir
    subprocess.run(["rm", "-rf", str(data_dir)], check=False)


def test_runarena_serves_and_ctrl_c_stops_every_child(launcher_env):
    env, data_dir = launcher_env
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runarena", "--skip-prepare", "--port", str(port)],
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
        assert len(children) >= 3  # redis-server, the Celery worker, the web server

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
