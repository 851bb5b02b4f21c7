"""The messages pushed to devices (contract section 6); tests check each against SCHEMAS."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from playstate.domain import PlayState, is_completed

UPDATE = "playstate.update"
REMOVED = "playstate.removed"


def update_message(state: PlayState) -> dict[str, Any]:
    return {
        "type": UPDATE,
        "profile_id": state.profile_id,
        "movie_id": state.movie_id,
        "position_ms": state.position_ms,
        "completed": is_completed(
            state.position_ms, state.duration_ms, settings.PLAYSTATE_COMPLETION_RATIO
        ),
        "client_request_time": state.client_request_time,
        "device_id": state.device_id,
        "event_type": state.event_type,
    }


def removed_message(profile_id: str, movie_id: str) -> dict[str, Any]:
    return {"type": REMOVED, "profile_id": profile_id, "movie_id": movie_id}


_ID = {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"}
SCHEMAS: dict[str, dict[str, Any]] = {
    UPDATE: {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "type", "profile_id", "movie_id", "position_ms", "completed",
            "client_request_time", "device_id", "event_type",
        ],
        "properties": {
            "type": {"const": UPDATE},
            "profile_id": _ID,
            "movie_id": _ID,
            "position_ms": {"type": "integer", "minimum": 0},
            "completed": {"type": "boolean"},
            "client_request_time": {"type": "integer", "minimum": 10**11},
            "device_id": {"type": "string", "minLength": 1},
            "event_type": {"enum": ["START", "HEARTBEAT", "PAUSE", "STOP", "SEEK"]},
        },
    },
    REMOVED: {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "profile_id", "movie_id"],
        "properties": {"type": {"const": REMOVED}, "profile_id": _ID, "movie_id": _ID},
    },
}  # fmt: skip
