from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis

from tests.cases import DURATION_MS, heartbeat, now_s
from tests.stack import GENEROUS_LIMITS, ROOT, PostgresServer, Stack

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
    return launch(Stack(tmp_path_factory.mktemp(name), web_workers=2, extra_env=E2E_ENV | env))


def launch(stack: Stack) -> Stack:
    """Start a stack's servers and processes, with one title in its catalog."""
    stack.start_redis()
    stack.manage("migrate", "--noinput", "--verbosity", "0")
    if stack.extra_env.get("PLAYSTATE_STORE") == "cassandra":
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
                stack.redis_client(),
                alice,
                bob,
            )
    finally:
        stack.stop()


TITLES = 40
PAST_START = 180_000


@dataclass
class Viewers:
    """Devices sending heartbeats over many titles until stopped, retrying a request that got
    no answer (with the same event id) as an app does; what each title's last acknowledged
    state is. A PAUSE every fifth heartbeat, so writes go out at once too."""

    url: str
    token: str
    acknowledged: dict[str, int] = field(default_factory=dict)
    answers: list[int] = field(default_factory=list)
    answered_at: list[float] = field(default_factory=list)  # time.monotonic() of each
    unanswered: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)

    def _run(self) -> None:
        base = now_s() * 1000 - 300_000
        auth = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=auth, timeout=5) as http:
            n = 0
            while not self._stop.is_set():
                movie = f"t{n % TITLES}"
                body = heartbeat(
                    movie_id=movie,
                    # Past the first 3 minutes, where the newest always wins.
                    video_timestamp_ms=PAST_START + 10 * n,
                    client_request_time=base + n,
                    event_type="PAUSE" if n % 5 == 0 else "HEARTBEAT",
                    event_id=f"e{n}",
                )
                status = self._send(http, body)
                self.answers.append(status)
                self.answered_at.append(time.monotonic())
                if status == 202:
                    self.acknowledged[movie] = PAST_START + 10 * n
                n += 1

    def _send(self, http: httpx.Client, body: dict[str, Any]) -> int:
        while True:
            try:
                return http.post("/api/v1/heartbeats", json=body).status_code
            except httpx.TransportError:
                self.unanswered += 1
                time.sleep(0.05)


def backlog(http: httpx.Client) -> float:
    values = metrics(http)
    return values["playstate_pending_titles"] + values["playstate_inflight_titles"]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server (tests/stack.py)."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


def run_suites(suites: list[str], env: dict[str, str]) -> None:
    """Run test files in a pytest of their own with `env` added; fail with its output."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not cassandra",
         *suites],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in summary, summary
    assert "failed" not in summary, summary
