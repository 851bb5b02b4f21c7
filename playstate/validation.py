"""Heartbeat validation as a pure function.

Hand-checked plain types instead of a DRF serializer: on this machine class a serializer
halves the ingest rate (shared/notes/performance.md), and every heartbeat passes here.
Errors keep DRF's shape (`{"field": ["message"]}`) so clients see one style everywhere.
`HeartbeatSerializer` in `serializers.py` documents the same fields for the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from playstate.domain import ID_PATTERN, EventType, PlayState, to_millis

FIELDS = (
    "profile_id",
    "movie_id",
    "video_timestamp_ms",
    "client_request_time",
    "device_id",
    "event_type",
)
REQUIRED = "This field is required."
NOT_YOURS = "This profile does not belong to your account."
MAX_DEVICE_ID = 128
MAX_EVENT_ID = 64
# Epoch milliseconds are 13 digits for centuries; anything beyond is not a clock.
MAX_EPOCH = 10**15
MAX_POSITION_MS = 10**12


@dataclass(frozen=True, slots=True)
class Heartbeat:
    state: PlayState
    event_id: str | None


@dataclass(frozen=True, slots=True)
class Rejection:
    errors: dict[str, list[str]]
    # The metrics label: invalid | forbidden | clock_skew | out_of_range
    reason: str


@dataclass(frozen=True, slots=True)
class ClockBounds:
    now_ms: int
    max_clock_skew_ms: int


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _identifier(raw: Mapping[str, Any], field: str, errors: dict[str, list[str]]) -> str:
    value = raw.get(field)
    if value is None:
        errors[field] = [REQUIRED]
    elif not isinstance(value, str) or not ID_PATTERN.match(value):
        errors[field] = ["Must be 1-64 characters of letters, digits, '_', '.', ':' or '-'."]
    else:
        return value
    return ""


def validate_shape(raw: object) -> Heartbeat | Rejection:
    """Check types and ranges that need no outside knowledge."""
    if not isinstance(raw, Mapping):
        return Rejection({"non_field_errors": ["Expected a JSON object."]}, "invalid")
    errors: dict[str, list[str]] = {}
    profile_id = _identifier(raw, "profile_id", errors)
    movie_id = _identifier(raw, "movie_id", errors)

    position = raw.get("video_timestamp_ms")
    if position is None:
        errors["video_timestamp_ms"] = [REQUIRED]
    elif not _is_int(position) or not 0 <= position <= MAX_POSITION_MS:
        errors["video_timestamp_ms"] = ["Must be an integer of milliseconds, at least 0."]

    crt = raw.get("client_request_time")
    if crt is None:
        errors["client_request_time"] = [REQUIRED]
    elif not _is_int(crt) or not 0 < crt < MAX_EPOCH:
        errors["client_request_time"] = ["Must be a positive integer epoch (seconds or ms)."]

    device_id = raw.get("device_id")
    if device_id is None:
        errors["device_id"] = [REQUIRED]
    elif not isinstance(device_id, str) or not 0 < len(device_id) <= MAX_DEVICE_ID:
        errors["device_id"] = [f"Must be a non-empty string of at most {MAX_DEVICE_ID} characters."]
    elif not device_id.isprintable():
        errors["device_id"] = ["Must not contain control characters."]

    event_type = raw.get("event_type")
    if event_type is None:
        errors["event_type"] = [REQUIRED]
    elif event_type not in EventType.__members__:
        choices = ", ".join(EventType.__members__)
        errors["event_type"] = [f'"{event_type}" is not a valid choice ({choices}).']

    event_id = raw.get("event_id")
    if event_id is not None and (
        not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID
    ):
        errors["event_id"] = [f"Must be a non-empty string of at most {MAX_EVENT_ID} characters."]

    if errors:
        return Rejection(errors, "invalid")
    state = PlayState(
        profile_id=profile_id,
        movie_id=movie_id,
        position_ms=position,  # type: ignore[arg-type]
        client_request_time=to_millis(crt),  # type: ignore[arg-type]
        device_id=device_id,  # type: ignore[arg-type]
        event_type=event_type,  # type: ignore[arg-type]
    )
    return Heartbeat(state, event_id)


def validate_context(
    heartbeat: Heartbeat,
    *,
    profile_ids: frozenset[str],
    duration_ms: int | None,
    clock: ClockBounds,
) -> Heartbeat | Rejection:
    """Check what depends on the caller, the catalog and the clock."""
    state = heartbeat.state
    if state.profile_id not in profile_ids:
        return Rejection({"profile_id": [NOT_YOURS]}, "forbidden")
    if state.client_request_time > clock.now_ms + clock.max_clock_skew_ms:
        return Rejection(
            {"client_request_time": ["Is too far in the future; check the device clock."]},
            "clock_skew",
        )
    if duration_ms is not None and state.position_ms > duration_ms:
        return Rejection(
            {"video_timestamp_ms": [f"Must not exceed the title's duration ({duration_ms} ms)."]},
            "out_of_range",
        )
    if duration_ms is None:
        return heartbeat
    return Heartbeat(replace(state, duration_ms=duration_ms), heartbeat.event_id)
