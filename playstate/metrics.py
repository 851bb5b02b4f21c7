"""Counters shared by every web and worker process: fields of one Redis hash, incremented
inside the same script calls that do the work, so `/metrics` shows the deployment's sums."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import cast

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from core.redis import aclient
from playstate import hotlayer

REJECTED_PREFIX = "rejected:"

COUNTERS = {
    "heartbeats_received": "Heartbeats received, valid or not.",
    "heartbeats_accepted": "Heartbeats acknowledged (202).",
    "heartbeats_rate_limited": "Heartbeats dropped by the rate limiter.",
    "heartbeats_applied": "Accepted heartbeats that became the title's state.",
    "heartbeats_stale": "Accepted heartbeats older than the title's state (no change).",
    "heartbeats_duplicate": "Accepted heartbeats whose event_id was already seen.",
    "store_writes": "States written to the persistent store.",
    "sync_pushes": "Updates pushed to devices over WebSocket.",
}


def rejected(reason: str) -> str:
    return f"{REJECTED_PREFIX}{reason}"


async def incr(counters: Mapping[str, int]) -> None:
    pipe = aclient().pipeline(transaction=False)
    for field, amount in counters.items():
        if amount:
            pipe.hincrby(hotlayer.METRICS, field, amount)
    await pipe.execute()


class _Snapshot(Collector):
    """The counters and the backlog as read from Redis a moment ago."""

    def __init__(self, counters: Mapping[str, int], backlog: Mapping[str, int]) -> None:
        self.counters, self.backlog = counters, backlog

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


async def render() -> bytes:
    """Prometheus text of the deployment's counters; raises RedisError when Redis is down."""
    raw = cast("dict[str, str]", await aclient().hgetall(hotlayer.METRICS))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot({k: int(v) for k, v in raw.items()}, await hotlayer.backlog()))
    return generate_latest(registry)
