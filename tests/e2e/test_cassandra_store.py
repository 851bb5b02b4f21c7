"""The stack on the production store: the Celery worker writes to a real Cassandra node,
with each heartbeat's client time as the write timestamp, and reads fall back to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from history.cql.store import CassandraStore
from tests.cases import heartbeat, now_s
from tests.conftest import CassandraCluster
from tests.e2e.conftest import start_stack, wait_for
from tests.stack import Stack

pytestmark = pytest.mark.e2e

KEYSPACE = "playstate_e2e"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, cassandra: CassandraCluster) -> Iterator[Stack]:
    stack = start_stack(
        tmp_path_factory,
        "cassandra-stack",
        PLAYSTATE_STORE="cassandra",
        CASSANDRA_HOSTS=cassandra.hosts,
        CASSANDRA_KEYSPACE=KEYSPACE,
        CASSANDRA_WRITE_CONSISTENCY="LOCAL_QUORUM",
        CASSANDRA_READ_CONSISTENCY="LOCAL_QUORUM",
    )
    yield stack
    stack.stop()
    CassandraStore().session.execute(f"DROP KEYSPACE IF EXISTS {KEYSPACE}")


def cassandra_row(movie: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        CassandraStore()
        .session.execute(
            "SELECT position_ms, writetime(position_ms) AS written"
            f" FROM {KEYSPACE}.live_vh WHERE profile_id = %s AND movie_id = %s",
            ("alice-tv", movie),
        )
        .one()
    )
    return row


def test_heartbeats_reach_cassandra_and_come_back(stack: Stack) -> None:
    token = stack.manage("issue_token", "alice", "--profile", "alice-tv").strip()
    t = now_s() * 1000 - 60_000
    with httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as http:
        for crt, pos, event in [(t + 30_000, 300_000, "SEEK"), (t, 900_000, "PAUSE")]:
            body = heartbeat(
                movie_id="c1", client_request_time=crt, video_timestamp_ms=pos, event_type=event
            )
            assert http.post("/api/v1/heartbeats", json=body).status_code == 202
        wait_for(
            lambda: cassandra_row("c1") == {"position_ms": 300_000, "written": (t + 30_000) * 1000}
        )
        assert http.get("/readyz").json()["store"] == "ok"

        # The cache forgets the title: the next read must come from Cassandra.
        cache = stack.redis_client()
        cache.delete("v1:playstats:{alice-tv}:c1", "v1:recent:{alice-tv}")
        resumed = http.get("/api/v1/profiles/alice-tv/positions/c1").json()
        assert (resumed["position_ms"], resumed["source"]) == (300_000, "store")
        row = http.get("/api/v1/profiles/alice-tv/continue-watching").json()["results"]
        assert [(r["movie_id"], r["position_ms"]) for r in row] == [("c1", 300_000)]
