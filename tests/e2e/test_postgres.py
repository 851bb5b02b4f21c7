"""PostgreSQL, real: a throwaway server (Debian's package, ICU en-US collation, so the SQL
store's `COLLATE "C"` is what keeps its ordering bytewise) runs the SQL store's contract, the
rollup, the migrations and the in-process API suites, and a whole stack ingests, flushes and
resumes on it."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from playstate.hotlayer import hot_key
from tests.cases import heartbeat, now_s
from tests.e2e.conftest import run_suites, start_stack, wait_for
from tests.stack import PostgresServer

pytestmark = pytest.mark.e2e

SUITES = [
    "tests/test_store_contract.py",
    "tests/test_compaction.py",
    "tests/test_migrations.py",
    "tests/test_api.py",
    "tests/test_user_control.py",
    "tests/test_series_api.py",
]


def test_the_sql_suites_pass_on_postgresql(postgres: PostgresServer) -> None:
    run_suites(SUITES, {"DATABASE_URL": postgres.create_database("playstate")})


def test_a_stack_on_postgresql_ingests_flushes_and_resumes(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url = postgres.create_database("playstate_stack")
    stack = start_stack(tmp_path_factory, "postgres-stack", DATABASE_URL=url)
    try:
        token = stack.manage("issue_token", "alice", "--profile", "alice-tv").strip()
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=stack.url, headers=auth, timeout=10) as http:
            for position, at in [(300_000, now_s() - 20), (200_000, now_s() - 40)]:
                body = heartbeat(video_timestamp_ms=position, client_request_time=at,
                                 event_type="PAUSE")  # fmt: skip
                assert http.post("/api/v1/heartbeats", json=body).status_code == 202

            def stored() -> tuple[int, str] | None:
                with psycopg.connect(url.replace("postgres://", "postgresql://")) as db:
                    row = db.execute(
                        "SELECT position_ms, event_type FROM history_livevh"
                        " WHERE profile_id = 'alice-tv' AND movie_id = 'm1'"
                    ).fetchone()
                return None if row is None else (int(row[0]), str(row[1]))

            wait_for(lambda: stored() == (300_000, "PAUSE"))
            stack.redis_client().delete(hot_key("alice-tv", "m1"))
            resumed = http.get("/api/v1/profiles/alice-tv/positions/m1").json()
            assert (resumed["position_ms"], resumed["source"]) == (300_000, "store")
            assert http.get("/readyz").json()["store"] == "ok"
    finally:
        stack.stop()
