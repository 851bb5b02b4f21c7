"""What the service tells a profile's devices, and how: each message is declared once here
(its JSON schema, for clients and tests, comes from the declaration) and published to the
profile's group on the Channels layer, which `sync/consumers.py` relays to the sockets.

Publishing is best effort: the change is already persisted, and a device that missed a
message catches up with `since=` when it reconnects.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated, Final, Literal

from channels.layers import get_channel_layer
from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field

from core.domain import MARKS, EventType, PlayState
from core.layers import RedisChannelLayer
from core.payloads import Identifier
from core.series import NextUp, Title, state_completed
from playstate import metrics

logger = logging.getLogger(__name__)

UPDATE: Final = "playstate.update"
REMOVED: Final = "playstate.removed"
NEXT_UP: Final = "playstate.next_up"


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlaystateUpdate(_Message):
    """A title's state changed on another device of the profile."""

    type: Literal["playstate.update"] = UPDATE
    profile_id: Identifier
    movie_id: Identifier
    position_ms: Annotated[int, Field(ge=0, description="The position reached.")]
    completed: bool
    # Any time a heartbeat may carry: a device whose clock reads 1970 is told of, too.
    client_request_time: Annotated[int, Field(ge=0, description="Epoch milliseconds.")]
    device_id: Annotated[str, Field(min_length=1)]
    event_type: EventType


class PlaystateRemoved(_Message):
    """A title left Continue Watching on every device."""

    type: Literal["playstate.removed"] = REMOVED
    profile_id: Identifier
    movie_id: Identifier


class PlaystateNextUp(_Message):
    """A finished episode changed what the profile watches next in its show."""

    type: Literal["playstate.next_up"] = NEXT_UP
    profile_id: Identifier
    series_id: Identifier
    movie_id: Identifier
    season: Annotated[int, Field(ge=0)]
    episode: Annotated[int, Field(ge=0)]


Message = PlaystateUpdate | PlaystateRemoved | PlaystateNextUp
MESSAGES: dict[str, type[Message]] = {
    UPDATE: PlaystateUpdate,
    REMOVED: PlaystateRemoved,
    NEXT_UP: PlaystateNextUp,
}


def is_echo(device_id: str, event_type: EventType, to_device: str) -> bool:
    """Whether a state is `to_device`'s own, which it is not sent back. A mark (a person's
    request through the API, under the device name `mark`, `restore` or `support`) reaches
    every device, one a player happened to name so too."""
    return device_id == to_device and event_type not in MARKS


def group_name(profile_id: str) -> str:
    """The Channels group of a profile's connected devices. Group names take no ':', which a
    profile id may have: such an id's group is named by its hash instead, under a prefix no
    plain id's group can have."""
    if ":" not in profile_id:
        return f"profile.{profile_id}"
    return "profile-h." + hashlib.blake2b(profile_id.encode(), digest_size=20).hexdigest()


def update_message(state: PlayState, title: Title | None) -> PlaystateUpdate:
    return PlaystateUpdate(
        profile_id=state.profile_id,
        movie_id=state.movie_id,
        position_ms=state.position_ms,
        completed=state_completed(state, title, settings.PLAYSTATE_COMPLETION_RATIO),
        client_request_time=state.client_request_time,
        device_id=state.device_id,
        event_type=state.event_type,
    )


async def publish(messages: Sequence[Message]) -> None:
    """Each profile's messages in their order (a finished episode's update before its show's
    Next Up), the profiles at once; only to profiles with a device connected."""
    if not messages:
        return
    layer = get_channel_layer()
    by_profile: dict[str, list[Message]] = defaultdict(list)
    for message in messages:
        by_profile[message.profile_id].append(message)

    async def send(profile_id: str, queue: list[Message]) -> None:
        for message in queue:
            await layer.group_send(group_name(profile_id), message.model_dump(mode="json"))

    try:
        if isinstance(layer, RedisChannelLayer):
            # A device that connects after this look catches up with `since=`, as one that
            # connects just after a send does.
            listening = await layer.groups_with_members([group_name(p) for p in by_profile])
            by_profile = {p: q for p, q in by_profile.items() if group_name(p) in listening}
        await asyncio.gather(*(send(p, queue) for p, queue in by_profile.items()))
        pushed = sum(len(queue) for queue in by_profile.values())
        if pushed:
            await metrics.incr({"sync_pushes": pushed})
    except Exception:
        logger.warning("could not push %d messages", len(messages), exc_info=True)


def next_up_message(profile_id: str, entry: NextUp) -> PlaystateNextUp:
    episode = entry.episode
    return PlaystateNextUp(
        profile_id=profile_id,
        series_id=str(episode.series_id),
        movie_id=episode.movie_id,
        season=episode.season or 0,
        episode=episode.episode or 0,
    )


async def publish_removed(profile_id: str, movie_id: str) -> None:
    await publish([PlaystateRemoved(profile_id=profile_id, movie_id=movie_id)])
