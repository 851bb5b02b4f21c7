"""A constant-rate load generator (what wrk2 does; Debian has no wrk2): request i is due at
start + i / rate, and its latency is counted from when it was due, not from when a free
connection sent it, so a server that stalls is charged for the requests queued behind the
stall (no coordinated omission).

It shares the two cores with the stack it measures, so it is made cheap: keep-alive
connections as asyncio protocols on uvloop (no stream reader or coroutine per request), each
response framed by its Content-Length, and a connection that is free before its next request
is due waits on one timer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import uvloop

HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True, slots=True)
class Outcome:
    sent: int
    non_2xx: int
    behind_ms: float  # how late the last request was sent: > 0 means the client fell behind
    latencies_ms: list[float]

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


class _Schedule:
    """Which request is next, when each is due, and what came back."""

    def __init__(self, request: Callable[[int], bytes], rate: float, total: int) -> None:
        self.request, self.rate, self.total = request, rate, total
        self.start = time.perf_counter() + 0.2
        self.next_index = 0
        self.latencies: list[float] = []
        self.non_2xx = 0
        self.behind = 0.0
        self.open = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def closed(self) -> None:
        self.open -= 1
        if not self.open and not self.done.done():
            self.done.set_result(None)

    def fail(self, error: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(error)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            return int(line[15:])
    # A chunked answer would be read as an empty one and its chunks as the next answers.
    raise ValueError(f"an answer without Content-Length: {head[:200]!r}")


class _Connection(asyncio.Protocol):
    """One keep-alive connection: sends a request when it is due, the next when the answer
    is in."""

    def __init__(self, schedule: _Schedule) -> None:
        self.schedule = schedule
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.due = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's, not a subclass
        self.schedule.open += 1
        self.take_next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.schedule.closed()

    def take_next(self) -> None:
        s = self.schedule
        assert self.transport is not None
        if s.next_index >= s.total:
            self.transport.close()
            return
        index = s.next_index
        s.next_index += 1
        self.due = s.start + index / s.rate
        wait = self.due - time.perf_counter()
        if wait > 0:
            self.loop.call_later(wait, self.send, index)
        else:
            s.behind = -wait * 1000
            self.send(index)

    def send(self, index: int) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():  # a run that failed closes its connections
            self.transport.write(self.schedule.request(index))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(HEAD_END)) >= 0:
            try:
                length = _content_length(self.buffer[:end])
            except ValueError as error:
                self.schedule.fail(error)
                assert self.transport is not None
                self.transport.close()
                return
            if len(self.buffer) < end + 4 + length:
                return
            s = self.schedule
            s.latencies.append((time.perf_counter() - self.due) * 1000)
            if self.buffer[9:10] != b"2":
                s.non_2xx += 1
            self.buffer = self.buffer[end + 4 + length :]
            self.take_next()


async def _run(
    url: str, request: Callable[[int], bytes], *, rate: float, seconds: float, connections: int
) -> Outcome:
    parts = urlsplit(url)
    schedule = _Schedule(request, rate, int(rate * seconds))
    loop = asyncio.get_running_loop()
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    for _ in range(connections):
        await loop.create_connection(lambda: _Connection(schedule), host, port)
    await schedule.done
    return Outcome(len(schedule.latencies), schedule.non_2xx, schedule.behind, schedule.latencies)


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
