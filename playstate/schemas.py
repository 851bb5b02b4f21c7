"""The REST API's payloads, each declared once: the request models validate what clients
send (every field's JSON type and range); all of them document the API (drf-spectacular
reads pydantic models into the OpenAPI document)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    Strict,
    StringConstraints,
    field_validator,
)

from core.domain import EventType, PlayerEvent
from core.payloads import Detail, Identifier
from core.series import Reason

MAX_BATCH = 50
MAX_DEVICE_ID = 128
MAX_EVENT_ID = 64
# Epoch milliseconds are 13 digits for centuries; anything beyond is not a clock.
MAX_EPOCH = 10**15
MAX_POSITION_MS = 10**12
# Device ids show up in logs and on other devices' screens: no control characters.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f-\x9f]+$"
# A device as heartbeats and sockets name it.
DeviceId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_DEVICE_ID, pattern=NO_CONTROL_CHARACTERS)
]


def _integral(value: object) -> object:
    # JSON has one number type: 540500.0 is the integer JSON Schema calls it; 1.5 is not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# A JSON integer (or an integral number like 540500.0); never a string, boolean or fraction.
INTEGRAL = BeforeValidator(_integral)


class Heartbeat(BaseModel):
    """One playback report. Strict: a number must be a JSON integer, a string a JSON string."""

    model_config = ConfigDict(strict=True, frozen=True)

    profile_id: Identifier
    movie_id: Identifier
    video_timestamp_ms: Annotated[int, Field(ge=0, le=MAX_POSITION_MS), INTEGRAL]
    client_request_time: Annotated[
        int,
        Field(
            gt=0, lt=MAX_EPOCH, description="Epoch; below 10^11 seconds, otherwise milliseconds."
        ),
        INTEGRAL,
    ]
    device_id: DeviceId
    # Lax for this one field only: strict enums take enum members, not the JSON strings.
    event_type: Annotated[PlayerEvent, Strict(False)]
    event_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=MAX_EVENT_ID,
            description="Retries with a seen event_id apply once.",
        ),
    ] = None


class HeartbeatBatch(BaseModel):
    """Up to 50 heartbeats; each is judged alone (see `IngestResult.rejected`)."""

    heartbeats: Annotated[list[Heartbeat], Field(min_length=1, max_length=MAX_BATCH)]


class HeartbeatRequest(RootModel[Heartbeat | HeartbeatBatch]):
    """One heartbeat, or a batch of them."""


class Rejected(BaseModel):
    index: int
    errors: dict[str, list[str]]


class IngestResult(BaseModel):
    accepted: int
    rejected: list[Rejected]
    rate_limited: int


class RateLimited(Detail):
    rate_limited: int


class Source(StrEnum):
    """Where a resume position came from."""

    CACHE = "cache"
    STORE = "store"
    DEFAULT = "default"


class Position(BaseModel):
    profile_id: str
    movie_id: str
    position_ms: Annotated[int, Field(description="Where to resume; 0 once completed.")]
    duration_ms: int | None
    completed: bool
    client_request_time: int | None
    device_id: str | None
    event_type: EventType | None
    source: Source


class ContinueWatchingItem(BaseModel):
    movie_id: str
    title: Annotated[str | None, Field(description="The catalog's title, when it has one.")] = None
    position_ms: int
    duration_ms: int | None
    progress: float | None
    last_watched: Annotated[int, Field(description="Epoch ms of the latest heartbeat.")]
    device_id: str
    series_id: Annotated[
        str | None, Field(description="The show, for a show's one tile (its Next Up entry).")
    ] = None
    next_up: Annotated[
        bool, Field(description="An episode of the show not started yet: what to watch next.")
    ] = False


class ContinueWatching(BaseModel):
    results: list[ContinueWatchingItem]


class HistoryItem(BaseModel):
    movie_id: str
    position_ms: Annotated[int, Field(description="The last position reached.")]
    duration_ms: int | None
    completed: bool
    last_watched: Annotated[int, Field(description="Epoch ms of the latest heartbeat.")]
    device_id: str
    title: Annotated[str | None, Field(description="The catalog's title, when it has one.")] = None
    series_id: str | None = None
    season: int | None = None
    episode: int | None = None


class NextUpItem(BaseModel):
    series_id: str
    movie_id: str
    title: str
    season: int
    episode: int
    position_ms: Annotated[int, Field(description="Where to start: 0, unless in progress.")]
    duration_ms: int
    last_watched: Annotated[int, Field(description="Epoch ms of the show's latest heartbeat.")]
    reason: Reason


class NextUpPage(BaseModel):
    results: list[NextUpItem]


class NextUpQuery(BaseModel):
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class Version(BaseModel):
    """A resume point the title had: the latest of one session on one device."""

    position_ms: int
    client_request_time: Annotated[int, Field(description="Epoch ms.")]
    device_id: str
    event_type: EventType


class Versions(BaseModel):
    results: Annotated[list[Version], Field(description="Newest first.")]


class RestoreRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    position_ms: Annotated[int, Field(ge=0, le=MAX_POSITION_MS), INTEGRAL]


class WatchedRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    watched_at: Annotated[
        int | None,
        Field(
            gt=0,
            lt=MAX_EPOCH,
            description="When it was watched (epoch; below 10^11 seconds, otherwise"
            " milliseconds); default now.",
        ),
        INTEGRAL,
    ] = None


class ExportQuery(BaseModel):
    format: Literal["csv", "json"] = "json"


class ExportItem(BaseModel):
    """One title of an export (`format=json`; the same columns in `format=csv`)."""

    movie_id: str
    title: str | None
    series_id: str | None
    season: int | None
    episode: int | None
    last_watched: Annotated[str, Field(description="ISO 8601, UTC.")]
    position_ms: int
    duration_ms: int | None
    completed: bool
    device_id: str


class Export(BaseModel):
    profile_id: str
    results: list[ExportItem]


class History(BaseModel):
    results: list[HistoryItem]
    next: Annotated[str | None, Field(description="Pass as `cursor` for the next page.")]


Cursor = tuple[int, str]  # (client time, movie id) of the last item of a page


def encode_cursor(position: Cursor) -> str:
    return base64.urlsafe_b64encode(f"{position[0]}:{position[1]}".encode()).decode()


def decode_cursor(value: str) -> Cursor:
    try:
        last_watched, _, movie_id = base64.urlsafe_b64decode(value.encode()).decode().partition(":")
        return int(last_watched), movie_id
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError("Not a cursor from this API.") from error


class ContinueWatchingQuery(BaseModel):
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class HistoryQuery(BaseModel):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[
        str | None,
        Field(pattern=r"^[A-Za-z0-9_-]+=*$", description="`next` of the previous page."),
    ] = None

    @field_validator("cursor")
    @classmethod
    def _decodable(cls, value: str | None) -> str | None:
        if value is not None:
            decode_cursor(value)
        return value

    @property
    def after(self) -> Cursor | None:
        return None if self.cursor is None else decode_cursor(self.cursor)


@dataclass(frozen=True, slots=True)
class ApiResult:
    """An answer, whichever adapter sends it (the fast path or a DRF view)."""

    status: int
    body: BaseModel
    headers: dict[str, str] = field(default_factory=dict)


RETRY_AFTER_SECONDS = "1"


def unauthorized(detail: str) -> ApiResult:
    return ApiResult(401, Detail(detail=detail), {"WWW-Authenticate": "Bearer"})


def forbidden(detail: str) -> ApiResult:
    return ApiResult(403, Detail(detail=detail))


def bad_request(detail: str) -> ApiResult:
    return ApiResult(400, Detail(detail=detail))


def unavailable(detail: str) -> ApiResult:
    return ApiResult(503, Detail(detail=detail), {"Retry-After": RETRY_AFTER_SECONDS})
