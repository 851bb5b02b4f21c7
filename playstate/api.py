"""The REST API (DRF). `POST /api/v1/heartbeats` is also served, faster, by `fastpath.py`;
both call `services.heartbeats_ingest`, so they answer alike."""

from __future__ import annotations

import base64
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import authenticate
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from redis.exceptions import RedisError
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from history.store import get_store
from playstate import catalog, selectors, services
from playstate.auth import Principal
from playstate.domain import PlayState, is_completed, progress
from playstate.models import ApiToken
from playstate.serializers import (
    ContinueWatchingSerializer,
    HeartbeatBatchSerializer,
    HeartbeatSerializer,
    HistorySerializer,
    IngestResultSerializer,
    PositionSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)
from playstate.validation import NOT_YOURS


class OwnsProfile(permissions.BasePermission):
    message = NOT_YOURS

    def has_permission(self, request: Request, view: APIView) -> bool:
        principal = request.user
        profile_id = view.kwargs.get("profile_id")
        return isinstance(principal, Principal) and profile_id in principal.profile_ids


def _result(result: services.ApiResult) -> Response:
    return Response(result.body, status=result.status, headers=result.headers)


class HeartbeatCreateApi(APIView):
    @extend_schema(
        request=PolymorphicProxySerializer(
            component_name="HeartbeatRequest",
            serializers=[HeartbeatSerializer, HeartbeatBatchSerializer],
            resource_type_field_name=None,
        ),
        responses={202: IngestResultSerializer},
        summary="Report playback heartbeats (one object, or a batch of up to 50)",
    )
    def post(self, request: Request) -> Response:
        return _result(
            services.heartbeats_ingest(token=cast("str", request.auth), payload=request.data)
        )


class PositionApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(responses=PositionSerializer, summary="Resume position of one title")
    def get(self, request: Request, profile_id: str, movie_id: str) -> Response:
        state, source = selectors.position_get(profile_id=profile_id, movie_id=movie_id)
        duration = None if state else catalog.durations([movie_id]).get(movie_id)
        return Response(
            selectors.position_view(
                profile_id=profile_id,
                movie_id=movie_id,
                state=state,
                source=source,
                catalog_duration_ms=duration,
            )
        )


class LimitSerializer(serializers.Serializer[dict[str, Any]]):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


def _row_item(state: PlayState) -> dict[str, Any]:
    return {
        "movie_id": state.movie_id,
        "position_ms": state.position_ms,
        "duration_ms": state.duration_ms,
        "progress": progress(state.position_ms, state.duration_ms),
        "last_watched": state.client_request_time,
        "device_id": state.device_id,
    }


class ContinueWatchingApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(
        parameters=[LimitSerializer],
        responses=ContinueWatchingSerializer,
        summary="In-progress titles, most recent first",
    )
    def get(self, request: Request, profile_id: str) -> Response:
        query = LimitSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        row = selectors.continue_watching_list(
            profile_id=profile_id, limit=query.validated_data["limit"]
        )
        return Response({"results": [_row_item(s) for s in row]})


class HistoryQuerySerializer(serializers.Serializer[dict[str, Any]]):
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    cursor = serializers.CharField(required=False, help_text="`next` of the previous page.")

    def validate_cursor(self, value: str) -> selectors.Cursor:
        try:
            last_watched, _, movie_id = (
                base64.urlsafe_b64decode(value.encode()).decode().partition(":")
            )
            return int(last_watched), movie_id
        except (ValueError, UnicodeDecodeError) as error:
            raise serializers.ValidationError("Not a cursor from this API.") from error


def _cursor(position: selectors.Cursor | None) -> str | None:
    if position is None:
        return None
    return base64.urlsafe_b64encode(f"{position[0]}:{position[1]}".encode()).decode()


class HistoryApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(
        parameters=[HistoryQuerySerializer],
        responses=HistorySerializer,
        summary="Every title watched, newest first (recent and compacted history merged)",
    )
    def get(self, request: Request, profile_id: str) -> Response:
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        store = get_store()
        try:
            page, after = selectors.history_page(
                profile_id=profile_id,
                limit=query.validated_data["limit"],
                after=query.validated_data.get("cursor"),
            )
        except store.errors:
            return _result(services.unavailable())
        ratio = settings.PLAYSTATE_COMPLETION_RATIO
        results = [
            {
                "movie_id": s.movie_id,
                "position_ms": s.position_ms,
                "duration_ms": s.duration_ms,
                "completed": is_completed(s.position_ms, s.duration_ms, ratio),
                "last_watched": s.client_request_time,
                "device_id": s.device_id,
            }
            for s in page
        ]
        return Response({"results": results, "next": _cursor(after)})


class ContinueWatchingRemoveApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(
        responses={204: None},
        summary="Hide a title from Continue Watching until a newer heartbeat arrives",
    )
    def delete(self, request: Request, profile_id: str, movie_id: str) -> Response:
        try:
            services.continue_watching_remove(profile_id=profile_id, movie_id=movie_id)
        except RedisError:
            return _result(services.unavailable())
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenCreateApi(APIView):
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    # Password guessing: a few tries a minute per client address.
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer},
        summary="Exchange username and password for a Bearer token",
        auth=[],
    )
    def post(self, request: Request) -> Response:
        credentials = TokenRequestSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        user = authenticate(request, **credentials.validated_data)
        if user is None or not user.is_active:
            raise serializers.ValidationError(
                {"non_field_errors": ["Unable to log in with the provided credentials."]}
            )
        return Response({"token": ApiToken.issue(user)})
