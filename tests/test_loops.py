"""core/loops.py: calls of one turn of the event loop served together, one load at a time;
core/refresh.py: when cached entries go stale."""

from __future__ import annotations

import asyncio
import contextvars
import time

from core.loops import SingleFlight, TurnBatch, detached_task
from core.refresh import stale_at


class Served:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def __call__(self, keys: list[int]) -> list[int | Exception]:
        self.batches.append(keys)
        await asyncio.sleep(0)
        return [ValueError(f"no {k}") if k < 0 else k * 10 for k in keys]


def test_the_calls_of_one_turn_are_served_together_each_with_its_own_answer() -> None:
    served = Served()

    async def main() -> list[object]:
        batch = TurnBatch(served)
        first = await asyncio.gather(*(batch.submit(k) for k in (1, -2, 3)), return_exceptions=True)
        later = await batch.submit(4)  # a later turn: a batch of its own
        return [*first, later]

    one, refused, three, four = asyncio.run(main())
    assert (one, three, four) == (10, 30, 40)
    assert isinstance(refused, ValueError)
    assert str(refused) == "no -2"
    assert served.batches == [[1, -2, 3], [4]]


def test_who_asks_while_a_load_runs_is_given_it_and_later_asks_start_another() -> None:
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0)
        return loads

    async def main() -> list[int]:
        flight = SingleFlight(load)
        meanwhile = await asyncio.gather(flight.start(), flight.start(), flight.start())
        return [*meanwhile, await flight.start()]

    assert asyncio.run(main()) == [1, 1, 1, 2]


def test_a_batch_and_a_background_task_run_outside_the_context_of_whoever_started_them() -> None:
    """A DRF view's context names the thread its database calls go to, which is gone once
    the view returns: work that outlives it or serves other requests must not inherit it."""
    request: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")
    seen: list[str] = []

    async def serve(keys: list[int]) -> list[int | Exception]:
        seen.append(request.get())
        return list(keys)

    async def background() -> None:
        seen.append(request.get())

    async def view() -> None:
        request.set("a view's")
        await TurnBatch(serve).submit(1)
        await detached_task(background())

    asyncio.run(view())
    assert seen == ["none", "none"]


def test_a_turn_past_the_largest_batch_is_served_in_several() -> None:
    served = Served()

    async def main() -> list[int]:
        batch = TurnBatch(served, max_size=2)
        return list(await asyncio.gather(*(batch.submit(k) for k in range(5))))

    assert asyncio.run(main()) == [0, 10, 20, 30, 40]
    assert served.batches == [[0, 1], [2, 3], [4]]


def test_a_batch_that_fails_fails_each_of_its_calls() -> None:
    async def down(keys: list[int]) -> list[int]:
        raise ConnectionError("gone")

    async def main() -> list[object]:
        batch = TurnBatch(down)
        return await asyncio.gather(*(batch.submit(k) for k in (1, 2)), return_exceptions=True)

    assert [str(e) for e in asyncio.run(main())] == ["gone", "gone"]


def test_a_caller_that_gave_up_leaves_the_others_their_answers() -> None:
    served = Served()

    async def main() -> list[object]:
        batch = TurnBatch(served)
        first, second = batch.submit(1), batch.submit(2)
        first.cancel()
        return list(await asyncio.gather(first, second, return_exceptions=True))

    gone, answer = asyncio.run(main())
    assert isinstance(gone, asyncio.CancelledError)
    assert answer == 20


def test_entries_loaded_together_go_stale_spread_over_the_last_fifth_of_their_time() -> None:
    before = time.monotonic()
    times = [stale_at(60) - before for _ in range(1_000)]
    assert all(47.9 < t <= 60.1 for t in times)
    # Not together: spread over the last fifth, each twelve-second tenth of it used.
    assert {int((t - 48) / 1.2) for t in times} >= set(range(10))
