"""Serializers that document the REST API in the OpenAPI schema.

Requests on the hot path are checked by `validation.py` instead (see its docstring); these
describe the same fields, and `tests/test_schema.py` keeps the two in step.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from playstate.domain import EventType


class HeartbeatSerializer(serializers.Serializer[dict[str, object]]):
    profile_id = serializers.RegexField(r"^[A-Za-z0-9_.:-]{1,64}$")
    movie_id = serializers.RegexField(r"^[A-Za-z0-9_.:-]{1,64}$")
    video_timestamp_ms = serializers.IntegerField(min_value=0)
    client_request_time = serializers.IntegerField(
        min_value=1, help_text="Epoch; below 10^11 seconds, otherwise milliseconds."
    )
    device_id = serializers.CharField(max_length=128)
    event_type = serializers.ChoiceField(choices=[e.value for e in EventType])
    event_id = serializers.CharField(
        max_length=64, required=False, help_text="Retries with a seen event_id apply once."
    )


class HeartbeatBatchSerializer(serializers.Serializer[dict[str, object]]):
    heartbeats = HeartbeatSerializer(many=True, max_length=50)  # type: ignore[call-arg]


def _with_field(
    serializer: type[serializers.Serializer[dict[str, object]]],
    name: str,
    field: serializers.Field[Any, Any, Any, Any],
) -> None:
    """Declare a field whose name is taken by a Serializer attribute (`errors`, `source`)."""
    declared = serializer._declared_fields
    declared[name] = field


class RejectedSerializer(serializers.Serializer[dict[str, object]]):
    index = serializers.IntegerField()


_with_field(
    RejectedSerializer,
    "errors",
    serializers.DictField(child=serializers.ListField(child=serializers.CharField())),
)


class IngestResultSerializer(serializers.Serializer[dict[str, object]]):
    accepted = serializers.IntegerField()
    rejected = RejectedSerializer(many=True)
    rate_limited = serializers.IntegerField()


class PositionSerializer(serializers.Serializer[dict[str, object]]):
    profile_id = serializers.CharField()
    movie_id = serializers.CharField()
    position_ms = serializers.IntegerField(help_text="Where to resume; 0 once completed.")
    duration_ms = serializers.IntegerField(allow_null=True)
    completed = serializers.BooleanField()
    client_request_time = serializers.IntegerField(allow_null=True)
    device_id = serializers.CharField(allow_null=True)
    event_type = serializers.CharField(allow_null=True)


_with_field(
    PositionSerializer, "source", serializers.ChoiceField(choices=["cache", "store", "default"])
)


class ContinueWatchingItemSerializer(serializers.Serializer[dict[str, object]]):
    movie_id = serializers.CharField()
    position_ms = serializers.IntegerField()
    duration_ms = serializers.IntegerField(allow_null=True)
    progress = serializers.FloatField(allow_null=True)
    last_watched = serializers.IntegerField(help_text="Epoch ms of the latest heartbeat.")
    device_id = serializers.CharField()


class ContinueWatchingSerializer(serializers.Serializer[dict[str, object]]):
    results = ContinueWatchingItemSerializer(many=True)


class HistoryItemSerializer(serializers.Serializer[dict[str, object]]):
    movie_id = serializers.CharField()
    position_ms = serializers.IntegerField(help_text="The last position reached.")
    duration_ms = serializers.IntegerField(allow_null=True)
    completed = serializers.BooleanField()
    last_watched = serializers.IntegerField(help_text="Epoch ms of the latest heartbeat.")
    device_id = serializers.CharField()


class HistorySerializer(serializers.Serializer[dict[str, object]]):
    results = HistoryItemSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for the next page.")


class TokenRequestSerializer(serializers.Serializer[dict[str, object]]):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"})


class TokenSerializer(serializers.Serializer[dict[str, object]]):
    token = serializers.CharField()
