"""The hot path as a bare ASGI callable, routed before Django in `config/asgi.py`:
`POST /api/v1/heartbeats`, `GET /api/v1/profiles/{p}/positions/{m}` and `GET /healthz`.

Why bypass Django here, and only here: heartbeats are ~90% of all traffic and the resume
read is what a player waits on before it starts. On this machine class Django's ASGI handler
(request object, middleware thread hops) caps a view at a few hundred requests/s per process,
while a plain callable doing the same work reaches thousands (shared/notes/performance.md;
`make bench` measures ours). A Channels `AsyncHttpConsumer` would also open a channel-layer
receive per request. The work itself is not duplicated: this module only moves bytes and
calls the same async services as the DRF views in `playstate/api.py`, which document these
endpoints in the OpenAPI schema and serve them when the fast path is off
(`PLAYSTATE_FAST_PATH=false`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
import pydantic_core
from pydantic import BaseModel

from accounts.auth import NOT_YOURS, Unauthenticated, authenticate
from core.domain import ID_REGEX
from ops.views import HEALTHY
from playstate.ingest import heartbeats_ingest
from playstate.schemas import ApiResult, bad_request, forbidden, unauthorized
from playstate.selectors import position_answer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]

HEARTBEATS = "/api/v1/heartbeats"
HEALTHZ = "/healthz"
POSITION = re.compile(
    rf"/api/v1/profiles/(?P<profile_id>{ID_REGEX})/positions/(?P<movie_id>{ID_REGEX})"
)
MAX_BODY = 256 * 1024
HEALTHY_BODY = orjson.dumps(HEALTHY)


async def _respond(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def _send_result(send: Send, result: ApiResult) -> None:
    await _respond(send, result.status, _json(result.body), result.headers)


def _json(body: BaseModel) -> bytes:
    return pydantic_core.to_json(body)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _heartbeats(scope: Scope, receive: Receive, send: Send) -> None:
    content_type = (_header(scope, b"content-type") or "").split(";")[0].strip()
    if content_type != "application/json":
        detail = f'Unsupported media type "{content_type}" in request.'
        await _respond(send, 415, orjson.dumps({"detail": detail}))
        return
    body = await _read_body(receive)
    if body is None:
        await _respond(send, 413, orjson.dumps({"detail": "Request body too large."}))
        return
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        await _send_result(send, bad_request(f"JSON parse error - {error}"))
        return
    authorization = _header(scope, b"authorization")
    await _send_result(send, await heartbeats_ingest(authorization=authorization, payload=payload))


async def _position(scope: Scope, send: Send, profile_id: str, movie_id: str) -> None:
    try:
        principal = await authenticate(_header(scope, b"authorization"), profile_ids=[profile_id])
    except Unauthenticated as error:
        await _send_result(send, unauthorized(error.detail))
        return
    if profile_id not in principal.profile_ids:
        await _send_result(send, forbidden(NOT_YOURS))
        return
    answer = await position_answer(profile_id=profile_id, movie_id=movie_id)
    await _respond(send, 200, _json(answer))


def with_fast_path(django_app: ASGIApp) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path == HEARTBEATS and method == "POST":
            await _heartbeats(scope, receive, send)
        elif method == "GET" and (match := POSITION.fullmatch(path)):
            await _position(scope, send, match["profile_id"], match["movie_id"])
        elif path == HEALTHZ and method in {"GET", "HEAD"}:
            await _respond(send, 200, HEALTHY_BODY)
        else:
            await django_app(scope, receive, send)

    return app
