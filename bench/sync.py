"""Cross-device sync in `make bench`.

1. PAUSE → other device (run by bench/run.py on its seeded stack, after the HTTP phases):
   1,000 WebSockets connected (five devices on each of 200 profiles) and wrk sending steady
   heartbeats of the seeded population; a TV listens on one profile while its phone POSTs
   PAUSEs, and the time from sending the POST to the TV receiving the push is recorded
   (median, p99).
2. Idle WebSockets per web process (`python -m bench.sync`, the third part): one uvicorn
   process, N idle connections, its memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import websockets

from bench import record
from tests.stack import Stack

if TYPE_CHECKING:
    from bench.run import Population

PAUSES = int(os.environ.get("BENCH_SYNC_PAUSES", "200"))
SOCKETS = int(os.environ.get("BENCH_SYNC_SOCKETS", "1000"))
IDLE = int(os.environ.get("BENCH_SYNC_IDLE", "2000"))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _latencies(stack: Stack, population: Population) -> list[float]:
    url = stack.url.replace("http://", "ws://")
    others = [
        await websockets.connect(
            f"{url}/ws/v1/sync?profile_id=p{p}&device_id=d{d}&token={population.token_of(p)}"
        )
        for p in range(1, SOCKETS // 5 + 1)
        for d in range(5)
    ]
    token = population.token_of(0)
    latencies = []
    try:
        async with (
            websockets.connect(f"{url}/ws/v1/sync?profile_id=p0&device_id=tv&token={token}") as tv,
            httpx.AsyncClient(
                base_url=stack.url, headers={"Authorization": f"Bearer {token}"}
            ) as http,
        ):
            await asyncio.sleep(0.5)
            for i in range(PAUSES):
                body = {
                    "profile_id": "p0", "movie_id": f"x{i}", "video_timestamp_ms": 1000 + i,
                    "client_request_time": int(time.time() * 1000), "device_id": "phone",
                    "event_type": "PAUSE",
                }  # fmt: skip
                started = time.perf_counter()
                response = await http.post("/api/v1/heartbeats", json=body)
                assert response.status_code == 202, response.text
                while True:
                    message = json.loads(await asyncio.wait_for(tv.recv(), 30))
                    if message.get("movie_id") == f"x{i}":
                        break
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.05)
    finally:
        await asyncio.gather(*(s.close() for s in others))
    return latencies


async def _with_load(stack: Stack, population: Population) -> tuple[list[float], float]:
    seconds = max(20, PAUSES // 8 + SOCKETS // 200)
    load = asyncio.create_task(asyncio.to_thread(population.wrk, stack.url, "steady", 1, seconds))
    latencies = await _latencies(stack, population)
    return latencies, (await load)["requests_per_s"]


async def _hold_idle(stack: Stack, token: str, count: int) -> list[Any]:
    url = stack.url.replace("http://", "ws://")
    sockets = []
    for i in range(count):
        query = f"profile_id=sync-bench&device_id=idle-{i}&token={token}"
        sockets.append(await websockets.connect(f"{url}/ws/v1/sync?{query}"))
    return sockets


def pause_to_other_device(stack: Stack, population: Population) -> dict[str, Any]:
    """On a seeded stack whose titles are hot (as in steady viewing)."""
    latencies, rate = asyncio.run(_with_load(stack, population))
    ordered = sorted(latencies)
    return {
        "samples": len(ordered),
        "median": round(statistics.median(ordered), 1),
        "p99": round(ordered[int(len(ordered) * 0.99) - 1], 1),
        "max": round(ordered[-1], 1),
        "sockets_connected": SOCKETS + 1,
        "background_load": f"wrk, 50 connections, steady heartbeats: {rate:.0f} req/s",
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="playstate-sync-bench-") as tmp:
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
    i = {
        "connections": held,
        "rss_before_mb": round(before, 1),
        "rss_with_connections_mb": round(after, 1),
        "kb_per_connection": round((after - before) * 1024 / held, 1),
    }
    path = record.save("sync", {"idle_websockets_one_process": i}, merge=True)
    print(
        f"{i['connections']} idle WebSockets on one web process: RSS {i['rss_before_mb']} ->"
        f" {i['rss_with_connections_mb']} MB ({i['kb_per_connection']} KB each)"
    )
    print(f"figures written to {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
