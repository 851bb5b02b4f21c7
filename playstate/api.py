"""The REST API (DRF). `POST /api/v1/heartbeats` and the resume read are served, faster, by
`config/fastpath.py` too; both adapters call the same async services and selectors."""

from __future__ import annotations

from typing import cast

from asgiref.sync import async_to_sync
from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from pydantic import BaseModel
from redis.exceptions import RedisError
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import OwnsProfile
from catalog.titles import titles
from core.domain import PlayState, progress
from core.payloads import BadRequest, Detail, parse
from core.series import Title, state_completed
from history.store import StoreUnavailable
from playstate import selectors, services
from playstate.ingest import heartbeats_ingest
from playstate.schemas import (
    ApiResult,
    ContinueWatching,
    ContinueWatchingItem,
    ContinueWatchingQuery,
    HeartbeatRequest,
    History,
    HistoryItem,
    HistoryQuery,
    IngestResult,
    NextUpItem,
    NextUpPage,
    NextUpQuery,
    Position,
    RateLimited,
    encode_cursor,
    unavailable,
)

# drf-spectacular puts this in the operation's `security` as it is (its type says strings).
BEARER = cast("list[str]", [{"bearerAuth": []}])
STORE_DOWN = "The viewing-history store is unavailable; retry shortly."
REDIS_DOWN = "The service cannot record this right now; retry shortly."
# Every endpoint with a profile in its path: no or a bad token, someone else's profile, and
# a path whose identifiers are not identifiers.
OWN_PROFILE = {401: Detail, 403: Detail, 404: Detail}


def _response(result: ApiResult) -> Response:
    return Response(result.body.model_dump(mode="json"), result.status, headers=result.headers)


def _query_parameters(model: type[BaseModel]) -> list[OpenApiParameter]:
    """A query model's fields as OpenAPI parameters (drf-spectacular reads only bodies)."""
    schema = model.model_json_schema()
    parameters = []
    for name, field in schema["properties"].items():
        options = [o for o in field.get("anyOf", [field]) if o.get("type") != "null"]
        parameters.append(
            OpenApiParameter(
                name,
                options[0] | {k: v for k, v in field.items() if k == "default"},
                OpenApiParameter.QUERY,
                required=name in schema.get("required", ()),
                description=field.get("description", ""),
            )
        )
    return parameters


class HeartbeatCreateApi(APIView):
    # The service authenticates, after the body's shape (as the fast path does).
    authentication_classes = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        request=HeartbeatRequest,
        responses={
            202: IngestResult,
            400: BadRequest,
            401: Detail,
            403: Detail,
            413: Detail,
            415: Detail,
            429: RateLimited,
            503: Detail,
        },
        auth=BEARER,
        summary="Report playback heartbeats (one object, or a batch of up to 50)",
    )
    def post(self, request: Request) -> Response:
        authorization = request.headers.get("Authorization")
        return _response(
            async_to_sync(heartbeats_ingest)(authorization=authorization, payload=request.data)
        )


class PositionApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(responses={200: Position, **OWN_PROFILE}, summary="Resume position of one title")
    def get(self, request: Request, profile_id: str, movie_id: str) -> Response:
        answer = async_to_sync(selectors.position_answer)(profile_id=profile_id, movie_id=movie_id)
        return Response(answer.model_dump(mode="json"))


def _row_item(item: selectors.RowItem) -> ContinueWatchingItem:
    return ContinueWatchingItem(
        movie_id=item.movie_id,
        title=item.title,
        position_ms=item.position_ms,
        duration_ms=item.duration_ms,
        progress=progress(item.position_ms, item.duration_ms),
        last_watched=item.last_watched,
        device_id=item.device_id,
        series_id=item.series_id,
        next_up=item.next_up,
    )


class ContinueWatchingApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(
        parameters=_query_parameters(ContinueWatchingQuery),
        responses={200: ContinueWatching, 400: BadRequest, **OWN_PROFILE},
        summary="In-progress titles, most recent first",
    )
    def get(self, request: Request, profile_id: str) -> Response:
        query = parse(ContinueWatchingQuery, request.query_params.dict())
        row = async_to_sync(selectors.continue_watching_list)(
            profile_id=profile_id, limit=query.limit
        )
        return Response(ContinueWatching(results=[_row_item(s) for s in row]).model_dump())


def _history_item(state: PlayState, title: Title | None) -> HistoryItem:
    return HistoryItem(
        movie_id=state.movie_id,
        position_ms=state.position_ms,
        duration_ms=state.duration_ms,
        completed=state_completed(state, title, settings.PLAYSTATE_COMPLETION_RATIO),
        last_watched=state.client_request_time,
        device_id=state.device_id,
        title=None if title is None else title.title,
        series_id=None if title is None else title.series_id,
        season=None if title is None else title.season,
        episode=None if title is None else title.episode,
    )


class HistoryApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(
        parameters=_query_parameters(HistoryQuery),
        responses={200: History, 400: BadRequest, **OWN_PROFILE, 503: Detail},
        summary="Every title watched, newest first (recent and compacted history merged)",
    )
    def get(self, request: Request, profile_id: str) -> Response:
        query = parse(HistoryQuery, request.query_params.dict())
        try:
            page, after = async_to_sync(selectors.history_page)(
                profile_id=profile_id, limit=query.limit, after=query.after
            )
        except StoreUnavailable:
            return _response(unavailable(STORE_DOWN))
        catalog = async_to_sync(titles)({s.movie_id for s in page})
        body = History(
            results=[_history_item(s, catalog[s.movie_id]) for s in page],
            next=None if after is None else encode_cursor(after),
        )
        return Response(body.model_dump())


class NextUpApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(
        parameters=_query_parameters(NextUpQuery),
        responses={200: NextUpPage, 400: BadRequest, **OWN_PROFILE},
        summary="What to watch next in each show the profile watched, most recent first",
    )
    def get(self, request: Request, profile_id: str) -> Response:
        query = parse(NextUpQuery, request.query_params.dict())
        entries = async_to_sync(selectors.next_up_list)(profile_id=profile_id, limit=query.limit)
        items = [
            NextUpItem(
                series_id=str(e.episode.series_id),
                movie_id=e.episode.movie_id,
                title=e.episode.title,
                season=e.episode.season or 0,
                episode=e.episode.episode or 0,
                position_ms=e.position_ms,
                duration_ms=e.episode.duration_ms,
                last_watched=e.last_watched,
                reason=e.reason,
            )
            for e in entries
        ]
        return Response(NextUpPage(results=items).model_dump(mode="json"))


class ContinueWatchingRemoveApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(
        responses={204: None, **OWN_PROFILE, 503: Detail},
        summary="Hide a title from Continue Watching until a newer heartbeat arrives",
    )
    def delete(self, request: Request, profile_id: str, movie_id: str) -> Response:
        try:
            async_to_sync(services.continue_watching_remove)(
                profile_id=profile_id, movie_id=movie_id
            )
        except RedisError:
            return _response(unavailable(REDIS_DOWN))
        return Response(status=status.HTTP_204_NO_CONTENT)
