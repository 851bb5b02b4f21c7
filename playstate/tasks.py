"""Celery tasks: thin, they run one service on this worker thread's event loop."""

from __future__ import annotations

import asyncio
import logging
import threading

from celery import shared_task
from celery.signals import worker_process_shutdown
from django.conf import settings
from redis.exceptions import RedisError

from core.outages import OutageLog
from history.store import StoreUnavailable

logger = logging.getLogger(__name__)
_local = threading.local()


def _loop() -> asyncio.Runner:
    # One event loop per worker thread, kept between tasks, so its Redis and Channels
    # connections are reused (asgiref's async_to_sync would start a loop per call).
    runner: asyncio.Runner | None = getattr(_local, "runner", None)
    if runner is None:
        runner = _local.runner = asyncio.Runner()
    return runner


@worker_process_shutdown.connect
def _close_loop(**kwargs: object) -> None:
    runner: asyncio.Runner | None = getattr(_local, "runner", None)
    if runner is not None:
        runner.close()


outages = OutageLog(logger, "heartbeats wait in Redis until it is back")


@shared_task(name="playstate.tasks.flush_pending", ignore_result=True)
def flush_pending_task() -> int:
    """Persist the winners of due titles; go on while a full batch suggests more are due.
    While the store or Redis is down, the titles wait and a later tick writes them."""
    from playstate.flush import pending_flush

    try:
        claimed = _loop().run(pending_flush())
    except StoreUnavailable as error:
        outages.failed("store", error)
        return 0
    except RedisError as error:
        outages.failed("hot layer", error)
        return 0
    if claimed:  # a tick with nothing to write has not heard from the store
        outages.answered("store")
    outages.answered("hot layer")
    if claimed >= settings.PLAYSTATE_FLUSH_BATCH:
        flush_pending_task.apply_async()
    return claimed


@shared_task(name="playstate.tasks.sweep_pending", ignore_result=True)
def sweep_pending_task() -> int:
    """On a Redis Cluster, find slots with titles no worker was told of (hotlayer.sweep)."""
    from playstate.hotlayer import sweep

    try:
        return _loop().run(sweep())
    except RedisError as error:
        outages.failed("hot layer", error)
        return 0


@shared_task(name="playstate.tasks.sample_metrics", ignore_result=True)
def sample_metrics_task() -> None:
    """One point of the dashboard's time series (playstate.metrics.sample)."""
    from core.clock import now_ms
    from playstate.metrics import sample

    try:
        _loop().run(sample(now_ms=now_ms()))
    except RedisError as error:
        outages.failed("hot layer", error)
