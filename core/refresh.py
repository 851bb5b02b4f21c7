"""Stale-while-revalidate for the per-process caches of the hot path (tokens, titles).

A cached entry past its time is still answered from, once, while one background task per
process reloads every such key in batches; only a key never seen costs the request a query.
So a process that has seen a population keeps serving it with no SQL on the request path,
and a change still shows within the cache's time plus the moment a reload takes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable

from core.loops import detached_task

logger = logging.getLogger(__name__)

BATCH = 500
# How long the task gathers keys before it reloads them: one query for many keys.
GATHER_SECONDS = 0.5
# An entry goes stale up to this share of its time early, at random.
SPREAD = 0.2


def stale_at(seconds: float) -> float:
    """When an entry loaded now goes stale (`time.monotonic()`): after `seconds`, less up to a
    fifth at random. Entries loaded together (a process meeting its population) would
    otherwise go stale together, be reloaded together, and so again every time."""
    return time.monotonic() + seconds * (1 - SPREAD * random.random())


class BackgroundRefresh:
    def __init__(
        self,
        reload: Callable[[set[str]], Awaitable[None]],
        *,
        batch: int = BATCH,
        gather_seconds: float = GATHER_SECONDS,
    ):
        self._reload = reload
        self._batch = batch
        self._gather_seconds = gather_seconds
        self._due: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, keys: Iterable[str]) -> None:
        """Reload these keys soon (in the running event loop)."""
        self._due.update(keys)
        if not self._due:
            return
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = detached_task(self._run())

    async def _run(self) -> None:
        await asyncio.sleep(self._gather_seconds)
        while self._due:
            chunk: set[str] = set()
            while self._due and len(chunk) < self._batch:
                chunk.add(self._due.pop())
            try:
                await self._reload(chunk)
            except Exception:
                # Left stale: the next request that reads one of them asks again.
                logger.warning("could not reload %d cached entries", len(chunk), exc_info=True)
                return

    def clear(self) -> None:
        self._due.clear()
