from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import StringIO
from typing import Any

import pytest
import redis
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

from config.celery_app import app as celery_app
from history.cql.store import CassandraStore
from history.sql import SqlStore
from history.store import HistoryStore
from playstate import auth, catalog, hotlayer, ratelimit
from playstate.models import ApiToken, Movie, Profile
from tests.stack import RedisServer


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A file, not the shared in-memory database: with several threads writing, SQLite's
    shared cache fails at once ("table is locked") where a file waits for its lock, as the
    service's own database does."""
    from django.conf import settings

    default = settings.DATABASES["default"]
    if default["ENGINE"] == "django.db.backends.sqlite3":
        default.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@dataclass(frozen=True)
class CassandraCluster:
    hosts: str
    keyspace: str


@pytest.fixture(scope="session")
def cassandra(
    tmp_path_factory: pytest.TempPathFactory, django_db_blocker: Any
) -> Iterator[CassandraCluster]:
    """A real Cassandra node: CASSANDRA_HOSTS if given, else one started here by the
    project's launcher (scripts/cassandra.py). A node that cannot start fails the tests
    that need it; nothing is skipped. The tests use their own keyspace, created with the
    usual command (sync_cassandra)."""
    from django.conf import settings

    from config.settings import contact_points
    from scripts.cassandra import Node

    node = None
    hosts = os.environ.get("CASSANDRA_HOSTS", "")
    database = settings.DATABASES["cassandra"]
    try:
        if not hosts:
            node = Node(tmp_path_factory.mktemp("cassandra"))
            node.start()
            node.wait_ready()
            hosts = f"127.0.0.1:{node.port}"
        database["HOST"], database["OPTIONS"]["connection"]["port"] = contact_points(
            hosts.split(",")
        )
        database["NAME"] = "playstate_test"
        with django_db_blocker.unblock():
            call_command("sync_cassandra", database="cassandra", stdout=StringIO())
        yield CassandraCluster(hosts, database["NAME"])
    finally:
        if node is None and database["NAME"] == "playstate_test":
            CassandraStore().session.execute('DROP KEYSPACE IF EXISTS "playstate_test"')
        with contextlib.suppress(Exception):  # never connected: nothing to shut down
            CassandraStore().session.cluster.shutdown()
        if node is not None:
            node.stop()


@pytest.fixture
def cassandra_store(cassandra: CassandraCluster) -> CassandraStore:
    store = CassandraStore()
    store.session.execute(f'TRUNCATE "{cassandra.keyspace}".live_vh')
    return store


@pytest.fixture(params=["sql", "cassandra"])
def store(
    request: pytest.FixtureRequest, cassandra: CassandraCluster, transactional_db: None
) -> HistoryStore:
    """Each store in turn: the SQL one (SQLite here) and the Cassandra one (a real node)."""
    if request.param == "cassandra":
        cassandra_store: CassandraStore = request.getfixturevalue("cassandra_store")
        cassandra_store.session.execute(f'TRUNCATE "{cassandra.keyspace}".compressed_vh')
        return cassandra_store
    return SqlStore()


@pytest.fixture(autouse=True)
def _isolated(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()  # throttle counters
    ratelimit.clear_cache()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer, settings: Any) -> Iterator[redis.Redis]:
    """A real, empty Redis server behind the hot layer, and a client to look into it."""
    settings.REDIS_URL = redis_server.url
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_server.url], "prefix": "v1:asgi"},
        }
    }
    celery_app.conf.broker_url = redis_server.url
    hotlayer.reset_clients()
    auth.clear_cache()
    catalog.clear_cache()
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushall()
    yield client
    client.close()
    hotlayer.reset_clients()


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks sent by the API run at once in this process (the end-to-end tests use a worker)."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


MakeAccount = Callable[..., str]


@pytest.fixture
def make_account(db: None) -> MakeAccount:
    def make(username: str, *profile_ids: str) -> str:
        account = get_user_model().objects.create_user(username, password="a-long-passphrase")
        for profile_id in profile_ids:
            Profile.objects.create(profile_id=profile_id, account=account)
        return ApiToken.issue(account)

    return make


@pytest.fixture
def alice(make_account: MakeAccount) -> str:
    """Alice owns the profiles alice-tv and alice-kids; the fixture is her token."""
    return make_account("alice", "alice-tv", "alice-kids")


@pytest.fixture
def bob(make_account: MakeAccount) -> str:
    """Bob, a stranger to Alice, owns bob-phone."""
    return make_account("bob", "bob-phone")


@pytest.fixture
def movie(db: None) -> Movie:
    return Movie.objects.create(movie_id="m1", title="Film One", duration_ms=600_000)


@pytest.fixture
def api(redis_client: redis.Redis, eager_celery: None) -> APIClient:
    return APIClient()
