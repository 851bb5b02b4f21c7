"""A title's resume points: where it stood at the end of each viewing session, per device.

The hot layer keeps the latest heartbeat of every device, 10 minutes of client time and 10
minutes of position (a start over keeps the place it left); this module
turns those into the list a person chooses from ("Resume from 20:00 on the phone, or 0:03 on
the TV?"). Pure functions: any order of the same points gives the same list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from core.domain import EventType

# Two points of one device belong to one session when the later one is within this much
# time of the earlier, and the position moved by the time elapsed (playing) or not much
# (paused, seeking a little), give or take SLACK_MS.
SESSION_GAP_MS = 30 * 60_000
SLACK_MS = 2 * 60_000


class Point(NamedTuple):
    client_request_time: int
    position_ms: int
    device_id: str
    event_type: EventType


def _same_session(earlier: Point, later: Point) -> bool:
    elapsed = later.client_request_time - earlier.client_request_time
    moved = later.position_ms - earlier.position_ms
    return (
        later.device_id == earlier.device_id
        and elapsed <= SESSION_GAP_MS
        and (abs(moved - elapsed) <= SLACK_MS or abs(moved) <= SLACK_MS)
    )


def sessions(points: Iterable[Point]) -> list[tuple[Point, Point]]:
    """Runs of points that are one session on one device, oldest first: (first, last)."""
    runs: list[tuple[Point, Point]] = []
    for point in sorted(set(points)):
        if runs and _same_session(runs[-1][1], point):
            runs[-1] = (runs[-1][0], point)
        else:
            runs.append((point, point))
    return runs


def resume_points(points: Iterable[Point], *, limit: int) -> list[Point]:
    """The distinct resume points, newest first: of each session, its last point; at most
    `limit`."""
    return [last for _, last in sessions(points)][::-1][:limit]
