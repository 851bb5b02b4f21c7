"""The worker's side of the pipeline: persist the winners of due titles, then tell devices."""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.conf import settings

from core.clock import now_ms
from history.store import StoreUnavailable, get_store
from playstate import events, hotlayer


async def pending_flush(*, limit: int | None = None) -> int:
    """Write the winning state of every due title to the store; return how many were claimed.

    A crash anywhere here leaves the claim in the inflight set, which goes back to pending
    when its lease runs out; writing a state twice is harmless (the store keeps the newest).
    Raises StoreUnavailable while the store is down, after giving the claims back.
    """
    limit = limit or settings.PLAYSTATE_FLUSH_BATCH
    deadline, members = await hotlayer.claim(now_ms=now_ms(), limit=limit)
    if not members:
        return 0
    states = await hotlayer.get_states([hotlayer.split_member(m) for m in members])
    try:
        written = await database_sync_to_async(get_store().write)(states)
    except StoreUnavailable:
        # Pending again at once, not after the lease: the backlog shows where it waits.
        await hotlayer.release(members, deadline=deadline, now_ms=now_ms())
        raise
    await hotlayer.ack(members, deadline=deadline, written=written)
    # After the write, as Zulip does: a device never hears of a state the store lacks.
    await events.publish_updates(states)
    return len(members)
