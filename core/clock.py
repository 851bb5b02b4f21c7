from __future__ import annotations

import time


def now_ms() -> int:
    """The server's wall clock in epoch milliseconds, the unit of `client_request_time`."""
    return time.time_ns() // 1_000_000
