"""The worker's side of the pipeline: persist the winners of due titles, then tell devices of
the plain heartbeats among them (deliberate actions were told at ingest)."""

from __future__ import annotations

from collections.abc import Sequence

from channels.db import database_sync_to_async
from django.conf import settings

from catalog.titles import titles
from core.clock import now_ms
from core.domain import URGENT_EVENTS, PlayState, is_hidden
from core.series import state_completed
from history.store import StoreUnavailable, get_store
from playstate import events, hotlayer
from playstate.selectors import shelf


async def pending_flush(*, limit: int | None = None, everything: bool = False) -> int:
    """Write the winning state of every due title to the store (with `everything`, of every
    pending one, due or not); return how many were claimed.

    A crash anywhere here leaves the claim in the inflight set, which goes back to pending
    when its lease runs out; writing a state twice is harmless (the store keeps the newest).
    Raises StoreUnavailable while the store is down, after giving the claims back.
    """
    limit = limit or settings.PLAYSTATE_FLUSH_BATCH
    taken = await hotlayer.claim(now_ms=now_ms(), limit=limit, everything=everything)
    members = taken.members
    if not members:
        return 0
    states = await hotlayer.get_states([hotlayer.split_member(m) for m in members])
    try:
        written = await database_sync_to_async(get_store().write)(states)
    except StoreUnavailable:
        # Pending again at once, not after the lease: the backlog shows where it waits.
        await hotlayer.release(taken, now_ms=now_ms())
        raise
    await hotlayer.ack(taken, written=written)
    # After the write, as Zulip does: a plain heartbeat is not worth a push before it is kept.
    await events.publish(await _messages(states))
    return len(members)


async def _messages(states: Sequence[PlayState]) -> list[events.Message]:
    """Each written state for the profile's other devices; for an episode finished, its show's
    Next Up too."""
    catalog = await titles({s.movie_id for s in states})
    ratio = settings.PLAYSTATE_COMPLETION_RATIO
    # A hidden title was announced as removed when it was hidden, a deliberate action when
    # it was taken (ingest.announce); their writes repeat what devices were told.
    messages: list[events.Message] = [
        events.update_message(s, catalog[s.movie_id])
        for s in states
        if not is_hidden(s) and s.event_type not in URGENT_EVENTS
    ]
    finished = {
        (s.profile_id, title.series_id)
        for s in states
        if (title := catalog[s.movie_id]) is not None
        and title.series_id is not None
        and state_completed(s, title, ratio)
    }
    for profile_id, series_id in sorted(finished):
        entry = (await shelf(profile_id)).next_ups().get(series_id)
        if entry is not None:
            messages.append(events.next_up_message(profile_id, entry))
    return messages


async def pending_flush_all() -> int:
    """Write every pending title now, due or not (`manage.py flush_pending`); return how many.
    Titles other workers hold in flight are theirs to finish. Stops at the first batch that
    is not full: under live traffic titles never stop coming, and those wait for their time."""
    flushed = 0
    while True:
        claimed = await pending_flush(everything=True)
        flushed += claimed
        if claimed < settings.PLAYSTATE_FLUSH_BATCH:
            return flushed
