"""A profile's whole history as a download: JSON, or CSV that opens in a spreadsheet.

Streamed batch by batch from `selectors.history_export`, which decodes the compacted history
one record at a time, so a history of any length costs the server a few batches of memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Literal

import orjson
from django.conf import settings

from core.domain import PlayState
from core.series import Title, state_completed
from playstate.schemas import ExportItem
from playstate.selectors import history_export

Format = Literal["csv", "json"]
CONTENT_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
COLUMNS = list(ExportItem.model_fields)
# Spreadsheets (Excel above all) read a CSV file as UTF-8 only when it starts with a BOM.
BOM = "\ufeff"


def item(state: PlayState, title: Title | None) -> ExportItem:
    return ExportItem(
        movie_id=state.movie_id,
        title=None if title is None else title.title,
        series_id=None if title is None else title.series_id,
        season=None if title is None else title.season,
        episode=None if title is None else title.episode,
        last_watched=datetime.fromtimestamp(state.client_request_time / 1000, tz=UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z"),
        position_ms=state.position_ms,
        duration_ms=state.duration_ms,
        completed=state_completed(state, title, settings.PLAYSTATE_COMPLETION_RATIO),
        device_id=state.device_id,
    )


# A cell a spreadsheet would run as a formula (a device name or a title set to
# `=HYPERLINK(...)`): written as text, behind an apostrophe (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv(rows: Iterable[ExportItem]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS)
    for row in rows:
        writer.writerow({name: _cell(value) for name, value in row.model_dump().items()})
    return out.getvalue().encode()


async def stream(
    batches: AsyncIterator[list[tuple[PlayState, Title | None]]], profile_id: str, format: Format
) -> AsyncIterator[bytes]:
    if format == "csv":
        yield (BOM + ",".join(COLUMNS) + "\r\n").encode()
    else:
        yield b'{"profile_id":' + orjson.dumps(profile_id) + b',"results":['
    first = True
    async for batch in batches:
        rows = [item(state, title) for state, title in batch]
        if format == "csv":
            yield _csv(rows)
            continue
        body = b",".join(orjson.dumps(row.model_dump()) for row in rows)
        yield body if first else b"," + body
        first = False
    if format == "json":
        yield b"]}"


async def opened(profile_id: str) -> AsyncIterator[list[tuple[PlayState, Title | None]]]:
    """The export's batches with the first one already read, so that a store that cannot
    answer is a 503 before any byte is sent. Raises StoreUnavailable."""
    batches = history_export(profile_id=profile_id)
    first = await anext(batches, None)

    async def resumed() -> AsyncIterator[list[tuple[PlayState, Title | None]]]:
        if first is not None:
            yield first
        async for batch in batches:
            yield batch

    return resumed()
