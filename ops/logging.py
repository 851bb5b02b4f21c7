"""Logging filters."""

from __future__ import annotations

import logging
import math
import re
import time

# A socket may carry its token in the query string (browsers cannot set headers), and the
# server logs each socket's path with it.
# The name as a query string may spell it: any of its letters percent-encoded ("%74oken"
# is "token" to the server's parser).
_NAME = "".join(f"(?:{c}|%{ord(c):02x}|%{ord(c.upper()):02x})" for c in "token")
_TOKEN = re.compile(rf"(?i)((?:^|[?&;\s]){_NAME}=)[^&;\s\"']+")


def redact(text: str) -> str:
    return _TOKEN.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """Replaces `token=...` in a record's message and arguments with `token=[redacted]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


class RepeatedErrors(logging.Filter):
    """An error that repeats (Celery beat's on every tick while the broker is down, each
    with the stack and the traceback: 150 lines a second) at most once per `seconds` per
    message, in one line."""

    # Messages may carry what a client chose (a Host header): past this many remembered,
    # those whose `seconds` have passed (which hold nothing back) are forgotten.
    PRUNE_AT = 1_000

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self._last: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        key, now = (record.name, record.msg), time.monotonic()
        if now - self._last.get(key, -math.inf) < self.seconds:
            return False
        if len(self._last) >= self.PRUNE_AT:
            self._last = {k: t for k, t in self._last.items() if now - t < self.seconds}
        self._last[key] = now
        if record.msg == BEAT_MESSAGE_ERROR and isinstance(record.args, tuple):
            record.msg, record.args = "Message Error: %s", record.args[:1]
        record.msg = f"{record.msg} (once per {self.seconds:g} s while it repeats)"
        record.exc_info = record.exc_text = record.stack_info = None
        return True


# celery.beat.Scheduler.apply_entry's: the error, then the stack as a list.
BEAT_MESSAGE_ERROR = "Message Error: %s\n%s"
