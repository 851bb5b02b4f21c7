"""Settings, read from the environment. Every variable is optional; the defaults run the
embedded stack (`make run`): SQLite, a local Redis started by the launcher, DEBUG off."""

from __future__ import annotations

import os
import secrets
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)

# Lets the admin and other Django generics be subscripted at run time, as the type stubs do.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("PLAYSTATE_DATA_DIR", BASE_DIR / ".data"))


def envbool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def envfloat(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _secret_key() -> str:
    # No secret lives in the repository: production sets SECRET_KEY; a local run keeps a
    # generated one in the ignored data folder so sessions survive restarts.
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        # Readable by its owner only; written whole under another name and linked into
        # place, so processes that start together read one key, never a half-written file.
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        draft = DATA_DIR / f".secret_key.{os.getpid()}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(50))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    # First: its migrate/flush/makemigrations commands know the Cassandra alias.
    "django_cassandra_engine",
    "daphne",
    "accounts.admin_site.SupportAdminConfig",  # django.contrib.admin, its login throttled
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "accounts",
    "catalog",
    "history",
    "history.cql",
    "playstate",
    "sync",
    "ops",
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
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Connections are kept between requests (and between the ORM calls of async code,
        # which channels' database_sync_to_async wraps in close_old_connections), checked
        # before reuse, and closed after this many seconds.
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker processes share the file: WAL lets readers run beside the writer, and
    # IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

# --- Cassandra: the production viewing-history store (PLAYSTATE_STORE=cassandra) ------------
# A second alias beside `default`, which keeps auth, admin and the catalog. It connects
# lazily, so nothing touches Cassandra unless the store is used.
CASSANDRA_HOSTS = envlist("CASSANDRA_HOSTS", "127.0.0.1:9042")
CASSANDRA_KEYSPACE = os.environ.get("CASSANDRA_KEYSPACE", "playstate")
# "SimpleStrategy:1" for one node; "NetworkTopologyStrategy:dc1=3,dc2=3" for real clusters.
CASSANDRA_REPLICATION = os.environ.get("CASSANDRA_REPLICATION", "SimpleStrategy:1")
CASSANDRA_WRITE_CONSISTENCY = os.environ.get("CASSANDRA_WRITE_CONSISTENCY", "LOCAL_QUORUM")
CASSANDRA_READ_CONSISTENCY = os.environ.get("CASSANDRA_READ_CONSISTENCY", "LOCAL_QUORUM")
# LOCAL_* consistency counts replicas in this data centre: name the one this process runs in.
CASSANDRA_LOCAL_DC = os.environ.get("CASSANDRA_LOCAL_DC", "datacenter1")
# Seconds a request may take. Short: a resume read that falls back to the store must answer
# (with the default position if need be) before the player gives up.
CASSANDRA_REQUEST_TIMEOUT = envfloat("CASSANDRA_REQUEST_TIMEOUT", 3.0)
# Seconds a request waits for the store (either one), or for a catalog lookup queued behind
# it on the database thread, before it answers without it.
PLAYSTATE_STORE_READ_TIMEOUT = envfloat("PLAYSTATE_STORE_READ_TIMEOUT", 3.0)


def _replication(spec: str) -> dict[str, str | int]:
    strategy, _, factors = spec.partition(":")
    if strategy == "SimpleStrategy":
        return {"strategy_class": strategy, "replication_factor": int(factors or 1)}
    by_dc = dict(item.split("=") for item in factors.split(",") if item)
    return {"strategy_class": strategy, **{dc: int(n) for dc, n in by_dc.items()}}


def contact_points(hosts: list[str]) -> tuple[str, int]:
    # The driver takes one port for every contact point: the first one given.
    names = [host.rsplit(":", 1)[0] for host in hosts]
    ports = [int(host.rsplit(":", 1)[1]) for host in hosts if ":" in host]
    return ",".join(names), ports[0] if ports else 9042


_cassandra_hosts, _cassandra_port = contact_points(CASSANDRA_HOSTS)
DATABASES["cassandra"] = {
    "ENGINE": "django_cassandra_engine",
    "NAME": CASSANDRA_KEYSPACE,
    "HOST": _cassandra_hosts,
    "OPTIONS": {
        "replication": _replication(CASSANDRA_REPLICATION),
        "connection": {
            "port": _cassandra_port,
            "lazy_connect": True,
            "retry_connect": True,
            "connect_timeout": envfloat("CASSANDRA_CONNECT_TIMEOUT", 5.0),
            # Each write goes straight to a replica of its profile's partition.
            "load_balancing_policy": TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc=CASSANDRA_LOCAL_DC)
            ),
            # A node that comes back is used again within seconds (the driver's default
            # backs off to ten minutes); the backlog waits in Redis meanwhile.
            "reconnection_policy": ExponentialReconnectionPolicy(
                base_delay=0.5, max_delay=envfloat("CASSANDRA_RECONNECT_MAX_DELAY", 2.0)
            ),
        },
        "session": {"default_timeout": CASSANDRA_REQUEST_TIMEOUT},
    },
}

# Cassandra tables come from sync_cassandra, not from migrations.
MIGRATION_MODULES = {"history_cql": None}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
# WhiteNoise hands Django a synchronous file iterator, which Django's ASGI handler reads in a
# thread and warns about on every static file. Only the admin and API docs load static files.
warnings.filterwarnings("ignore", "StreamingHttpResponse must consume synchronous iterators")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- HTTPS and the proxy in front (the production profile in the README sets all of these) --
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
# The probes answer over plain HTTP (config/fastpath.py serves them so before Django).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE


def _proxy_ssl_header(spec: str) -> tuple[str, str] | None:
    """ "X-Forwarded-Proto=https" → ("HTTP_X_FORWARDED_PROTO", "https"): the header the proxy
    sets on requests that reached it over HTTPS. Only set it behind such a proxy."""
    if not spec:
        return None
    name, _, value = spec.partition("=")
    return "HTTP_" + name.strip().upper().replace("-", "_"), value.strip()


SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(os.environ.get("SECURE_PROXY_SSL_HEADER", ""))
# How many proxies in front of the web processes append to X-Forwarded-For: the client's
# address (login throttles, logs) is the entry that many from the right; 0 (the default)
# uses the socket's address and ignores the header, which any client can set.
PLAYSTATE_TRUSTED_PROXIES = envint("PLAYSTATE_TRUSTED_PROXIES", 0)

# Every request, on every path: headers and body beyond these are refused (431, 413) before
# any work is done.
PLAYSTATE_MAX_HEADER_BYTES = envint("PLAYSTATE_MAX_HEADER_BYTES", 16 * 1024)
PLAYSTATE_MAX_BODY_BYTES = envint("PLAYSTATE_MAX_BODY_BYTES", 256 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = PLAYSTATE_MAX_BODY_BYTES

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "filters": {"repeated": {"()": "ops.logging.RepeatedErrors", "seconds": 60}},
    "loggers": {
        # The Cassandra driver logs every failed reconnection attempt with a traceback; the
        # service logs each outage once (core/outages.py), with the driver's error. What it
        # logs as an error (its control connection, each try while a node starts) says so
        # once a minute, in one line.
        "cassandra": {"level": os.environ.get("CASSANDRA_DRIVER_LOG_LEVEL", "ERROR")},
        **{
            name: {"filters": ["repeated"]}
            for name in ("cassandra.cluster", "cassandra.connection", "cassandra.pool")
        },
        # A request whose Host is not allowed (scanners send them all day) is answered 400;
        # Django logs each as an error with its traceback, fifteen lines. One line a minute
        # per host says it as well, also when ALLOWED_HOSTS lacks the site's own name.
        "django.security.DisallowedHost": {"filters": ["repeated"]},
    },
}

# --- Redis: hot layer, Celery broker, Channels layer -----------------------------------
EMBEDDED_REDIS_PORT = envint("EMBEDDED_REDIS_PORT", 6390)
REDIS_URL = os.environ.get("REDIS_URL") or f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
# The hot layer (current states, pending and in-flight sets, rate limits, event ids,
# counters) may live elsewhere, on a Redis Cluster too (that URL is then one seed node);
# Celery's broker, the Channels layer and Django's cache stay on REDIS_URL.
PLAYSTATE_HOT_REDIS_URL = os.environ.get("PLAYSTATE_HOT_REDIS_URL") or REDIS_URL
PLAYSTATE_HOT_REDIS_CLUSTER = envbool("PLAYSTATE_HOT_REDIS_CLUSTER", False)
# Durability across a failover: with 1, a heartbeat is acknowledged (202) only once a replica
# has it too, or after the timeout (then counted as heartbeats_unreplicated: a primary left
# without replicas keeps taking heartbeats). 0: the primary's word, replicated a moment later.
PLAYSTATE_HOT_WAIT_REPLICAS = envint("PLAYSTATE_HOT_WAIT_REPLICAS", 0)
PLAYSTATE_HOT_WAIT_TIMEOUT_MS = envint("PLAYSTATE_HOT_WAIT_TIMEOUT_MS", 100)
# Short timeouts: a Redis outage must turn into a quick 503 (ingest) or a fallback (reads),
# never a request that hangs.
REDIS_SOCKET_TIMEOUT = envfloat("REDIS_SOCKET_TIMEOUT", 0.5)

# channels-redis waits for a socket's next message in a blocking pop of up to 5 s; the Redis
# client's socket timeout must be longer, or every idle socket's receive fails (redis-py's
# default is 5 s, and it dropped idle TVs within seconds).
CHANNEL_LAYER_SOCKET_TIMEOUT = envfloat("CHANNEL_LAYER_SOCKET_TIMEOUT", 15.0)

# Connections per process to each Redis (per node on a cluster). Past them, a command waits
# for a free one (up to its socket timeout) rather than failing: redis-py 8's own pools fail
# at once past 100, and a worker's flush tells hundreds of profiles at the same moment.
REDIS_MAX_CONNECTIONS = envint("REDIS_MAX_CONNECTIONS", 100)

# Messages waiting in the Channels layer for one web process, whose sockets all share one
# Redis key: past it channels-redis drops them. Its default, 100, dropped pushes whenever a
# flush told more than 100 profiles with devices on one process before its receive loop ran.
CHANNEL_LAYER_CAPACITY = envint("CHANNEL_LAYER_CAPACITY", 10_000)


def caches(url: str) -> dict[str, Any]:
    """Django's cache in Redis: throttle counters (logins) hold across every web process."""
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "v1:cache",
            "OPTIONS": {
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
            },
        }
    }


CACHES = caches(REDIS_URL)


def channel_layers(*urls: str) -> dict[str, Any]:
    """channels-redis spreads groups and channels over the servers by hash (no replication:
    a server lost drops the pushes it was carrying, the devices catch up on reconnect)."""
    hosts = [
        {
            "address": url,
            "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT,
            "socket_connect_timeout": 2.0,
            "socket_keepalive": True,
            "health_check_interval": 30,
            "max_connections": REDIS_MAX_CONNECTIONS,
            "timeout": 2.0,  # waiting for a free connection (core/layers.py)
        }
        for url in urls
    ]
    return {
        "default": {
            "BACKEND": "core.layers.RedisChannelLayer",
            "CONFIG": {"hosts": hosts, "prefix": "v1:asgi", "capacity": CHANNEL_LAYER_CAPACITY},
        }
    }


# Several plain Redis servers (comma-separated) shard the push traffic of many web processes.
CHANNEL_LAYERS = channel_layers(*envlist("CHANNEL_LAYER_REDIS_URLS", REDIS_URL))

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 1.0
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    "max_retries": 1,
}
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_TIME_LIMIT = 60
CELERY_TASK_SOFT_TIME_LIMIT = 50
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Seconds between two points of the operator's dashboard.
PLAYSTATE_SAMPLE_INTERVAL = envfloat("PLAYSTATE_SAMPLE_INTERVAL", 5.0)
CELERY_BEAT_SCHEDULE = {
    "flush-pending": {
        "task": "playstate.tasks.flush_pending",
        "schedule": timedelta(seconds=envfloat("PLAYSTATE_FLUSH_INTERVAL", 1.0)),
        # A tick nobody picked up is worthless once the next one is due.
        "options": {"expires": 5},
    },
    # The operator's dashboard draws these points (admin: Dashboard).
    "sample-metrics": {
        "task": "playstate.tasks.sample_metrics",
        "schedule": timedelta(seconds=PLAYSTATE_SAMPLE_INTERVAL),
        "options": {"expires": 5},
    },
    # On a Redis Cluster: find titles whose slot was never announced as due (see
    # playstate/hotlayer.py, "due slots"); nothing to do on one Redis.
    "sweep-pending": {
        "task": "playstate.tasks.sweep_pending",
        "schedule": timedelta(seconds=envfloat("PLAYSTATE_SWEEP_INTERVAL", 60.0)),
        "options": {"expires": 30},
    },
    "compact-history": {
        "task": "history.tasks.compact_history_task",
        "schedule": timedelta(seconds=envint("PLAYSTATE_COMPACT_INTERVAL_SECONDS", 86_400)),
    },
}

# --- Playstate ---------------------------------------------------------------------------
# Hot keys expire after this long without a heartbeat (90-100% of it: the TTL is renewed once
# it fell below 90%).
PLAYSTATE_HOT_TTL_SECONDS = envint("PLAYSTATE_HOT_TTL_SECONDS", 48 * 3600)
# Plain heartbeats for one title are coalesced into one store write per window. A minute
# makes steady viewing (a heartbeat per 10 s) cost about one write per seven heartbeats; what
# a lost Redis without its file could cost is that minute of progress, never a pause point
# (PAUSE/STOP/SEEK are due at once). README, "Capacity plan".
PLAYSTATE_COALESCE_WINDOW_MS = envint("PLAYSTATE_COALESCE_WINDOW_MS", 60_000)
# A worker that claimed pending titles and died gives them back after this long.
PLAYSTATE_CLAIM_LEASE_MS = envint("PLAYSTATE_CLAIM_LEASE_MS", 15_000)
PLAYSTATE_FLUSH_BATCH = envint("PLAYSTATE_FLUSH_BATCH", 500)
PLAYSTATE_MAX_CLOCK_SKEW_MS = envint("PLAYSTATE_MAX_CLOCK_SKEW_MS", 10 * 60 * 1000)
PLAYSTATE_COMPLETION_RATIO = envfloat("PLAYSTATE_COMPLETION_RATIO", 0.95)
# A position below this never replaces a resume point beyond it (a stream that failed to
# start reports 0:00); Kodi ignores the first 180 s the same way (`ignoresecondsatstart`).
PLAYSTATE_IGNORE_START_MS = envint("PLAYSTATE_IGNORE_START_MS", 180_000)
PLAYSTATE_EVENT_ID_TTL_SECONDS = envint("PLAYSTATE_EVENT_ID_TTL_SECONDS", 48 * 3600)
# Token and catalog lookups are cached per process so the hot path costs no SQL query.
# Durations rarely change, and each process reloads every title it met once per this time
# (30,000 titles met, reloaded every minute, took a few per cent of a web process under
# steady ingest: make bench's profile).
PLAYSTATE_AUTH_CACHE_SECONDS = envint("PLAYSTATE_AUTH_CACHE_SECONDS", 60)
PLAYSTATE_CATALOG_CACHE_SECONDS = envint("PLAYSTATE_CATALOG_CACHE_SECONDS", 300)
# Each process loads the catalog's newest 50,000 titles in the background when it first
# checks a heartbeat, so titles cost no query on the request path (README, "Capacity plan").
PLAYSTATE_CATALOG_PREFETCH = envbool("PLAYSTATE_CATALOG_PREFETCH", True)
PLAYSTATE_STORE = os.environ.get("PLAYSTATE_STORE", "sql")
# The heartbeat and resume endpoints are served before Django (config/fastpath.py); off, the
# DRF views serve them (the same services), e.g. to debug with Django's middleware.
PLAYSTATE_FAST_PATH = envbool("PLAYSTATE_FAST_PATH", True)
# Plain heartbeats per profile, unless the admin sets another default or a profile's own
# limit: normal viewing (one heartbeat per 10 s per device, a few devices) stays well below.
PLAYSTATE_RATE_LIMIT_BURST = envint("PLAYSTATE_RATE_LIMIT_BURST", 30)
PLAYSTATE_RATE_LIMIT_PER_MINUTE = envint("PLAYSTATE_RATE_LIMIT_PER_MINUTE", 30)
PLAYSTATE_RATE_LIMIT_CACHE_SECONDS = envint("PLAYSTATE_RATE_LIMIT_CACHE_SECONDS", 5)
# Hard ceilings on every heartbeat (PAUSE/STOP/SEEK included), per minute.
PLAYSTATE_HARD_LIMIT_PROFILE_PER_MINUTE = envint("PLAYSTATE_HARD_LIMIT_PROFILE_PER_MINUTE", 300)
PLAYSTATE_HARD_LIMIT_ACCOUNT_PER_MINUTE = envint("PLAYSTATE_HARD_LIMIT_ACCOUNT_PER_MINUTE", 1200)
# The rollup moves LiveVH rows older than this into CompressedVH (daily, by Celery beat).
PLAYSTATE_COMPACT_OLDER_THAN_DAYS = envint("PLAYSTATE_COMPACT_OLDER_THAN_DAYS", 30)
# CompressedVH blobs above this size are stored in chunks of it.
PLAYSTATE_COMPRESSED_CHUNK_BYTES = envint("PLAYSTATE_COMPRESSED_CHUNK_BYTES", 64 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.payloads.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_RATES": {"login": os.environ.get("PLAYSTATE_LOGIN_RATE", "10/min")},
    "NUM_PROXIES": PLAYSTATE_TRUSTED_PROXIES,
    # No versioning class reads it: the schema view takes `?version=` into its document and
    # its Content-Disposition header when it is one of these (a NUL or a line break there
    # gave a 500, or no answer at all). The version is in the paths.
    "ALLOWED_VERSIONS": ["v1"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Playstate API",
    "DESCRIPTION": "Playback state: heartbeats in, resume positions and Continue Watching out.",
    "VERSION": "1.0.0",
    # 3.1: its schemas are JSON Schema, the dialect pydantic writes the payloads' schemas in.
    "OAS_VERSION": "3.1.0",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.bodies_are_required",
    ],
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
