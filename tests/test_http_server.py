"""The web server's protocol (config/http.py) against a transport that records what it is
asked to send; the end-to-end tests run every request and socket through it (Procfile)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from config.http import CoalescingHttpToolsProtocol

pytestmark = pytest.mark.anyio


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        addresses = {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}
        return addresses.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "written after closing"
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"11")]
    await send({"type": "http.response.start", "status": 202, "headers": headers})
    await send({"type": "http.response.body", "body": b'{"ok":true}'})


async def served(request: bytes) -> Transport:
    config = Config(app=app, http=CoalescingHttpToolsProtocol, lifespan="off", log_config=None)
    config.load()
    protocol = CoalescingHttpToolsProtocol(config, ServerState(), {})
    transport = Transport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(10):  # the application's task, then the end of the loop's turn
        await asyncio.sleep(0)
    return transport


async def test_a_response_goes_out_in_one_write() -> None:
    transport = await served(b"POST /api/v1/heartbeats HTTP/1.1\r\nHost: a\r\n\r\n")
    assert len(transport.sent) == 1
    assert transport.sent[0].startswith(b"HTTP/1.1 202 Accepted\r\n")
    assert transport.sent[0].endswith(b'\r\n\r\n{"ok":true}')
    assert not transport.closed


async def test_a_connection_closed_after_its_response_sends_it_first() -> None:
    transport = await served(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert len(transport.sent) == 1
    assert transport.sent[0].endswith(b'{"ok":true}')
    assert transport.closed


async def test_pipelined_requests_are_answered_in_order() -> None:
    one = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
    transport = await served(one * 3)
    answers = b"".join(transport.sent)
    assert answers.count(b"HTTP/1.1 202 Accepted") == 3
    assert answers.endswith(b'{"ok":true}')
