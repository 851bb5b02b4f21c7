from __future__ import annotations

from typing import Any, cast

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, Scope
from channels.routing import URLRouter
from django.urls import path, re_path

from sync.consumers import SyncConsumer


async def refuse(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """A WebSocket on any other path: refused at the handshake (HTTP 403), as a refused
    socket is, where the router raised (a 500 and a traceback in the log per attempt)."""
    await receive()  # websocket.connect
    await send({"type": "websocket.close", "code": 1000, "reason": None})


websocket_application = URLRouter(
    [
        path("ws/v1/sync", SyncConsumer.as_asgi()),
        re_path(r"", cast("Any", refuse)),  # (re_path is typed for views)
    ]
)
