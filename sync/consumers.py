"""`/ws/v1/sync`: a device of a profile listens for the other devices' changes.

The worker publishes to the group `profile.<id>` after it persists a change
(`sync/push.py`); every connected device of the profile receives it except the one that
sent it. A device that was offline passes `since=<ms>` and first gets the latest state of
each title that changed after that time. The group is joined before the catch-up is read,
so nothing falls between the two; a client keeps, per title, the greatest
`client_request_time` it has seen.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from history.store import get_store
from playstate import auth, selectors
from playstate.domain import ID_PATTERN, PlayState, latest_per_title
from sync.messages import update_message

logger = logging.getLogger(__name__)

UNAUTHENTICATED = 4401
FORBIDDEN = 4403
BAD_REQUEST = 4400


def group_name(profile_id: str) -> str:
    return f"profile.{profile_id}"


def _catch_up(profile_id: str, since: int) -> list[PlayState]:
    """The latest state of every title of the profile whose winner is newer than `since`:
    the store's, overlaid with the hot layer's (which may be newer or not yet persisted)."""
    store = get_store()
    try:
        stored = store.changed_since(profile_id, since)
    except store.errors:
        logger.warning("store unreachable; catch-up from the cache only")
        stored = []
    hot = [
        s
        for s in selectors.hot_states(profile_id, reading="catch-up")
        if s.client_request_time > since
    ]
    latest = latest_per_title([*stored, *hot])
    return sorted(latest.values(), key=lambda s: s.client_request_time)


class SyncConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    profile_id: str
    device_id: str

    async def connect(self) -> None:
        # Close codes reach the client only after the handshake, so refusals accept first.
        await self.accept()
        query = {k: v[-1] for k, v in parse_qs(self.scope["query_string"].decode()).items()}
        headers = dict(self.scope["headers"])
        header = headers.get(b"authorization", b"").decode("latin-1")
        token = auth.bearer_token(header) or query.get("token")
        profile_id, device_id = query.get("profile_id", ""), query.get("device_id", "")
        if not token:
            await self.close(code=UNAUTHENTICATED)
            return
        principal = await auth.aprincipal_for_token(token, profile_ids=[profile_id])
        if principal is None:
            await self.close(code=UNAUTHENTICATED)
            return
        if (
            not ID_PATTERN.match(profile_id)
            or not device_id
            or not query.get("since", "0").isdigit()
        ):
            await self.close(code=BAD_REQUEST)
            return
        if profile_id not in principal.profile_ids:
            await self.close(code=FORBIDDEN)
            return
        self.profile_id, self.device_id = profile_id, device_id
        await self.channel_layer.group_add(group_name(profile_id), self.channel_name)
        if "since" in query:
            for state in await sync_to_async(_catch_up)(profile_id, int(query["since"])):
                if state.device_id != device_id:
                    await self.send_json(update_message(state))

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "profile_id"):
            await self.channel_layer.group_discard(group_name(self.profile_id), self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Devices only listen here; heartbeats go to the REST API."""

    async def playstate_update(self, event: dict[str, Any]) -> None:
        if event["device_id"] != self.device_id:
            await self.send_json(event)

    async def playstate_removed(self, event: dict[str, Any]) -> None:
        await self.send_json(event)
