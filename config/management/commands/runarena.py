"""`make run`: migrate, register and prepare the bundled models, then run Redis, a worker and the web server."""

import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from arena.corpus_services import corpus_builtin_ensure, corpus_embeddings_queue_missing
from config.embedded_redis import EmbeddedRedis
from modelhub.models import LANGUAGE_KINDS, Model
from modelhub.selectors import contenders_ready
from modelhub.services import bundled_models_register

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If the launcher is killed outright, the kernel stops its children too.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def worker_queue_plan(model_queues: list[str], workers: int) -> list[list[str]]:
    """Which queues each worker consumes: every worker takes `default` (preparation, corpora,
    diagnostics), and the model queues are dealt out in turn, so each model is held by one worker."""
    plan = [["default"] for _ in range(max(1, workers))]
    for index, queue in enumerate(model_queues):
        plan[index % len(plan)].append(queue)
    return plan


def models_served_here():
    """The models whose queues the launcher's workers serve, in kind order: every model, but engine-served
    ones only with ARENA_LAUNCHER_ENGINE_QUEUES (a worker on the engine's host serves those otherwise:
    its meter must read the engine's hardware, docs/deploy.md section 10)."""
    models = Model.objects.order_by("kind", "name")
    return models if settings.ARENA_LAUNCHER_ENGINE_QUEUES else models.exclude(source_type=Model.SourceType.ENDPOINT)


def worker_concurrency(model_kinds: list[str]) -> int:
    """Threads of a worker that holds models of these kinds. A side holds a thread while it waits for
    its model's batch or runs in it, so with batching the pool admits a full batch (ARENA_BATCH_MAX_REQUESTS)
    in each of a language model's two loops (continuous batching; contrastive search): a side without
    a thread waits in Redis, unseen by the engine, and its pane cannot say where it is in line. Plus
    two: the default queue (preparation, refits, corpora) and retrieval queries. Without batching,
    2: requests take turns on the CPU."""
    if not settings.ARENA_BATCHING:
        return 2
    language = sum(1 for kind in model_kinds if kind in LANGUAGE_KINDS)
    return language * 2 * settings.ARENA_BATCH_MAX_REQUESTS + 2


def warming_models(expected: dict[int, set[str]]) -> set[str]:
    """What keeps the arena from serving a battle, by worker process id: "worker <pid>" while that
    worker has no live heartbeat yet, else the names of the models it should hold but has not loaded."""
    from workers.selectors import workers_alive

    beats = {
        beat.pid: set(beat.models_loaded)
        for beat in workers_alive().filter(machine=socket.gethostname(), pid__in=list(expected))
    }
    missing: set[str] = set()
    for pid, names in expected.items():
        missing |= {f"worker {pid}"} if pid not in beats else names - beats[pid]
    return missing


class Command(BaseCommand):
    help = "Run the whole arena on this machine (what `make run` calls)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=os.environ.get("ARENA_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("ARENA_PORT", "8000")))
        concurrency = os.environ.get("ARENA_WORKER_CONCURRENCY")
        parser.add_argument("--concurrency", type=int, default=int(concurrency) if concurrency else None,
                            help="Threads per worker process (default: enough for the batches of its models).")
        parser.add_argument("--workers", type=int, default=int(os.environ.get("ARENA_WORKERS", "1")),
                            help="Worker processes; each holds its own share of the models.")
        parser.add_argument("--skip-prepare", action="store_true", help="Don't prepare models before starting.")

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.commands: dict[str, tuple[list[str], dict]] = {}
        self.restarts: list[float] = []
        self.redis: EmbeddedRedis | None = None
        # Ctrl-C and SIGTERM both stop everything; SIGINT may arrive ignored from a background shell.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            self._check_port_free(options)
            self._setup(options)
            self._start_services(options)
            self._wait_until_ready(options)
            self._wait_until_warm()
            # Redis is up now: queue whatever corpus embeddings are missing (once per encoder).
            corpus_builtin_ensure()
            if queued := corpus_embeddings_queue_missing(requeue_unfinished=True):
                self.stdout.write(f"Embedding corpora for retrieval battles in the worker ({queued} task(s)).")
            self.stdout.write(self.style.SUCCESS(
                f"\nThe arena is up in {time.monotonic() - started:.1f} s: http://{options['host']}:{options['port']}/"
            ))
            self.stdout.write(f"Admin: http://{options['host']}:{options['port']}/admin/   (Ctrl-C stops everything)\n")
            self._watch()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        except CommandError as error:
            self.stderr.write(self.style.ERROR(str(error)))
        finally:
            self._stop_all()

    def _check_port_free(self, options) -> None:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((options["host"], options["port"])) == 0:
                raise CommandError(
                    f"{options['host']}:{options['port']} is already in use (another `make run`?). "
                    "Stop it, or choose another port with ARENA_PORT=8001 make run."
                )

    def _setup(self, options) -> None:
        self.stdout.write("Migrating the database…")
        call_command("migrate", interactive=False, verbosity=0)
        bundled_models_register()
        self._ensure_admin()
        if not options["skip_prepare"] and Model.objects.exclude(status=Model.Status.READY).exists():
            self.stdout.write("Preparing models (first run converts GGUF weights once; later runs skip this)…")
            call_command("prepare_models")

    def _ensure_admin(self) -> None:
        users = get_user_model()
        if users.objects.filter(is_superuser=True).exists():
            self.stdout.write("Admin account exists (reset with `python manage.py changepassword admin`).")
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser("admin", "", password)
        self.stdout.write(self.style.WARNING(
            f"Created the admin account: user 'admin', password '{password}' (shown once; "
            "change it with `python manage.py changepassword admin`)."
        ))

    def _start_services(self, options) -> None:
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        if settings.REDIS_IS_EMBEDDED:
            self.redis = EmbeddedRedis(settings.EMBEDDED_REDIS_SOCKET, preexec_fn=_die_with_parent).start()
            self.stdout.write(f"Embedded Redis on {self.redis.url}")
        env["REDIS_URL"] = settings.REDIS_URL
        # Dealt out in kind order, so the chat models spread over the workers (a battle between two
        # models then runs its sides in different processes; the contenders of one model share one).
        models = models_served_here()
        plan = worker_queue_plan([model.queue_name for model in models], options["workers"])
        self.plan = plan
        for number, queues in enumerate(plan, start=1):
            threads = options["concurrency"] or worker_concurrency(
                [model.kind for model in models if model.queue_name in queues]
            )
            self.stdout.write(f"Worker {number}: {threads} threads, serving {', '.join(queues)}")
            self._spawn(f"worker {number}", [
                sys.executable, "-m", "celery", "-A", "config.celery", "worker",
                "--pool", "threads", "--concurrency", str(threads),
                "--queues", ",".join(queues), "--hostname", f"arena-worker-{number}@%h",
                "--loglevel", "INFO", "--without-gossip", "--without-mingle",
            ], env)
        self._spawn("web", [
            sys.executable, "-m", "daphne", "-b", options["host"], "-p", str(options["port"]),
            "config.asgi:application",
        ], env)

    def _wait_until_ready(self, options, timeout_s: float = 120.0) -> None:
        """Print the URL only once the web server answers and every worker replies to a ping."""
        from config.celery import app

        deadline = time.monotonic() + timeout_s
        workers = sum(1 for name, _ in self.children if name.startswith("worker"))
        web_up = worker_up = False
        while time.monotonic() < deadline and not (web_up and worker_up):
            for name, process in self.children:
                if process.poll() is not None:
                    raise CommandError(f"The {name} process exited during start-up ({process.returncode}).")
            if not web_up:
                with socket.socket() as probe:
                    probe.settimeout(0.5)
                    web_up = probe.connect_ex((options["host"], options["port"])) == 0
            if not worker_up:
                worker_up = len(app.control.ping(timeout=0.5)) >= workers
            if not (web_up and worker_up):
                time.sleep(0.3)
        if not (web_up and worker_up):
            self.stderr.write(self.style.WARNING("Start-up is slow: the web server or worker is not answering yet."))

    def _wait_until_warm(self, timeout_s: float = 600.0) -> None:
        """Say that the arena is up only once a battle can be served: every worker beats (so the web
        side draws its models) and, with ARENA_WARM_MODELS, holds the ready models of its queues loaded.
        Until then a new battle gets 503 "warming up", which the page retries by itself."""
        ready = Model.objects.filter(status=Model.Status.READY).exclude(prepared_path="")
        expected = {
            process.pid: {model.name for model in ready if model.queue_name in queues}
            if settings.ARENA_WARM_MODELS else set()
            for (name, process), queues in zip(self._workers(), self.plan, strict=True)
        }
        loading = sorted(set().union(*expected.values()))
        self.stdout.write("Warming up: " + (f"loading {', '.join(loading)} into the worker…" if loading
                                            else "waiting for the worker's first heartbeat…"))
        deadline = time.monotonic() + timeout_s
        while missing := warming_models(expected):
            for name, process in self.children:
                if process.poll() is not None:
                    raise CommandError(f"The {name} process exited during start-up ({process.returncode}).")
            if time.monotonic() > deadline:
                self.stderr.write(self.style.WARNING(
                    f"Still warming up after {timeout_s:.0f} s ({', '.join(sorted(missing))}): battles may wait."
                ))
                return
            time.sleep(0.5)
        if contenders_ready(kind=Model.Kind.CHAT).count() < 2:
            self.stdout.write(self.style.WARNING(
                "Fewer than two chat contenders are ready: no battle can be drawn until models are prepared "
                "(run without --skip-prepare, or prepare them in the admin)."
            ))

    def _workers(self) -> list[tuple[str, subprocess.Popen]]:
        return [(name, process) for name, process in self.children if name.startswith("worker")]

    def _spawn(self, name: str, command: list[str], env: dict) -> None:
        process = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent, start_new_session=True)
        self.children = [(n, p) for n, p in self.children if n != name] + [(name, process)]
        self.commands[name] = (command, env)

    def _watch(self, max_restarts_per_minute: int = 5) -> None:
        """Restart a worker or the embedded Redis that dies, as a supervisor would (a Celery worker
        can exit when its Redis connection drops); stop everything if the web server dies or a
        process keeps dying."""
        while True:
            dead = [(name, process) for name, process in self.children if process.poll() is not None]
            if self.redis and self.redis.process and self.redis.process.poll() is not None:
                dead.append(("redis", self.redis.process))
            for name, process in dead:
                self.stderr.write(self.style.ERROR(f"The {name} process exited ({process.returncode})."))
                now = time.monotonic()
                self.restarts = [t for t in self.restarts if now - t < 60] + [now]
                if name == "web" or len(self.restarts) > max_restarts_per_minute:
                    return
                self.stdout.write(f"Restarting the {name} process.")
                if name == "redis":
                    self.redis.start()
                else:
                    self._spawn(name, *self.commands[name])
            time.sleep(0.5)

    def _stop_all(self) -> None:
        for _, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
        for name, process in reversed(self.children):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.stderr.write(f"The {name} process did not stop in 15 s; killing it.")
                process.kill()
                process.wait()
        if self.redis:
            self.redis.stop()
        self.stdout.write("Stopped.")
