"""The REST API (DRF). `POST /api/v1/heartbeats` and the resume read are served, faster, by
`config/fastpath.py` too; both adapters call the same async services and selectors."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from typing import cast

from asgiref.sync import async_to_sync
from django.conf import settings
from django.http import HttpResponseBase, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from pydantic import BaseModel
from redis.exceptions import RedisError
from rest_framework import permissions, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import OwnsProfile, Principal
from catalog.titles import titles
from core.clock import now_ms
from core.domain import PlayState, progress, to_millis
from core.payloads import OPTIONAL_BODY, BadRequest, Detail, parse
from core.series import Title, state_completed
from history.store import StoreUnavailable
from playstate import export, selectors, services
from playstate.ingest import heartbeats_ingest
from playstate.schemas import (
    ApiResult,
    ContinueWatching,
    ContinueWatchingItem,
    ContinueWatchingQuery,
    Export,
    ExportQuery,
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
    RestoreRequest,
    Version,
    Versions,
    WatchedRequest,
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
        return _position(profile_id, movie_id)


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


async def _awaited(call: Callable[[], Awaitable[object]]) -> None:
    await call()


def _profile_write(call: Callable[[], Awaitable[object]]) -> Response | None:
    """Run a person's write; the answer when it could not be made."""
    try:
        async_to_sync(_awaited)(call)
    except RedisError:
        return _response(unavailable(REDIS_DOWN))
    except StoreUnavailable:
        return _response(unavailable(STORE_DOWN))
    except services.RateLimited as error:
        seconds = str(max(1, math.ceil(error.retry_after_ms / 1000)))
        body = Detail(detail="Too many changes for this profile; retry later.")
        return _response(ApiResult(429, body, {"Retry-After": seconds}))
    except services.PastTheEnd as error:  # (a restore's)
        duration = error.duration_ms
        raise ValidationError(
            {"position_ms": [f"Must not exceed the title's duration ({duration} ms)."]}
        ) from None
    except services.NotInCatalog:  # (a watched mark's)
        raise NotFound("No such title in the catalog.") from None
    return None


def _account(request: Request) -> int:
    return cast("Principal", request.user).account_id


def _position(profile_id: str, movie_id: str) -> Response:
    answer = async_to_sync(selectors.position_answer)(profile_id=profile_id, movie_id=movie_id)
    return Response(answer.model_dump(mode="json"))


class PositionVersionsApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(
        responses={200: Versions, **OWN_PROFILE, 503: Detail},
        summary="The title's recent resume points, one per session and device, newest first",
    )
    def get(self, request: Request, profile_id: str, movie_id: str) -> Response:
        try:
            points = async_to_sync(selectors.position_versions)(
                profile_id=profile_id, movie_id=movie_id
            )
        except RedisError:
            return _response(unavailable(REDIS_DOWN))
        body = Versions(results=[Version(**p._asdict()) for p in points])
        return Response(body.model_dump(mode="json"))


class PositionRestoreApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(
        request=RestoreRequest,
        responses={200: Position, 400: BadRequest, **OWN_PROFILE, 429: Detail, 503: Detail},
        summary="Go back to a resume point: it wins on every device and is persisted at once",
    )
    def post(self, request: Request, profile_id: str, movie_id: str) -> Response:
        body = parse(RestoreRequest, request.data)
        refused = _profile_write(
            lambda: services.position_restore(
                account_id=_account(request),
                profile_id=profile_id,
                movie_id=movie_id,
                position_ms=body.position_ms,
            )
        )
        return refused or _position(profile_id, movie_id)


class WatchedApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(
        request=WatchedRequest,
        responses={200: Position, 400: BadRequest, **OWN_PROFILE, 429: Detail, 503: Detail},
        summary="Mark a title watched as of a time (default now); a later heartbeat wins",
        extensions={OPTIONAL_BODY: True},
    )
    def put(self, request: Request, profile_id: str, movie_id: str) -> Response:
        body = parse(WatchedRequest, request.data)  # (no body: an empty one)
        watched_at = None if body.watched_at is None else to_millis(body.watched_at)
        if watched_at is not None and watched_at > now_ms() + settings.PLAYSTATE_MAX_CLOCK_SKEW_MS:
            minutes = settings.PLAYSTATE_MAX_CLOCK_SKEW_MS // 60_000
            raise ValidationError(
                {"watched_at": [f"Must not be more than {minutes} minutes ahead of now."]}
            )
        refused = _profile_write(
            lambda: services.watched_mark(
                account_id=_account(request),
                profile_id=profile_id,
                movie_id=movie_id,
                watched_at=watched_at,
            )
        )
        return refused or _position(profile_id, movie_id)

    @extend_schema(
        request=None,
        responses={200: Position, **OWN_PROFILE, 429: Detail, 503: Detail},
        summary="Mark a title not watched: position 0, newer than its current state",
    )
    def delete(self, request: Request, profile_id: str, movie_id: str) -> Response:
        refused = _profile_write(
            lambda: services.watched_unmark(
                account_id=_account(request), profile_id=profile_id, movie_id=movie_id
            )
        )
        return refused or _position(profile_id, movie_id)


class HistoryHideApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(
        responses={204: None, **OWN_PROFILE, 503: Detail},
        summary="Hide a title from history, Continue Watching and Next Up until watched again",
    )
    def delete(self, request: Request, profile_id: str, movie_id: str) -> Response:
        refused = _profile_write(
            lambda: services.history_hide(profile_id=profile_id, movie_id=movie_id)
        )
        return refused or Response(status=status.HTTP_204_NO_CONTENT)


class AnyContent(BaseContentNegotiation):
    """The export's `format` query parameter chooses its type: neither the Accept header nor
    DRF's renderer override (also `?format=`) have a say."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser:
        return next(iter(parsers))

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class HistoryExportApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]
    content_negotiation_class = AnyContent

    @extend_schema(
        parameters=_query_parameters(ExportQuery),
        responses={
            (200, "application/json"): Export,
            (200, "text/csv"): OpenApiTypes.STR,
            400: BadRequest,
            **OWN_PROFILE,
            503: Detail,
        },
        summary="The profile's whole history, streamed, as JSON or as CSV for a spreadsheet",
    )
    def get(self, request: Request, profile_id: str) -> HttpResponseBase:
        query = parse(ExportQuery, request.query_params.dict())
        try:
            batches = async_to_sync(export.opened)(profile_id)
        except StoreUnavailable:
            return _response(unavailable(STORE_DOWN))
        response = StreamingHttpResponse(
            export.stream(batches, profile_id, query.format),
            content_type=export.CONTENT_TYPES[query.format],
        )
        filename = f"playstate-{profile_id}.{query.format}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class ContinueWatchingRemoveApi(APIView):
    permission_classes = [permissions.IsAuthenticated, OwnsProfile]

    @extend_schema(
        responses={204: None, **OWN_PROFILE, 503: Detail},
        summary="Hide a title from Continue Watching until a newer heartbeat arrives",
    )
    def delete(self, request: Request, profile_id: str, movie_id: str) -> Response:
        refused = _profile_write(
            lambda: services.continue_watching_remove(profile_id=profile_id, movie_id=movie_id)
        )
        return refused or Response(status=status.HTTP_204_NO_CONTENT)
