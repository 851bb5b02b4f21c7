#!/usr/bin/env python3
"""`make run`'s first check: the ports it is about to listen on are free. A second stack
started on the same embedded Redis port would otherwise have said it was ready while its
Redis failed to start, and served from the first stack's Redis (its data, its workers).

    python scripts/ports.py NAME=HOST:PORT ...

Standard library only.
"""

from __future__ import annotations

import socket
import sys


def taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1" if host == "0.0.0.0" else host, port)) == 0


def main(argv: list[str]) -> int:
    busy = []
    for item in argv:
        name, _, address = item.partition("=")
        host, _, port = address.rpartition(":")
        if taken(host, int(port)):
            busy.append(f"{name} ({address})")
    if busy:
        print(
            f"make run: already in use: {', '.join(busy)}. Another stack (or program) is "
            "listening there: stop it, or give this one its own, e.g. "
            "PORT=9000 EMBEDDED_REDIS_PORT=6391 make run",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
