"""uvicorn's httptools protocol, with a connection's writes of one turn of the event loop sent
in one (uvicorn's `http` option, config/serve.py). uvicorn writes a response's head and its
body one after the other: two system calls, and on loopback or a proxy's connection two
deliveries to wake the reader for, where one does."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _Coalescing:
    """A transport whose writes are held until the loop's turn ends, then sent as one;
    closing sends what is held first. The rest is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._held: list[bytes] = []
        # What uvicorn calls per request, bound once rather than looked up through __getattr__.
        self.is_closing = transport.is_closing
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self._send)
        self._held.append(data)

    def writelines(self, data: list[bytes]) -> None:
        for chunk in data:
            self.write(chunk)

    def _send(self) -> None:
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held.clear()
        if not self._transport.is_closing():  # closed by the peer meanwhile: nobody to tell
            self._transport.write(data)

    def close(self) -> None:
        self._send()
        self._transport.close()

    def write_eof(self) -> None:
        self._send()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # (a WebSocket this connection upgrades to is handed the same transport)
        super().connection_made(_Coalescing(transport, self.loop))  # type: ignore[arg-type]
