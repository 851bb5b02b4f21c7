"""The web server: uvicorn with the options the service runs under, its worker processes each
accepting on a listening socket of their own (SO_REUSEPORT, Linux).

uvicorn's own workers share the one socket its supervisor binds and race to accept; the kernel
wakes the worker that waited last, so one worker takes most new connections. A keep-alive
connection (a TV's, a load balancer's) stays where it landed: with 50 connections one worker
held 49 and the other 1 (`ss` during a constant-rate run like `make bench`'s), and at 70% of
what the two serve together the busy one fell behind for good while a fifth of the machine
stood idle. With a socket each,
the kernel spreads connections over the workers by a hash of their addresses.

    python -m config.serve config.asgi:application --host 127.0.0.1 --port 8000 --workers 2
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from typing import Any, cast

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

logger = logging.getLogger("uvicorn.error")

OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    # Each response in one write (config/http.py).
    "http": "config.http:CoalescingHttpToolsProtocol",
    # Client addresses come from PLAYSTATE_TRUSTED_PROXIES (accounts/throttling.py), not from
    # uvicorn's own reading of X-Forwarded-For.
    "proxy_headers": False,
    "access_log": False,
    "lifespan": "off",
    # A socket's frames are small (a hello, a catch-up request); the pings find a dead peer.
    "ws_max_size": 65536,
    "ws_ping_interval": 20.0,
    "ws_ping_timeout": 20.0,
}


def bound_socket(host: str, port: int, *, shared: bool = True) -> socket.socket:
    """A TCP socket bound to the address; a shared one beside the others that share it
    (SO_REUSEPORT)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class OwnSocket:
    """What the supervisor hands each worker it starts, or starts again, in place of a shared
    socket: it reaches the worker pickled, and unpickled there it is a socket of the worker's
    own on the same address, which the worker's server listens on."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return bound_socket, (self.host, self.port)


def serve(app: str, *, host: str, port: int, workers: int) -> None:
    if workers == 1 or sys.platform != "linux":  # elsewhere SO_REUSEPORT does not spread
        uvicorn.run(app, host=host, port=port, workers=workers, **OPTIONS)
        return
    config = uvicorn.Config(app, host=host, port=port, workers=workers, **OPTIONS)
    try:
        # Alone on the port first: a shared bind would join another server's workers.
        bound_socket(host, port, shared=False).close()
        # Held, never listened on, while the server runs: the port stays this server's while
        # its workers come and go.
        anchor = bound_socket(host, port)
    except OSError as error:
        logger.error("Cannot bind %s:%d: %s", host, port, error)
        sys.exit(STARTUP_FAILURE)
    logger.info("Uvicorn running on http://%s:%d, %d workers on a socket each", host, port, workers)
    try:
        Multiprocess(config, sockets=[cast("socket.socket", OwnSocket(host, port))]).run()
    finally:
        anchor.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m config.serve", description=__doc__)
    parser.add_argument("app", help="the ASGI application, module:attribute")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 1)))
    args = parser.parse_args(argv)
    serve(args.app, host=args.host, port=args.port, workers=args.workers)


if __name__ == "__main__":
    main()
