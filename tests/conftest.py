from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient

from config.celery_app import app as celery_app
from playstate import auth, catalog, hotlayer
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


@pytest.fixture(autouse=True)
def _isolated(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()  # throttle counters


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
