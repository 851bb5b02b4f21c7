"""`/ws/v1/sync`: a device of a profile listens for the other devices' changes.

The worker publishes to the profile's group after it persists a change
(`playstate/events.py`); every connected device of the profile receives it except the one
that sent it. A device that was offline passes `since=<ms>` and first gets the latest state
of each title that changed after that time, then the titles hidden meanwhile. The group is
joined before the handshake completes (an open socket hears every later change) and so
before the catch-up is read: nothing falls between the two. A client keeps, per title, the
greatest `client_request_time` it has seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Annotated
from urllib.parse import parse_qs

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, WebSocketScope
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from redis.exceptions import RedisError

from accounts.auth import AuthUnavailable, Unauthenticated, authenticate
from core.clock import now_ms
from core.payloads import Identifier
from playstate import metrics
from playstate.events import (
    PlaystateNextUp,
    PlaystateRemoved,
    PlaystateUpdate,
    group_name,
    is_echo,
)
from playstate.schemas import DeviceId
from playstate.selectors import catch_up

logger = logging.getLogger(__name__)

UNAUTHENTICATED = 4401
FORBIDDEN = 4403
BAD_REQUEST = 4400
# The Channels layer's Redis failed under the socket: reconnect (with `since=`) shortly.
TRY_AGAIN_LATER = 1013


def _milliseconds(value: object) -> object:
    """`since` as written: decimal digits only (not '1_000', ' 12' or '17.0', which int()
    and pydantic would take)."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value):
        return int(value)
    raise ValueError("since: epoch milliseconds, as digits")


class SyncQuery(BaseModel):
    """The socket's query string (the token may come as a header instead)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    profile_id: Identifier
    device_id: DeviceId  # as heartbeats name it (no control characters)
    since: Annotated[int | None, Field(ge=0, lt=10**15), BeforeValidator(_milliseconds)] = None
    token: str | None = None


def recheck_seconds() -> float:
    """How often an open socket checks that its token still holds: a revoked token's sockets
    close within 1.25 x the auth cache time."""
    return max(1.0, settings.PLAYSTATE_AUTH_CACHE_SECONDS / 4)


class SyncConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    profile_id: str
    device_id: str
    since: int | None
    authorization: str
    _recheck: asyncio.Task[None] | None = None

    async def __call__(
        self, scope: WebSocketScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """A socket whose Channels layer fails (its Redis gone) is closed with 1013, in one
        log line: before, the connection dropped with no close frame and a traceback per
        socket, and its recheck went on counting it as open after it was gone."""
        try:
            await super().__call__(scope, receive, send)
        except RedisError as error:
            logger.warning(
                "the channel layer failed (%s); closing %s's socket %s with %d",
                error,
                getattr(self, "device_id", "a device"),
                self.channel_name,
                TRY_AGAIN_LATER,
            )
            with contextlib.suppress(Exception):  # (the client may be gone already)
                await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": None})
            await self._gone()
        finally:
            await self._stop_recheck()

    async def connect(self) -> None:
        try:
            code = await self._join()
        except RedisError as error:
            # Closed before the handshake, the client would read "403 Forbidden".
            logger.warning("the channel layer failed (%s); a device is told to retry", error)
            code = TRY_AGAIN_LATER
        if code is not None:
            # Close codes reach the client only after the handshake: accept, then close.
            await self.accept()
            await self.close(code=code)
            return
        # Accepted once in the group: a device whose socket is open hears every later change.
        # Counted before the accept, so a client that sees its socket open finds it counted.
        await self._counted()
        await self.accept()
        self._recheck = asyncio.create_task(self._keep_authorized())
        if self.since is not None:
            missed = await catch_up(
                profile_id=self.profile_id, since=self.since, device_id=self.device_id
            )
            for message in missed:
                await self.send_json(message.model_dump(mode="json"))

    async def _join(self) -> int | None:
        """Check the socket's token and query, and join its profile's group; else the code
        to close it with."""
        raw = {k: v[-1] for k, v in parse_qs(self.scope["query_string"].decode()).items()}
        header = dict(self.scope["headers"]).get(b"authorization", b"").decode("latin-1")
        if not header and raw.get("token"):
            header = f"Bearer {raw['token']}"
        try:
            principal = await authenticate(header or None, profile_ids=[raw.get("profile_id", "")])
        except Unauthenticated:
            return UNAUTHENTICATED
        except AuthUnavailable:
            return TRY_AGAIN_LATER  # a token this process has not met, the database down
        try:
            query = SyncQuery.model_validate(raw)
        except ValidationError:
            return BAD_REQUEST
        if query.profile_id not in principal.profile_ids:
            return FORBIDDEN
        self.profile_id, self.device_id, self.since = query.profile_id, query.device_id, query.since
        self.authorization = header
        await self.channel_layer.group_add(group_name(self.profile_id), self.channel_name)
        return None

    async def _keep_authorized(self) -> None:
        """Close the socket once its token is revoked or the profile leaves the account."""
        while True:
            await asyncio.sleep(recheck_seconds())
            try:
                principal = await authenticate(self.authorization, profile_ids=[self.profile_id])
            except Unauthenticated:
                await self.close(code=UNAUTHENTICATED)
                return
            except AuthUnavailable:
                continue  # the database does not answer: kept open (accounts/auth.py logs it)
            if self.profile_id not in principal.profile_ids:
                await self.close(code=FORBIDDEN)
                return
            await self._counted()

    async def _counted(self) -> None:
        """Counted in `playstate_sockets_open` for a few rechecks more (a lease)."""
        lease = int(recheck_seconds() * 4 * 1000)
        try:
            await metrics.socket_open(self.channel_name, now_ms=now_ms(), lease_ms=lease)
        except RedisError:
            logger.warning("could not count an open socket")

    async def _stop_recheck(self) -> None:
        if self._recheck is not None:
            self._recheck.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recheck

    async def _gone(self) -> None:
        """No longer counted as open (if Redis answers; else its lease runs out)."""
        await self._stop_recheck()
        with contextlib.suppress(RedisError):
            await metrics.socket_closed(self.channel_name)

    async def disconnect(self, code: int) -> None:
        await self._stop_recheck()  # (first: a recheck must not close or count it meanwhile)
        if hasattr(self, "profile_id"):
            await self.channel_layer.group_discard(group_name(self.profile_id), self.channel_name)
            await self._gone()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Devices only listen here (heartbeats go to the REST API): whatever a device
        sends, JSON or not, text or binary, is ignored. The server caps its size."""

    async def playstate_update(self, event: dict[str, object]) -> None:
        update = PlaystateUpdate.model_validate(event)
        if not is_echo(update.device_id, update.event_type, self.device_id):
            await self.send_json(update.model_dump(mode="json"))

    async def playstate_removed(self, event: dict[str, object]) -> None:
        await self.send_json(PlaystateRemoved.model_validate(event).model_dump(mode="json"))

    async def playstate_next_up(self, event: dict[str, object]) -> None:
        await self.send_json(PlaystateNextUp.model_validate(event).model_dump(mode="json"))
