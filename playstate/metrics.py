"""Counters shared by every web and worker process: fields of a Redis hash in the hot layer
(spread over several on a Redis Cluster), incremented inside the same script calls that do
the work where they can, so `/metrics` shows the deployment's sums."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import cast

import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from core.redis import aclient
from playstate import hotlayer
from playstate.hotlayer import REJECTED_PREFIX

# Open WebSockets: channel name → until when it counts (each socket renews its lease while
# open), so a web process that dies takes its sockets out of the count within a lease.
SOCKETS = "v1:sockets"

COUNTERS = {
    "heartbeats_received": "Heartbeats received, valid or not.",
    "heartbeats_accepted": "Heartbeats acknowledged (202).",
    "heartbeats_rate_limited": "Heartbeats dropped by the rate limiter.",
    "heartbeats_applied": "Accepted heartbeats that became the title's state.",
    "heartbeats_stale": "Accepted heartbeats older than the title's state (no change).",
    "heartbeats_duplicate": "Accepted heartbeats whose event_id was already seen.",
    "heartbeats_unreplicated": "Heartbeats acknowledged before a replica confirmed them"
    " (PLAYSTATE_HOT_WAIT_REPLICAS).",
    "store_writes": "States written to the persistent store.",
    "sync_pushes": "Updates pushed to devices over WebSocket.",
}


def rejected(reason: str) -> str:
    return f"{REJECTED_PREFIX}{reason}"


async def incr(counters: Mapping[str, int]) -> None:
    await hotlayer.count(counters)


async def socket_open(channel_name: str, *, now_ms: int, lease_ms: int) -> None:
    await aclient().zadd(SOCKETS, {channel_name: now_ms + lease_ms})


async def socket_closed(channel_name: str) -> None:
    await aclient().zrem(SOCKETS, channel_name)


async def sockets_open(*, now_ms: int) -> int:
    pipe = aclient().pipeline(transaction=False)
    pipe.zremrangebyscore(SOCKETS, "-inf", now_ms)
    pipe.zcard(SOCKETS)
    _, count = await pipe.execute()
    return int(count)


@dataclass(frozen=True, slots=True)
class Reading:
    """The deployment's counters, backlog and open sockets, read from Redis at one time."""

    at_ms: int
    counters: dict[str, int]
    backlog: dict[str, int]
    sockets: int


async def read(*, now_ms: int) -> Reading:
    """Raises RedisError when Redis is down."""
    return Reading(
        now_ms,
        await hotlayer.counters(),
        await hotlayer.backlog(),
        await sockets_open(now_ms=now_ms),
    )


SAMPLES = "v1:samples"
SAMPLES_KEPT = 720  # an hour at the default interval of 5 s


def sample_of(reading: Reading) -> dict[str, int]:
    """What the dashboard charts (rates come from two samples' differences)."""
    counters = reading.counters
    return {
        "t": reading.at_ms,
        "accepted": counters.get("heartbeats_accepted", 0),
        "rejected": sum(v for k, v in counters.items() if k.startswith(REJECTED_PREFIX)),
        "limited": counters.get("heartbeats_rate_limited", 0),
        "store_writes": counters.get("store_writes", 0),
        "sync_pushes": counters.get("sync_pushes", 0),
        "pending": reading.backlog.get("pending", 0),
        "inflight": reading.backlog.get("inflight", 0),
        "sockets": reading.sockets,
    }


async def sample(*, now_ms: int) -> None:
    """Keep the counters of now in the short time series the dashboard draws."""
    pipe = aclient().pipeline(transaction=False)
    pipe.lpush(SAMPLES, orjson.dumps(sample_of(await read(now_ms=now_ms))))
    pipe.ltrim(SAMPLES, 0, SAMPLES_KEPT - 1)
    await pipe.execute()


async def samples() -> list[dict[str, int]]:
    """The kept samples, oldest first. Raises RedisError."""
    raw = cast("list[str]", await aclient().lrange(SAMPLES, 0, -1))
    return [orjson.loads(item) for item in reversed(raw)]


class _Snapshot(Collector):
    """The counters and the backlog as read from Redis a moment ago."""

    def __init__(self, reading: Reading) -> None:
        self.counters, self.backlog, self.sockets = (
            reading.counters,
            reading.backlog,
            reading.sockets,
        )

    def collect(self) -> Iterator[Metric]:
        for field, doc in COUNTERS.items():
            yield CounterMetricFamily(f"playstate_{field}", doc, value=self.counters.get(field, 0))
        by_reason = CounterMetricFamily(
            "playstate_heartbeats_rejected",
            "Heartbeats refused with a 4xx, by reason.",
            labels=["reason"],
        )
        for field, value in sorted(self.counters.items()):
            if field.startswith(REJECTED_PREFIX):
                by_reason.add_metric([field.removeprefix(REJECTED_PREFIX)], value)
        yield by_reason
        for name, value in self.backlog.items():
            yield GaugeMetricFamily(
                f"playstate_{name}_titles",
                f"Titles whose winning state is {name} on its way to the store.",
                value=value,
            )
        yield GaugeMetricFamily(
            "playstate_sockets_open", "WebSockets open across the deployment.", value=self.sockets
        )


async def render(*, now_ms: int) -> bytes:
    """Prometheus text of the deployment's counters; raises RedisError when Redis is down."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(await read(now_ms=now_ms)))
    return generate_latest(registry)
