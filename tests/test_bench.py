"""`make bench` draws what it measured."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import redis

from bench import chart, fixedrate, yardstick
from tests.cases import heartbeat
from tests.stack import RedisServer


def test_the_chart_shows_each_phase_and_its_share_of_the_yardstick(tmp_path: Path) -> None:
    figures = {
        "healthz": {"requests_per_s": 20_000.0, "x_healthz": 1.0, "p50": 1.5, "p99": 6.0},
        "ingest steady": {
            "requests_per_s": 4_000.0, "heartbeats_per_s": 4_000.0, "x_yardstick": 0.5,
            "p50": 12.0, "p99": 80.0,
        },
        "ingest batch of 3": {
            "requests_per_s": 3_000.0, "heartbeats_per_s": 9_000.0, "x_yardstick": 1.125,
            "p50": 15.0, "p99": 90.0,
        },
        "resume hit": {
            "requests_per_s": 6_000.0, "heartbeats_per_s": 0.0, "x_yardstick": 0.75,
            "p50": 8.0, "p99": 50.0,
        },
    }  # fmt: skip
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
    for text in (
        "healthz",
        "ingest steady",
        "resume hit",
        "20,000/s (1.00 of healthz)",
        "9,000/s (1.12 of the yardstick)",  # a batch's heartbeats, not its requests
        "6,000/s (0.75 of the yardstick)",
    ):
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
    # Framed by its length, as the service's answers are: uvicorn would otherwise send it in
    # chunks, which the constant-rate client cannot read.
    assert resumed.headers["content-length"] == str(len(resumed.content))
    assert redis.Redis.from_url(redis_server.url).zcard("yard:pending") == 1


def test_the_profile_counts_busy_samples_only_and_names_the_project_code() -> None:
    from bench.run import where_time_goes

    raw = "\n".join(
        [
            "run (asyncio/runners.py:118);select (selectors.py:415) 50",  # idle loop
            "run (asyncio/runners.py:118);app (config/fastpath.py:162);"
            "ingest (playstate/hotlayer.py:251);pack_command (redis/connection.py:1357) 30",
            "run (asyncio/runners.py:118);app (config/fastpath.py:162);send (uvicorn/h.py:5) 10",
        ]
    )
    found = where_time_goes(raw)
    assert found["samples"] == 40
    assert found["inclusive"] == [
        {"function": "app (config/fastpath.py:162)", "share": 1.0},
        {"function": "ingest (playstate/hotlayer.py:251)", "share": 0.75},
    ]
    assert found["self"][0] == {
        "function": "pack_command (redis/connection.py:1357)",
        "share": 0.75,
    }


def test_the_machine_s_stolen_and_idle_time_are_read_from_all_cpus() -> None:
    from bench.run import cpu_jiffies

    # user nice system idle iowait irq softirq steal guest guest_nice (guest is within user)
    stat = "cpu  100 5 40 800 10 2 3 40 7 0\ncpu0 50 2 20 400 5 1 1 20 3 0\n"
    assert cpu_jiffies(stat) == (1000, 810, 40)


def test_a_rewrite_of_the_append_only_file_is_counted(redis_client: redis.Redis) -> None:
    """The constant-rate runs report them: each takes a core for a while on a small machine."""
    from bench.run import forks

    before = forks(redis_client)
    redis_client.bgrewriteaof()
    deadline = time.monotonic() + 10
    while forks(redis_client) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert forks(redis_client) == before + 1


class _Keptalive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the load generator's connections

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _serving(handler: type[_Keptalive]) -> Iterator[str]:
    """A local HTTP server answering with `handler`; its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


class _Answers(_Keptalive):
    """Request /i: answered at once, 500 for every fourth; the first one only after a stall."""

    def do_GET(self) -> None:
        index = int(self.path.strip("/"))
        if index == 0:
            time.sleep(0.3)
        status = b"500 Internal Server Error" if index % 4 == 3 else b"202 Accepted"
        # One write: headers and body apart would wait on the client's delayed ACK.
        self.wfile.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\n{}")


def test_the_constant_rate_client_charges_a_stall_to_every_request_due_during_it() -> None:
    with _serving(_Answers) as url:
        outcome = fixedrate.run(
            url,
            lambda i: f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
            rate=100,
            seconds=1,
            connections=1,
        )
    assert outcome.sent == 100
    assert outcome.non_2xx == 25
    # One connection, so answers come in order. Request 10 was due 100 ms in, while the
    # server still sat on request 0: it waited for the stall, and is charged for it (a
    # client that timed from when it sent it would report well under a millisecond).
    assert outcome.latencies_ms[0] >= 300
    assert outcome.latencies_ms[10] >= 150
    assert outcome.latencies_ms[-1] < 100  # caught up by the end


class _Chunked(_Keptalive):
    def do_GET(self) -> None:
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
        )


def test_the_constant_rate_client_stops_at_an_answer_it_cannot_frame() -> None:
    """Read as framed by a Content-Length, a chunked answer's chunks would count as answers."""
    with (
        _serving(_Chunked) as url,
        pytest.raises(ValueError, match="without Content-Length"),
    ):
        fixedrate.run(url, lambda i: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", rate=50, seconds=1)
