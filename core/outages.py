"""One log line when a backend stops answering and one when it answers again, rather than a
line (or a traceback) for every attempt in between."""

from __future__ import annotations

import logging
import threading


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
