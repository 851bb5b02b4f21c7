"""Heartbeats and the answers the contract promises for them, shared by the in-process API
tests (the ASGI application, with and without the fast path) and the end-to-end tests."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import jsonschema

from playstate.events import MESSAGES
from playstate.hotlayer import Limits

DURATION_MS = 600_000
# The `run` fixture (conftest.py): runs a coroutine on the test's one event loop.
Run = Callable[[Coroutine[Any, Any, Any]], Any]
DROP = object()  # a field to leave out


def now_s() -> int:
    return int(time.time())


def heartbeat(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "profile_id": "alice-tv",
        "movie_id": "m1",
        "video_timestamp_ms": 60_000,
        "client_request_time": now_s(),
        "device_id": "tv_01",
        "event_type": "HEARTBEAT",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not DROP}


@dataclass(frozen=True)
class Invalid:
    name: str
    body: Any
    field: str  # the key the error names


FIELDS = (
    "profile_id",
    "movie_id",
    "video_timestamp_ms",
    "client_request_time",
    "device_id",
    "event_type",
    "event_id",
)
STRINGS = {"profile_id", "movie_id", "device_id", "event_type", "event_id"}
# A JSON value of every other type, for every field: each is a 400 naming the field.
WRONG_TYPES = {"a list": [], "an object": {}, "a boolean": True, "a fraction": 1.5}

INVALID = [
    *[
        Invalid(f"{f} as {kind}", heartbeat(**{f: value}), f)
        for f in FIELDS for kind, value in WRONG_TYPES.items()
    ],
    *[Invalid(f"{f} as a number", heartbeat(**{f: 10}), f) for f in sorted(STRINGS)],
    Invalid("movie id with a final newline", heartbeat(movie_id="m1\n"), "movie_id"),
    Invalid("device id with a control character", heartbeat(device_id="tv\x00"), "device_id"),
    *[Invalid(f"missing {f}", heartbeat(**{f: DROP}), f) for f in FIELDS[:-1]],
    Invalid("profile id with a space", heartbeat(profile_id="alice tv"), "profile_id"),
    Invalid("movie id of 65 characters", heartbeat(movie_id="m" * 65), "movie_id"),
    Invalid("negative position", heartbeat(video_timestamp_ms=-1), "video_timestamp_ms"),
    Invalid("position as a string", heartbeat(video_timestamp_ms="10"), "video_timestamp_ms"),
    Invalid(
        "position past the title's end",
        heartbeat(video_timestamp_ms=DURATION_MS + 1),
        "video_timestamp_ms",
    ),
    Invalid(
        "client time an hour ahead",
        heartbeat(client_request_time=now_s() + 3600),
        "client_request_time",
    ),
    Invalid("client time zero", heartbeat(client_request_time=0), "client_request_time"),
    Invalid("client time as text", heartbeat(client_request_time="now"), "client_request_time"),
    Invalid("empty device id", heartbeat(device_id=""), "device_id"),
    Invalid("unknown event type", heartbeat(event_type="PLAY"), "event_type"),
    Invalid("event id of 65 characters", heartbeat(event_id="e" * 65), "event_id"),
    Invalid("a list", [heartbeat()], "detail"),
    Invalid("batch of 51", {"heartbeats": [heartbeat()] * 51}, "heartbeats"),
    Invalid("empty batch", {"heartbeats": []}, "heartbeats"),
    Invalid("batch that is not a list", {"heartbeats": heartbeat()}, "heartbeats"),
]  # fmt: skip


def unlimited() -> Limits:
    """Limits that never bite, for tests that call the ingest script directly."""
    return Limits(account_id=0, per_profile=defaultdict(lambda: (10**6, 10**6)))


def check_message(message: dict[str, Any]) -> dict[str, Any]:
    """A pushed message, checked against the JSON schema generated from its declaration."""
    jsonschema.validate(message, MESSAGES[message["type"]].model_json_schema())
    return message
