from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from io import StringIO
from typing import Any, TypeVar

import httpx
import pytest
import redis
from cassandra.cqlengine import CQLEngineException
from cassandra.cqlengine import connection as cqlengine_connection
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections

from accounts import auth
from accounts.models import ApiToken, Profile
from catalog import titles as catalog_titles
from catalog.models import Movie
from config.celery_app import app as celery_app
from config.settings import caches, channel_layers
from core import redis as core_redis
from history.cql.store import CassandraStore
from history.sql import SqlStore
from history.store import HistoryStore
from playstate import ratelimit
from tests.stack import RedisCluster, RedisServer, hot_cluster_wanted

T = TypeVar("T")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that start (or use) a Cassandra node, so a quick loop can leave them out."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "cassandra" in getattr(item, "fixturenames", ()) or params.get("store") == "cassandra":
            item.add_marker(pytest.mark.cassandra)


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


@contextlib.contextmanager
def _cassandra_unguarded() -> Iterator[None]:
    """The Cassandra alias usable here, whichever test first needs the node. In a test that
    did not ask for the alias, Django guards its connection methods (instance attributes
    that raise); the session fixtures set the node up outside any one test's concerns, so
    they lift the guard for a moment. Django also closes every connection after a test,
    which unregisters the alias's cqlengine session: this connects it again."""
    wrapper = connections["cassandra"]
    guards: dict[str, Any] = {
        name: wrapper.__dict__.pop(name)
        for name in ("connect", "temporary_connection", "cursor", "chunked_cursor")
        if name in wrapper.__dict__
    }
    try:
        try:
            cqlengine_connection.get_session(connection="cassandra")
        except CQLEngineException:
            wrapper.connect()
        yield
    finally:
        wrapper.__dict__.update(guards)


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
        with django_db_blocker.unblock(), _cassandra_unguarded():
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
    with _cassandra_unguarded():
        store = CassandraStore()
    store.session.execute(f'TRUNCATE "{cassandra.keyspace}".live_vh')
    return store


@pytest.fixture(params=["sql", "cassandra"])
def store(request: pytest.FixtureRequest, transactional_db: None) -> HistoryStore:
    """Each store in turn: the SQL one (SQLite here) and the Cassandra one (a real node,
    started only when a Cassandra case runs)."""
    if request.param == "cassandra":
        cassandra_store: CassandraStore = request.getfixturevalue("cassandra_store")
        keyspace = request.getfixturevalue("cassandra").keyspace
        cassandra_store.session.execute(f'TRUNCATE "{keyspace}".compressed_vh')
        return cassandra_store
    return SqlStore()


@pytest.fixture(scope="session", autouse=True)
def _cassandra_alias_closes_nothing() -> Iterator[None]:
    """Asked to close stale connections (as channels' database_sync_to_async does around
    every ORM call), django-cassandra-engine's wrapper *connects* instead; lazily, so in
    production it costs nothing, but pytest-django refuses any connection to an alias a test
    did not ask for. A Cassandra session has nothing to close, so here the call does nothing."""
    from django_cassandra_engine.base import DatabaseWrapper

    original = DatabaseWrapper.close_if_unusable_or_obsolete
    DatabaseWrapper.close_if_unusable_or_obsolete = lambda self: None
    yield
    DatabaseWrapper.close_if_unusable_or_obsolete = original


@pytest.fixture(autouse=True)
def _isolated(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # No background catalog load racing a test's own database work (test_catalog has one).
    settings.PLAYSTATE_CATALOG_PREFETCH = False
    ratelimit.clear_cache()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hot_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster | None]:
    """With PLAYSTATE_TEST_HOT_CLUSTER=1, a Redis Cluster for the hot layer."""
    if not hot_cluster_wanted():
        yield None
        return
    cluster = RedisCluster(tmp_path_factory.mktemp("hot"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_client(
    redis_server: RedisServer, hot_cluster: RedisCluster | None, settings: Any
) -> Iterator[redis.Redis]:
    """A real, empty Redis server behind the hot layer, and a client to look into it (of the
    hot layer's cluster when there is one)."""
    settings.REDIS_URL = settings.PLAYSTATE_HOT_REDIS_URL = redis_server.url
    settings.CHANNEL_LAYERS = channel_layers(redis_server.url)
    settings.CACHES = caches(redis_server.url)
    celery_app.conf.broker_url = redis_server.url  # type: ignore[misc]
    core_redis.reset_clients()
    auth.clear_cache()
    catalog_titles.clear_cache()
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushall()
    if hot_cluster is not None:
        settings.PLAYSTATE_HOT_REDIS_URL = hot_cluster.url
        settings.PLAYSTATE_HOT_REDIS_CLUSTER = True
        client.close()
        client = hot_cluster.client()  # type: ignore[assignment]
        client.flushall()
    yield client
    client.close()
    core_redis.reset_clients()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def run() -> Iterator[Callable[[Coroutine[Any, Any, T]], T]]:
    """Run a coroutine from a sync test, on one event loop kept for the whole test (as the
    Celery worker does), so its Redis connections are reused."""
    with asyncio.Runner() as runner:
        yield runner.run


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


@pytest.fixture(params=["fast path", "django"])
async def api(
    request: pytest.FixtureRequest,
    redis_client: redis.Redis,
    transactional_db: None,
) -> AsyncIterator[httpx.AsyncClient]:
    """The real ASGI application in-process, over HTTP semantics: with the fast path in
    front (as served), and without it (the DRF views); both must answer alike."""
    from config.asgi import build

    app = build(fast_path=request.param == "fast path")
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client
