"""A constant-rate load generator (what wrk2 does; Debian has no wrk2): request i is due at
start + i / rate, and its latency is counted from when it was due, not from when a free
connection sent it, so a server that stalls is charged for the requests queued behind the
stall (no coordinated omission).

The client is plain asyncio streams on uvloop with keep-alive connections; each response is
read by its Content-Length.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import uvloop


@dataclass(frozen=True, slots=True)
class Outcome:
    sent: int
    non_2xx: int
    behind_ms: float  # how late the last request was sent: > 0 means the client fell behind
    latencies_ms: list[float]

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _run(
    url: str, request: Callable[[int], bytes], *, rate: float, seconds: float, connections: int
) -> Outcome:
    parts = urlsplit(url)
    total = int(rate * seconds)
    latencies: list[float] = []
    non_2xx = 0
    behind = 0.0
    next_index = 0
    start = time.perf_counter() + 0.2

    async def connection() -> None:
        nonlocal next_index, non_2xx, behind
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while next_index < total:
                index = next_index
                next_index += 1
                due = start + index / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    behind = -wait * 1000
                writer.write(request(index))
                status = await _read_response(reader)
                latencies.append((time.perf_counter() - due) * 1000)
                if not 200 <= status < 300:
                    non_2xx += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return Outcome(len(latencies), non_2xx, behind, latencies)


def run(
    url: str,
    request: Callable[[int], bytes],
    *,
    rate: float,
    seconds: float,
    connections: int = 50,
) -> Outcome:
    """Send `rate` requests a second for `seconds`; `request(i)` gives request i's bytes."""
    return uvloop.run(_run(url, request, rate=rate, seconds=seconds, connections=connections))


def post(host: str, path: str, body: bytes, authorization: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {authorization}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
