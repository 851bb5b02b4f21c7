"""Shows end to end, on each store: a phone finishes an episode at its credits, the TV hears
the update and what comes next, Continue Watching holds the show's one tile, Next Up agrees;
the season's finale offers the next season."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from history.cql.store import CassandraStore
from tests.cases import check_message, heartbeat, now_s
from tests.conftest import CassandraCluster
from tests.e2e.conftest import start_stack
from tests.stack import Stack

pytestmark = pytest.mark.e2e

CATALOG = (
    "movie_id,title,duration_ms,series_id,season,episode,credits_ms\n"
    "e2e.s0e1,Making Of,600000,e2e-show,0,1,\n"
    "e2e.s1e1,Pilot,2700000,e2e-show,1,1,2520000\n"
    "e2e.s1e2,Second,2700000,e2e-show,1,2,2520000\n"
    "e2e.s2e1,Return,2700000,e2e-show,2,1,2520000\n"
)
CREDITS = 2_520_000


@pytest.fixture(scope="module", params=["sql", "cassandra"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    env: dict[str, str] = {}
    if request.param == "cassandra":
        cluster: CassandraCluster = request.getfixturevalue("cassandra")
        env = {
            "PLAYSTATE_STORE": "cassandra",
            "CASSANDRA_HOSTS": cluster.hosts,
            "CASSANDRA_KEYSPACE": "playstate_series",
        }
    stack = start_stack(tmp_path_factory, f"series-{request.param}", **env)
    catalog = stack.directory / "show.csv"
    catalog.write_text(CATALOG)
    stack.manage("import_catalog", str(catalog))
    yield stack
    stack.stop()
    if request.param == "cassandra":
        CassandraStore().session.execute("DROP KEYSPACE IF EXISTS playstate_series")


def test_finishing_episodes_moves_the_show_along_on_every_device(stack: Stack) -> None:
    token = stack.manage("issue_token", "viewer", "--profile", "viewer-tv").strip()
    auth = {"Authorization": f"Bearer {token}"}
    base = "/api/v1/profiles/viewer-tv"
    t = now_s() * 1000

    def finish(http: httpx.Client, movie: str, at: int) -> None:
        body = heartbeat(
            profile_id="viewer-tv", movie_id=movie, video_timestamp_ms=CREDITS + 1_000,
            client_request_time=at, device_id="phone", event_type="STOP",
        )  # fmt: skip
        assert http.post("/api/v1/heartbeats", json=body).status_code == 202

    async def heard(tv: Any, kind: str) -> dict[str, Any]:
        while True:
            message = check_message(json.loads(await asyncio.wait_for(tv.recv(), 15)))
            if message["type"] == kind:
                return message

    async def scenario() -> None:
        query = f"profile_id=viewer-tv&device_id=tv&token={token}"
        url = stack.url.replace("http://", "ws://") + f"/ws/v1/sync?{query}"
        async with (
            websockets.connect(url) as tv,
            httpx.AsyncClient(base_url=stack.url, headers=auth, timeout=10) as http,
        ):
            await asyncio.sleep(0.3)
            await asyncio.to_thread(
                finish, httpx.Client(base_url=stack.url, headers=auth), "e2e.s1e1", t
            )
            update = await heard(tv, "playstate.update")
            assert (update["movie_id"], update["completed"], update["device_id"]) == (
                "e2e.s1e1", True, "phone",
            )  # fmt: skip
            assert await heard(tv, "playstate.next_up") == {
                "type": "playstate.next_up", "profile_id": "viewer-tv", "series_id": "e2e-show",
                "movie_id": "e2e.s1e2", "season": 1, "episode": 2,
            }  # fmt: skip
            row = (await http.get(f"{base}/continue-watching")).json()["results"]
            assert [(r["movie_id"], r["series_id"], r["next_up"]) for r in row] == [
                ("e2e.s1e2", "e2e-show", True)
            ]
            entries = (await http.get(f"{base}/next-up")).json()["results"]
            assert [(e["movie_id"], e["reason"]) for e in entries] == [("e2e.s1e2", "next")]

            await asyncio.to_thread(
                finish, httpx.Client(base_url=stack.url, headers=auth), "e2e.s1e2", t + 1
            )
            assert (await heard(tv, "playstate.next_up"))["movie_id"] == "e2e.s2e1"
            entries = (await http.get(f"{base}/next-up")).json()["results"]
            assert [(e["movie_id"], e["reason"]) for e in entries] == [("e2e.s2e1", "new_season")]

    asyncio.run(scenario())
