from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from tests.cases import DURATION_MS
from tests.stack import GENEROUS_LIMITS, Stack

# Short intervals so the tests run quickly; the window stays long enough that "a PAUSE is
# written before a plain heartbeat sent with it" is a real difference.
E2E_ENV = {
    **GENEROUS_LIMITS,
    "PLAYSTATE_RATE_LIMIT_CACHE_SECONDS": "1",
    "PLAYSTATE_COALESCE_WINDOW_MS": "4000",
    "PLAYSTATE_FLUSH_INTERVAL": "0.25",
    "PLAYSTATE_CLAIM_LEASE_MS": "3000",
    "PLAYSTATE_SAMPLE_INTERVAL": "1",
}


@dataclass
class Running:
    stack: Stack
    http: httpx.Client
    redis: redis.Redis
    alice: str
    bob: str

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def post(self, token: str | None, body: Any) -> httpx.Response:
        headers = self.auth(token) if token else {}
        return self.http.post("/api/v1/heartbeats", json=body, headers=headers)

    def position(self, movie: str, profile: str = "alice-tv") -> dict[str, Any]:
        response = self.http.get(
            f"/api/v1/profiles/{profile}/positions/{movie}", headers=self.auth(self.alice)
        )
        assert response.status_code == 200
        return dict(response.json())

    def stored(self, movie: str, profile: str = "alice-tv") -> tuple[int, str] | None:
        """The SQL store's row, read from the database file as another client would."""
        with sqlite3.connect(self.stack.db_path) as db:
            row = db.execute(
                "SELECT position_ms, event_type FROM history_livevh"
                " WHERE profile_id = ? AND movie_id = ?",
                (profile, movie),
            ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def metrics(self) -> dict[str, float]:
        return metrics(self.http)

    def wait_until_flushed(self, timeout: float = 20.0) -> None:
        wait_for(
            lambda: (
                (m := self.metrics())["playstate_pending_titles"] == 0
                and m["playstate_inflight_titles"] == 0
            ),
            timeout,
        )


def metrics(http: httpx.Client) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in http.get("/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def wait_for(condition: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not true within {timeout}s")


def start_stack(tmp_path_factory: pytest.TempPathFactory, name: str, **env: str) -> Stack:
    stack = Stack(tmp_path_factory.mktemp(name), web_workers=2, extra_env=E2E_ENV | env)
    stack.redis.start()
    stack.manage("migrate", "--noinput", "--verbosity", "0")
    if env.get("PLAYSTATE_STORE") == "cassandra":
        stack.manage("sync_cassandra")
    stack.manage("collectstatic", "--noinput", "--verbosity", "0")
    catalog = stack.directory / "catalog.csv"
    catalog.write_text(f"movie_id,title,duration_ms\nm1,Film One,{DURATION_MS}\n")
    stack.manage("import_catalog", str(catalog))
    stack.start_web()
    stack.start_worker()
    stack.start_beat()
    stack.wait_for_worker()
    return stack


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    stack = start_stack(tmp_path_factory, "stack")
    try:
        alice = stack.manage("issue_token", "alice", "--profile", "alice-tv").strip()
        bob = stack.manage("issue_token", "bob", "--profile", "bob-phone").strip()
        with httpx.Client(base_url=stack.url, timeout=10) as http:
            yield Running(
                stack,
                http,
                redis.Redis.from_url(stack.redis.url, decode_responses=True),
                alice,
                bob,
            )
    finally:
        stack.stop()
