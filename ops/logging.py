"""Logging filters."""

from __future__ import annotations

import logging
import re

# A socket may carry its token in the query string (browsers cannot set headers), and the
# server logs each socket's path with it.
_TOKEN = re.compile(r"(?i)((?:^|[?&;\s])token=)[^&;\s\"']+")


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
