"""The hot path as a bare ASGI callable, routed before Django in `config/asgi.py`:
`POST /api/v1/heartbeats`, `GET /api/v1/profiles/{p}/positions/{m}` and `GET /healthz`.

Why bypass Django here, and only here: heartbeats are ~90% of all traffic and the resume
read is what a player waits on before it starts. On this machine class Django's ASGI handler
(request object, middleware thread hops) caps a view at a few hundred requests/s per process,
while a plain callable doing the same work reaches thousands (shared/notes/performance.md;
`make bench` measures ours). A Channels `AsyncHttpConsumer` would also open a channel-layer
receive per request. The work itself is not duplicated: this module only moves bytes and
calls the same services and selectors as the DRF views in `api.py`, which document these
endpoints in the OpenAPI schema and serve them under WSGI and the test client.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from playstate import auth, catalog, selectors, services
from playstate.validation import NOT_YOURS

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]

HEARTBEATS = "/api/v1/heartbeats"
HEALTHZ = "/healthz"
POSITION = re.compile(
    r"^/api/v1/profiles/(?P<profile_id>[A-Za-z0-9_.:-]{1,64})"
    r"/positions/(?P<movie_id>[A-Za-z0-9_.:-]{1,64})$"
)
MAX_BODY = 256 * 1024
HEALTHY = orjson.dumps({"status": "ok"})


async def _respond(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def _send_result(send: Send, result: services.ApiResult) -> None:
    await _respond(send, result.status, orjson.dumps(result.body), result.headers)


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
        await _send_result(send, services.bad_request(f"JSON parse error - {error}"))
        return
    header = _header(scope, b"authorization")
    token = auth.bearer_token(header)
    if header and token is None:
        await _send_result(send, services.unauthorized(auth.INVALID))
        return
    await _send_result(send, await services.aheartbeats_ingest(token=token, payload=payload))


async def _position(scope: Scope, send: Send, profile_id: str, movie_id: str) -> None:
    header = _header(scope, b"authorization")
    token = auth.bearer_token(header)
    if token is None:
        await _send_result(
            send, services.unauthorized(auth.INVALID if header else auth.NOT_PROVIDED)
        )
        return
    principal = await auth.aprincipal_for_token(token, profile_ids=[profile_id])
    if principal is None:
        await _send_result(send, services.unauthorized(auth.INVALID))
        return
    if profile_id not in principal.profile_ids:
        await _respond(send, 403, orjson.dumps({"detail": NOT_YOURS}))
        return
    state, source = await selectors.aposition_get(profile_id=profile_id, movie_id=movie_id)
    duration = None if state else (await catalog.adurations([movie_id])).get(movie_id)
    view = selectors.position_view(
        profile_id=profile_id,
        movie_id=movie_id,
        state=state,
        source=source,
        catalog_duration_ms=duration,
    )
    await _respond(send, 200, orjson.dumps(view))


def with_fast_path(django_app: ASGIApp) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path == HEARTBEATS and method == "POST":
            await _heartbeats(scope, receive, send)
        elif method == "GET" and (match := POSITION.match(path)):
            await _position(scope, send, match["profile_id"], match["movie_id"])
        elif path == HEALTHZ and method in {"GET", "HEAD"}:
            await _respond(send, 200, HEALTHY)
        else:
            await django_app(scope, receive, send)

    return app
