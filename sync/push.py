"""Publishing changes to the devices of a profile, through the Channels layer (Redis)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from playstate import metrics
from playstate.domain import PlayState
from sync.consumers import group_name
from sync.messages import removed_message, update_message

logger = logging.getLogger(__name__)


async def _send(messages: Sequence[dict[str, Any]]) -> None:
    layer = get_channel_layer()
    await asyncio.gather(*(layer.group_send(group_name(m["profile_id"]), m) for m in messages))


def publish(messages: Sequence[dict[str, Any]]) -> None:
    """Best effort: the state is already persisted, and a device that missed a message
    catches up with `since` when it reconnects."""
    if not messages:
        return
    try:
        async_to_sync(_send)(messages)
        metrics.incr({"sync_pushes": len(messages)})
    except Exception:
        logger.warning("could not push %d updates", len(messages), exc_info=True)


def publish_updates(states: Sequence[PlayState]) -> None:
    publish([update_message(state) for state in states])


def publish_removed(profile_id: str, movie_id: str) -> None:
    publish([removed_message(profile_id, movie_id)])
