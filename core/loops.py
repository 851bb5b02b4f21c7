"""What belongs to one event loop: an object per loop, and calls of one turn served together."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

K = TypeVar("K")
T = TypeVar("T")
V = TypeVar("V")


def per_loop(made: dict[asyncio.AbstractEventLoop, T], make: Callable[[], T]) -> T:
    """The running loop's object in `made`, made on first use. A loop that has closed
    (`async_to_sync` runs each call on a loop of its own when none is running) takes its
    object with it, so the object is dropped rather than kept alive by the map."""
    loop = asyncio.get_running_loop()
    found = made.get(loop)
    if found is None:
        for closed in [known for known in made if known.is_closed()]:
            del made[closed]
        found = made[loop] = make()
    return found


def detached_task(coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """A task of the running loop that may outlive the request that starts it, so it runs in
    a context of its own rather than a copy of the request's. A DRF view runs in a thread
    that asgiref names in a context variable; a task started from that view inherits it, and
    its `database_sync_to_async` calls fail once the view has returned ("CurrentThreadExecutor
    already quit"): a background reload of a revoked token failed every time."""
    return asyncio.get_running_loop().create_task(coroutine, context=contextvars.Context())


class SingleFlight(Generic[T]):
    """One run of `load` at a time: whoever asks while it runs is given the same task, as
    Go's singleflight. Belongs to one event loop (see `per_loop`)."""

    def __init__(self, load: Callable[[], Coroutine[Any, Any, T]]) -> None:
        self._load = load
        self._task: asyncio.Task[T] | None = None

    def start(self) -> asyncio.Task[T]:
        """The run under way, or a new one (detached: a caller that gives up waiting for it
        leaves it running for the others, as long as they `asyncio.shield` it)."""
        if self._task is None or self._task.done():
            self._task = detached_task(self._load())
        return self._task


class TurnBatch(Generic[K, V]):
    """The calls made during one turn of the event loop, served by one call of `serve` at the
    end of it (at most `max_size` keys each), as DataLoader batches and ioredis pipelines:
    under load a process's concurrent requests reach the same call in the same turn. `serve`
    answers each key with its value or its own exception; an exception it raises fails every
    call of that batch alike. Belongs to one event loop (see `per_loop`)."""

    def __init__(
        self,
        serve: Callable[[list[K]], Awaitable[Sequence[V | Exception]]],
        *,
        max_size: int | None = None,
    ) -> None:
        self._serve, self._max_size = serve, max_size
        self._queued: list[tuple[K, asyncio.Future[V]]] = []
        self._serving: set[asyncio.Task[None]] = set()

    def submit(self, key: K) -> asyncio.Future[V]:
        loop = asyncio.get_running_loop()
        if not self._queued:
            # After every callback already due in this turn; in a context of its own, as
            # `detached_task`: the batch serves other requests than the one that opened it.
            loop.call_soon(self._dispatch, context=contextvars.Context())
        answer: asyncio.Future[V] = loop.create_future()
        self._queued.append((key, answer))
        return answer

    def _dispatch(self) -> None:
        queued, self._queued = self._queued, []
        size = self._max_size or len(queued)
        for start in range(0, len(queued), size):
            task = asyncio.ensure_future(self._batch(queued[start : start + size]))
            self._serving.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._serving.discard)

    async def _batch(self, queued: list[tuple[K, asyncio.Future[V]]]) -> None:
        try:
            values = await self._serve([key for key, _ in queued])
        except asyncio.CancelledError:
            for _, answer in queued:
                answer.cancel()
            raise
        except Exception as error:
            values = [error] * len(queued)
        for (_, answer), value in zip(queued, values, strict=True):
            if answer.done():  # its caller gave up
                continue
            if isinstance(value, Exception):
                answer.set_exception(value)
            else:
                answer.set_result(value)
