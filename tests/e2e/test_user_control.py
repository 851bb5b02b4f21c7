"""A person's control over their history, end to end on each store (real web server, worker,
Redis, SQLite or a Cassandra node): a failed start loses nothing, a deliberate restart moves
the place, restore, watched with a past date, hiding a compacted title (and a TV that was
away hearing of it), and the export of a 10,000-title history."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
import websockets

from history.cql.store import CassandraStore
from playstate.hotlayer import hot_key
from tests.cases import check_message, heartbeat, now_s
from tests.conftest import CassandraCluster
from tests.e2e.conftest import metrics, start_stack, wait_for
from tests.stack import Stack

pytestmark = pytest.mark.e2e

PROFILE = "viewer-tv"
DURATION = 5_400_000


@dataclass
class Viewer:
    stack: Stack
    http: httpx.Client
    redis: redis.Redis
    token: str

    def send(
        self, movie: str, position: int, at_s: int, device: str = "tv", event: str = "HEARTBEAT"
    ) -> None:
        body = heartbeat(
            profile_id=PROFILE, movie_id=movie, video_timestamp_ms=position,
            client_request_time=at_s, device_id=device, event_type=event,
        )  # fmt: skip
        assert self.http.post("/api/v1/heartbeats", json=body).status_code == 202

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.http.request(method, f"/api/v1/profiles/{PROFILE}/{path}", json=body)

    def flushed(self) -> None:
        wait_for(
            lambda: (
                (m := metrics(self.http))["playstate_pending_titles"] == 0
                and m["playstate_inflight_titles"] == 0
            ),
            60,
        )

    def from_store(self, movie: str) -> dict[str, Any]:
        """The resume answer with the hot layer's copy gone: what the store holds."""
        self.flushed()
        self.redis.delete(hot_key(PROFILE, movie))
        body = dict(self.call("GET", f"positions/{movie}").json())
        assert body["source"] in ("store", "default"), body
        return body

    def listed(self, path: str) -> list[str]:
        response = self.call("GET", path)
        assert response.status_code == 200, response.text
        return [item["movie_id"] for item in response.json()["results"]]


@pytest.fixture(scope="module", params=["sql", "cassandra"])
def viewer(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Viewer]:
    env: dict[str, str] = {}
    if request.param == "cassandra":
        cluster: CassandraCluster = request.getfixturevalue("cassandra")
        env = {
            "PLAYSTATE_STORE": "cassandra",
            "CASSANDRA_HOSTS": cluster.hosts,
            "CASSANDRA_KEYSPACE": "playstate_control",
        }
    stack = start_stack(tmp_path_factory, f"control-{request.param}", **env)
    catalog = stack.directory / "films.csv"
    catalog.write_text(
        "movie_id,title,duration_ms\n"
        + "".join(f"{m},Film {m},{DURATION}\n" for m in ("failed", "restart", "undo", "marked"))
    )
    stack.manage("import_catalog", str(catalog))
    token = stack.manage("issue_token", "viewer", "--profile", PROFILE).strip()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=30) as http:
        yield Viewer(stack, http, stack.redis_client(), token)
    stack.stop()
    if request.param == "cassandra":
        CassandraStore().session.execute("DROP KEYSPACE IF EXISTS playstate_control")


def test_a_failed_start_on_the_tv_leaves_the_phones_place_everywhere(viewer: Viewer) -> None:
    t = now_s()
    viewer.send("failed", 1_200_000, t - 120, device="phone", event="PAUSE")
    viewer.send("failed", 0, t - 60, event="START")
    viewer.send("failed", 3_000, t - 57, event="STOP")
    assert viewer.call("GET", "positions/failed").json()["position_ms"] == 1_200_000
    stored = viewer.from_store("failed")
    assert (stored["position_ms"], stored["device_id"]) == (1_200_000, "phone")
    versions = viewer.call("GET", "positions/failed/versions").json()["results"]
    assert [(v["position_ms"], v["device_id"]) for v in versions] == [
        (3_000, "tv"),
        (1_200_000, "phone"),
    ]


def test_watching_from_the_start_on_purpose_moves_the_place(viewer: Viewer) -> None:
    t = now_s()
    viewer.send("restart", 1_200_000, t - 600, device="phone", event="PAUSE")
    for s in range(0, 301, 15):
        viewer.send("restart", s * 1000, t - 310 + s)
    assert viewer.from_store("restart")["position_ms"] == 300_000


def test_restore_wins_on_every_device_and_in_the_store(viewer: Viewer) -> None:
    t = now_s()
    viewer.send("undo", 1_200_000, t - 300, device="phone", event="PAUSE")
    viewer.send("undo", 2_400_000, t - 60, event="STOP")

    async def scenario() -> dict[str, Any]:
        query = f"profile_id={PROFILE}&device_id=tablet&token={viewer.token}"
        url = viewer.stack.url.replace("http://", "ws://") + f"/ws/v1/sync?{query}"
        async with websockets.connect(url) as tablet:
            response = await asyncio.to_thread(
                viewer.call, "POST", "positions/undo/restore", {"position_ms": 1_200_000}
            )
            assert response.status_code == 200, response.text
            while True:
                message = check_message(json.loads(await asyncio.wait_for(tablet.recv(), 15)))
                if message["device_id"] == "restore":
                    return message

    pushed = asyncio.run(scenario())
    assert (pushed["position_ms"], pushed["event_type"]) == (1_200_000, "RESTORE")
    stored = viewer.from_store("undo")
    assert (stored["position_ms"], stored["device_id"]) == (1_200_000, "restore")


def test_watched_with_a_past_date_loses_to_a_later_heartbeat(viewer: Viewer) -> None:
    t = now_s()
    response = viewer.call("PUT", "watched/marked", {"watched_at": t - 3_600})
    assert response.status_code == 200, response.text
    assert viewer.from_store("marked")["completed"] is True
    viewer.send("marked", 600_000, t - 7_200)  # before the mark: it stays watched
    assert viewer.from_store("marked")["completed"] is True
    viewer.send("marked", 600_000, t - 60)
    stored = viewer.from_store("marked")
    assert (stored["position_ms"], stored["completed"]) == (600_000, False)


def test_a_compacted_title_hidden_from_history_is_gone_on_every_device(viewer: Viewer) -> None:
    long_ago = now_s() - 90 * 86_400
    viewer.send("old-film", 2_000_000, long_ago, event="PAUSE")
    viewer.send("kept-film", 2_000_000, long_ago + 60, event="PAUSE")
    viewer.flushed()
    assert "1 profile" in viewer.stack.manage("compact_history")
    viewer.redis.delete(hot_key(PROFILE, "old-film"), hot_key(PROFILE, "kept-film"))
    assert {"old-film", "kept-film"} <= set(viewer.listed("history"))
    away_since = now_s() * 1000
    assert viewer.call("DELETE", "history/old-film").status_code == 204
    viewer.flushed()
    viewer.redis.delete(hot_key(PROFILE, "old-film"))
    history = viewer.listed("history")
    assert "old-film" not in history
    assert "kept-film" in history
    assert viewer.from_store("old-film")["position_ms"] == 0

    async def reconnect() -> list[dict[str, Any]]:
        query = f"profile_id={PROFILE}&device_id=tv2&token={viewer.token}&since={away_since}"
        url = viewer.stack.url.replace("http://", "ws://") + f"/ws/v1/sync?{query}"
        async with websockets.connect(url) as tv:
            heard = []
            while True:
                try:
                    heard.append(json.loads(await asyncio.wait_for(tv.recv(), 2)))
                except TimeoutError:
                    return heard

    heard = [check_message(m) for m in asyncio.run(reconnect())]
    assert {"type": "playstate.removed", "profile_id": PROFILE, "movie_id": "old-film"} in heard


def test_the_export_of_a_ten_thousand_title_history_is_whole(viewer: Viewer) -> None:
    start = now_s() - 400 * 86_400
    for batch in range(200):
        body = {
            "heartbeats": [
                heartbeat(
                    profile_id=PROFILE,
                    movie_id=f"t{batch:03}-{i:02}",
                    video_timestamp_ms=600_000,
                    client_request_time=start + batch * 50 + i,
                    event_type="STOP",
                )
                for i in range(50)
            ]
        }
        response = viewer.http.post("/api/v1/heartbeats", json=body)
        assert response.json()["accepted"] == 50, response.text
    viewer.flushed()
    viewer.stack.manage("compact_history")
    with viewer.http.stream(
        "GET", f"/api/v1/profiles/{PROFILE}/history/export", params={"format": "csv"}
    ) as response:
        assert response.status_code == 200
        text = b"".join(response.iter_bytes()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    exported = {r["movie_id"] for r in rows}
    assert len([m for m in exported if m.startswith("t")]) == 10_000
    assert "old-film" not in exported
    assert rows[0]["last_watched"].endswith("Z")
