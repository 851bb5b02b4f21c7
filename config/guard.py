"""Every request, on every path, before any work: headers and body within their limits.

The server reads a request's headers whole before the application sees them (httptools sets
no limit of its own), so these bounds are checked on what arrives, and a request past them is
refused at once: `431` for headers, `413` for a body (from its Content-Length, or while it
streams when it has none), without the application reading a byte of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def respond(
    send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": [*raw, *headers]})
    await send({"type": "http.response.body", "body": body})


async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
    if scope["type"] == "websocket":
        # Before the handshake is accepted, a close is the server's 403.
        await send({"type": "websocket.close", "code": 1008})
        return
    await respond(send, status, orjson.dumps({"detail": detail}), [(b"connection", b"close")])


def _header_bytes(scope: Scope) -> int:
    line = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
    return line + sum(len(name) + len(value) for name, value in scope["headers"])


async def _buffered(receive: Receive, limit: int) -> list[Message] | None:
    """A body without a Content-Length, read whole while within `limit`; None past it."""
    messages, size = [], 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if message["type"] != "http.request" or not message.get("more_body"):
            return messages


def with_request_limits(app: ASGIApp, *, max_header_bytes: int, max_body_bytes: int) -> ASGIApp:
    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        if _header_bytes(scope) > max_header_bytes:
            await _refuse(scope, send, 431, "Request headers too large.")
            return
        if scope["type"] == "websocket":
            await app(scope, receive, send)
            return
        length = header(scope, b"content-length")
        if length is not None:
            if not length.isdigit():
                await _refuse(scope, send, 400, "Malformed Content-Length.")
            elif int(length) > max_body_bytes:
                await _refuse(scope, send, 413, "Request body too large.")
            else:
                await app(scope, receive, send)
            return
        messages = await _buffered(receive, max_body_bytes)
        if messages is None:
            await _refuse(scope, send, 413, "Request body too large.")
            return
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await app(scope, replayed, send)

    return limited
