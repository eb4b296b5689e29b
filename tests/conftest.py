"""Shared fixtures: a real Redis (the CI server, or the embedded one) and a real Celery worker."""

import os
import shutil
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
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """REDIS_URL when set (CI), else an embedded redis-server stopped on every exit path."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from arena.embedded_redis import EmbeddedRedis

    # Unix socket paths are limited to ~107 bytes: keep it short.
    directory = Path(tmp_path_factory.mktemp("redis", numbered=True))
    server = EmbeddedRedis(directory / "r.sock")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_services(redis_url, django_db_setup):
    """Point Celery and Channels at the test Redis, with a key prefix of their own."""
    from channels.layers import channel_layers
    from django.conf import settings

    from arena.settings import celery_broker_url
    from workers.celery import app

    settings.REDIS_URL = redis_url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": f"test{os.getpid()}"},
        }
    }
    channel_layers.backends = {}
    app.conf.broker_url = celery_broker_url(redis_url)
    app.conf.task_always_eager = False
    yield redis_url
    channel_layers.backends = {}


@pytest.fixture
def celery_worker_threads(redis_services, transactional_db):
    """A real Celery worker (threads pool, as `make run` uses) consuming every queue of the test."""
    from celery.contrib.testing.worker import start_worker

    from modelhub.models import Model
    from workers.celery import app

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
