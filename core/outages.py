"""One log line when a backend stops answering and one when it answers again, rather than a
line (or a traceback) for every attempt in between."""

from __future__ import annotations

import asyncio
import logging
import threading

from django.conf import settings


def store_deadline() -> asyncio.Timeout:
    """How long a read that queues on the database thread may take before the request goes
    on without it (`PLAYSTATE_STORE_READ_TIMEOUT`; raises TimeoutError): the thread may be
    held by a store that hangs (a frozen Cassandra node, a PostgreSQL server that no longer
    answers), and every read queued behind it with it (a resume read waited 20 to 60 s)."""
    return asyncio.timeout(settings.PLAYSTATE_STORE_READ_TIMEOUT)


class OutageLog:
    def __init__(self, logger: logging.Logger, consequence: str) -> None:
        self.logger, self.consequence = logger, consequence
        self._down: set[str] = set()
        self._lock = threading.Lock()

    def failed(self, part: str, error: BaseException) -> None:
        with self._lock:
            if part in self._down:
                return
            self._down.add(part)
        detail = str(error) or type(error).__name__
        self.logger.warning("the %s is unavailable (%s); %s", part, detail, self.consequence)

    def answered(self, part: str) -> None:
        if part not in self._down:  # (the common case, on every request: no lock)
            return
        with self._lock:
            if part not in self._down:
                return
            self._down.discard(part)
        self.logger.warning("the %s answers again", part)
