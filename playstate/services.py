"""Writes other than ingest: a person's own requests (restore a resume point, mark watched or
unwatched, hide from Continue Watching or from history) and support staff's restart.

A mark (`core.domain.MARKS`) is a state like a heartbeat's, ordered like one, and sent the
way a device's PAUSE is: it wins where it is newer, is persisted at once (a worker is
nudged) and pushed to the profile's devices after the write.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.titles import durations, titles
from core.clock import now_ms
from core.domain import EventType, PlayState
from playstate import events, hotlayer
from playstate.hotlayer import Hiding
from playstate.ingest import announce, nudge, read_through
from playstate.selectors import position_get, shelf
from playstate.stored import stored_get

SUPPORT_DEVICE = "support"
RESTORE_DEVICE = "restore"
MARK_DEVICE = "mark"


class RateLimited(Exception):
    """The profile or its account is over its hard ceiling: HTTP 429."""

    def __init__(self, retry_after_ms: int) -> None:
        super().__init__(retry_after_ms)
        self.retry_after_ms = retry_after_ms


class NotInCatalog(Exception):
    """Marking a title watched needs its duration: HTTP 404."""


class PastTheEnd(Exception):
    """A resume point after the end of the title: HTTP 400."""

    def __init__(self, duration_ms: int) -> None:
        super().__init__(duration_ms)
        self.duration_ms = duration_ms


@dataclass(frozen=True, slots=True)
class Mark:
    position_ms: int
    event_type: EventType
    device_id: str
    # None: now, or just after the title's current state when a device's clock is ahead, so
    # that a person's request wins over everything before it.
    at: int | None = None


def _after(current: PlayState | None) -> int:
    """Now, or just after `current` when a device's clock runs ahead of the server's."""
    return max(now_ms(), 0 if current is None else current.client_request_time + 1)


async def _apply(*, account_id: int, profile_id: str, movie_id: str, mark: Mark) -> PlayState:
    """Put a mark in the hot layer (reading the title through first) and schedule its write."""
    duration = (await durations([movie_id])).get(movie_id)
    at = mark.at
    if at is None:
        current, _ = await position_get(profile_id=profile_id, movie_id=movie_id)
        at = _after(current)
    state = PlayState(
        profile_id,
        movie_id,
        mark.position_ms,
        at,
        mark.device_id,
        mark.event_type,
        duration,
        significant=True,
    )
    item = hotlayer.IngestItem(state, None)
    await read_through([item])
    limits = hotlayer.Limits(account_id, {profile_id: (1, 1)})  # urgent: no plain tokens
    outcome = await hotlayer.ingest(
        [item], now_ms=now_ms(), counters={}, limits=limits, may_create=True
    )
    if outcome.codes == [hotlayer.RATE_LIMITED]:
        raise RateLimited(outcome.retry_after_ms)
    if outcome.codes == [hotlayer.APPLIED]:
        await announce([state])
    if outcome.nudge:
        await nudge()
    return state


async def position_restore(
    *, account_id: int, profile_id: str, movie_id: str, position_ms: int
) -> None:
    """Go back to a resume point (any position up to the title's end, e.g. one of
    `versions`): a newer state there from device `restore`. Raises PastTheEnd, RedisError
    when the hot layer is down, RateLimited."""
    duration = (await durations([movie_id])).get(movie_id)
    if duration is not None and position_ms > duration:
        raise PastTheEnd(duration)
    mark = Mark(position_ms, EventType.RESTORE, RESTORE_DEVICE)
    await _apply(account_id=account_id, profile_id=profile_id, movie_id=movie_id, mark=mark)


async def position_clear(*, account_id: int, profile_id: str, movie_id: str) -> None:
    """Support staff restart a title from the beginning."""
    mark = Mark(0, EventType.RESTORE, SUPPORT_DEVICE)
    await _apply(account_id=account_id, profile_id=profile_id, movie_id=movie_id, mark=mark)


async def watched_mark(
    *, account_id: int, profile_id: str, movie_id: str, watched_at: int | None
) -> None:
    """The title completed as of `watched_at` (default now): at its end, so a heartbeat after
    that time wins over it, an earlier one does not. Raises NotInCatalog, RedisError,
    RateLimited."""
    duration = (await durations([movie_id])).get(movie_id)
    if duration is None:
        raise NotInCatalog(movie_id)
    mark = Mark(duration, EventType.WATCHED, MARK_DEVICE, watched_at)
    await _apply(account_id=account_id, profile_id=profile_id, movie_id=movie_id, mark=mark)


async def watched_unmark(*, account_id: int, profile_id: str, movie_id: str) -> None:
    """Not watched: position 0, not completed, newer than the title's current state. A
    title never watched has nothing to undo, and stays out of history."""
    current, _ = await position_get(profile_id=profile_id, movie_id=movie_id)
    if current is None:
        return
    mark = Mark(0, EventType.UNWATCHED, MARK_DEVICE, _after(current))
    await _apply(account_id=account_id, profile_id=profile_id, movie_id=movie_id, mark=mark)


async def _hide(profile_id: str, movie_id: str, *, now: int, hiding: Hiding) -> bool:
    """Hide a title up to its current state, wherever that state is; False if there is none."""
    if await hotlayer.hide(profile_id, movie_id, now_ms=now, hiding=hiding):
        return True
    stored = await stored_get(profile_id, movie_id)
    if stored is None:
        return False
    await hotlayer.repair(stored)
    return await hotlayer.hide(profile_id, movie_id, now_ms=now, hiding=hiding)


async def continue_watching_remove(*, profile_id: str, movie_id: str) -> None:
    """Hide a title from Continue Watching until a newer heartbeat for it arrives; a show's
    tile (any of its episodes) hides the show, until a newer heartbeat for any episode.

    Raises RedisError when the hot layer is down (the API answers 503)."""
    title = (await titles([movie_id]))[movie_id]
    targets = [movie_id]
    if title is not None and title.series_id is not None:
        found = await shelf(profile_id)
        targets = [m for m in found.states if found.show_of(m) == title.series_id] or targets
    now = now_ms()
    hidden = [
        await _hide(profile_id, target, now=now, hiding=Hiding.CONTINUE_WATCHING)
        for target in targets
    ]
    if any(hidden):
        await events.publish_removed(profile_id, movie_id)


async def history_hide(*, profile_id: str, movie_id: str) -> None:
    """Hide a title from history, Continue Watching and Next Up on every device, until it is
    watched again after the hiding; its resume points go too. Raises RedisError,
    StoreUnavailable (when the title is only in the store and the store is down)."""
    if await _hide(profile_id, movie_id, now=now_ms(), hiding=Hiding.HISTORY):
        await events.publish_removed(profile_id, movie_id)
    await hotlayer.forget_versions(profile_id, movie_id)
