"""`make bench` (third part): cross-device sync.

1. PAUSE → other device: a listener holds a WebSocket for one profile while wrk loads the
   heartbeat endpoint; another device POSTs PAUSEs, and the time from sending the POST to
   the listener receiving the push is recorded (median, p99).
2. Idle WebSockets per web process: one uvicorn process, N idle connections, its memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.run import INGEST_LUA, PROFILES
from tests.stack import GENEROUS_LIMITS, Stack

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PAUSES = int(os.environ.get("BENCH_SYNC_PAUSES", "200"))
IDLE = int(os.environ.get("BENCH_SYNC_IDLE", "2000"))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _latencies(stack: Stack, token: str) -> list[float]:
    url = stack.url.replace("http://", "ws://")
    query = f"profile_id=sync-bench&device_id=tv&token={token}"
    latencies = []
    async with (
        websockets.connect(f"{url}/ws/v1/sync?{query}") as tv,
        httpx.AsyncClient(base_url=stack.url, headers={"Authorization": f"Bearer {token}"}) as http,
    ):
        await asyncio.sleep(0.5)
        for i in range(PAUSES):
            body = {
                "profile_id": "sync-bench", "movie_id": f"t{i}", "video_timestamp_ms": 1000 + i,
                "client_request_time": int(time.time() * 1000), "device_id": "phone",
                "event_type": "PAUSE",
            }  # fmt: skip
            started = time.perf_counter()
            response = await http.post("/api/v1/heartbeats", json=body)
            assert response.status_code == 202, response.text
            while True:
                message = json.loads(await asyncio.wait_for(tv.recv(), 30))
                if message.get("movie_id") == f"t{i}":
                    break
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.05)
    return latencies


async def _hold_idle(stack: Stack, token: str, count: int) -> list[Any]:
    url = stack.url.replace("http://", "ws://")
    sockets = []
    for i in range(count):
        query = f"profile_id=sync-bench&device_id=idle-{i}&token={token}"
        sockets.append(await websockets.connect(f"{url}/ws/v1/sync?{query}"))
    return sockets


def main() -> int:
    result: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with tempfile.TemporaryDirectory(prefix="playstate-sync-bench-") as tmp:
        stack = Stack(Path(tmp) / "latency", web_workers=2, extra_env=GENEROUS_LIMITS)
        stack.start()
        try:
            profiles = [a for i in range(PROFILES) for a in ("--profile", f"bench-{i}")]
            token = stack.manage(
                "issue_token", "bench", "--profile", "sync-bench", *profiles
            ).strip()
            script = Path(tmp) / "ingest.lua"
            script.write_text(INGEST_LUA)
            seconds = max(20, PAUSES // 8)
            wrk = ["wrk", "-t1", "-c20", f"-d{seconds}s", "-s", str(script)]
            load = subprocess.Popen(
                [*wrk, f"{stack.url}/api/v1/heartbeats"],
                env={**os.environ, "BENCH_TOKEN": token},
                stdout=subprocess.PIPE,
                text=True,
            )
            latencies = asyncio.run(_latencies(stack, token))
            load_out = load.communicate()[0]
        finally:
            stack.stop()
        rate = next((line for line in load_out.splitlines() if "Requests/sec" in line), "")
        ordered = sorted(latencies)
        result["pause_to_other_device_ms"] = {
            "samples": len(ordered),
            "median": round(statistics.median(ordered), 1),
            "p99": round(ordered[int(len(ordered) * 0.99) - 1], 1),
            "max": round(ordered[-1], 1),
            "background_load": f"wrk 20 connections on POST /api/v1/heartbeats: {rate.strip()}",
        }

        stack = Stack(Path(tmp) / "idle", web_workers=1)
        stack.start()
        try:
            token = stack.manage("issue_token", "bench", "--profile", "sync-bench").strip()
            pid = stack.processes["web"].pid
            before = _rss_mb(pid)

            async def hold() -> tuple[int, float]:
                sockets = await _hold_idle(stack, token, IDLE)
                await asyncio.sleep(2)
                rss = _rss_mb(pid)
                await asyncio.gather(*(s.close() for s in sockets))
                return len(sockets), rss

            held, after = asyncio.run(hold())
        finally:
            stack.stop()
        result["idle_websockets_one_process"] = {
            "connections": held,
            "rss_before_mb": round(before, 1),
            "rss_with_connections_mb": round(after, 1),
            "kb_per_connection": round((after - before) * 1024 / held, 1),
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sync-latest.json").write_text(json.dumps(result, indent=2))
    p = result["pause_to_other_device_ms"]
    i = result["idle_websockets_one_process"]
    print(
        f"PAUSE -> other device: median {p['median']} ms, p99 {p['p99']} ms ({p['samples']} runs)"
    )
    print(f"  under {p['background_load']}")
    print(
        f"{i['connections']} idle WebSockets on one web process: RSS {i['rss_before_mb']} ->"
        f" {i['rss_with_connections_mb']} MB ({i['kb_per_connection']} KB each)"
    )
    print("figures written to bench/results/sync-latest.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
