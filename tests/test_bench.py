"""`make bench` draws what it measured."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis

from bench import chart, yardstick
from tests.cases import heartbeat
from tests.stack import RedisServer


def test_the_chart_shows_each_endpoint_and_its_share_of_healthz(tmp_path: Path) -> None:
    figures = {
        "healthz": {"requests_per_s": 20_000.0, "p50": 1.5, "p99": 6.0},
        "ingest": {"requests_per_s": 4_000.0, "p50": 12.0, "p99": 80.0},
        "resume": {"requests_per_s": 6_000.0, "p50": 8.0, "p99": 50.0},
    }
    result = {
        "when": "2026-11-28T13:00:00Z",
        "machine": {"cpus": 2},
        "setup": {"web_workers": 2, "connections": 50},
        "figures": figures,
    }
    out = tmp_path / "bench.svg"
    chart.draw(result, out)
    svg = out.read_text()
    assert svg.startswith("<?xml")
    for text in ("healthz", "ingest", "resume", "0.20 of healthz", "0.30 of healthz"):
        assert text in svg, text


@pytest.mark.anyio
async def test_the_yardstick_keeps_the_newest_heartbeat_and_reads_it_back(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The yardstick does the contract's Redis work, so a ratio to it compares like with like."""
    monkeypatch.setenv("YARDSTICK_REDIS_URL", redis_server.url)
    redis.Redis.from_url(redis_server.url).flushall()
    transport = httpx.ASGITransport(app=yardstick.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        for position, at in [(300_000, 2_000), (100_000, 1_000), (200_000, 2_000)]:
            body = heartbeat(video_timestamp_ms=position, client_request_time=at)
            assert (await http.post("/api/v1/heartbeats", json=body)).status_code == 202
        assert (await http.post("/api/v1/heartbeats", content=b"{")).status_code == 400
        resumed = await http.get("/api/v1/profiles/alice-tv/positions/m1")
    assert resumed.json() == {"movie_id": "m1", "position_ms": 300_000}
    assert redis.Redis.from_url(redis_server.url).zcard("yard:pending") == 1
