"""CompressedVH: a profile's older history as compact bytes, and back. Pure functions.

Layout (version 3), before compression:

    varint count
    varint n_strings, then each string (varint length + UTF-8): device ids and event types
    per record, sorted by client time:
        varint   client time  - previous record's client time   (first: - 0)
        zigzag   position     - previous record's position
        varint   len(movie id) + movie id
        varint   device (index into the strings)
        varint   event type (index into the strings)
        varint   duration + 1, or 0 when unknown
        varint   0 when never hidden, else zigzag(hidden_before - client time) + 1
        varint   the same for forgotten_before
        varint   1 when the state holds the place (`significant`), else 0

Watching in order (episode after episode, heartbeat times a few hours apart) makes the deltas
small, so a record costs a few bytes before the compressor even starts. The blob is
`MAGIC, version, compressor` followed by the compressed layout.

Version 1 wrote `zigzag(hidden_before - client time + 1)`, which cannot tell "never hidden"
from "hidden up to a millisecond before this state"; it is still read, and that one case
reads as never hidden (where it is shown anyway: the state is newer than the hiding).
Versions 1 and 2 end each record there; their records are judged significant as the ingest
judges a heartbeat (by position: no marks existed then), so `decode` takes the threshold.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence

import zstandard

from core.domain import EventType, PlayState, holds_place

MAGIC = b"PVH"
VERSION = 3
READABLE_VERSIONS = frozenset({1, 2, 3})
ZLIB, ZSTD = 1, 2
DEFAULT_COMPRESSOR = ZSTD


def _varint(value: int, out: bytearray) -> None:
    if value < 0:
        raise ValueError("varints are unsigned")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _zigzag_value(value: int) -> int:
    return value * 2 if value >= 0 else -value * 2 - 1


def _unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2


def _zigzag(value: int, out: bytearray) -> None:
    _varint(_zigzag_value(value), out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def varint(self) -> int:
        result = shift = 0
        while True:
            byte = self.data[self.at]
            self.at += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        return _unzigzag(self.varint())

    def hidden_before(self, version: int, client_request_time: int) -> int:
        if version == 1:
            offset = self.zigzag()
            return client_request_time + offset - 1 if offset else 0
        value = self.varint()
        return client_request_time + _unzigzag(value - 1) if value else 0

    def text(self) -> str:
        length = self.varint()
        self.at += length
        return self.data[self.at - length : self.at].decode()


def _hiding(value: int, client_request_time: int, out: bytearray) -> None:
    _varint(_zigzag_value(value - client_request_time) + 1 if value else 0, out)


def _layout(records: Sequence[PlayState]) -> bytes:
    ordered = sorted(records, key=lambda s: (s.client_request_time, s.movie_id))
    strings = sorted({s.device_id for s in ordered} | {s.event_type for s in ordered})
    index = {value: i for i, value in enumerate(strings)}
    out = bytearray()
    _varint(len(ordered), out)
    _varint(len(strings), out)
    for value in strings:
        encoded = value.encode()
        _varint(len(encoded), out)
        out += encoded
    previous_time = previous_position = 0
    for s in ordered:
        _varint(s.client_request_time - previous_time, out)
        _zigzag(s.position_ms - previous_position, out)
        previous_time, previous_position = s.client_request_time, s.position_ms
        movie = s.movie_id.encode()
        _varint(len(movie), out)
        out += movie
        _varint(index[s.device_id], out)
        _varint(index[s.event_type], out)
        _varint(0 if s.duration_ms is None else s.duration_ms + 1, out)
        _hiding(s.hidden_before, s.client_request_time, out)
        _hiding(s.forgotten_before, s.client_request_time, out)
        _varint(int(s.significant), out)
    return bytes(out)


def encode(records: Iterable[PlayState], *, compressor: int = DEFAULT_COMPRESSOR) -> bytes:
    """The records of one profile (one per title) as a CompressedVH blob."""
    layout = _layout(list(records))
    if compressor == ZSTD:
        body = zstandard.ZstdCompressor(level=9).compress(layout)
    elif compressor == ZLIB:
        body = zlib.compress(layout, 9)
    else:
        raise ValueError(f"unknown compressor {compressor}")
    return MAGIC + bytes([VERSION, compressor]) + body


def decode(blob: bytes, *, profile_id: str, ignore_start_ms: int) -> Iterator[PlayState]:
    """The blob's records, one at a time, in client-time order."""
    if blob[:3] != MAGIC or blob[3] not in READABLE_VERSIONS:
        raise ValueError("not a CompressedVH blob of a known version")
    version, compressor, body = blob[3], blob[4], blob[5:]
    if compressor == ZSTD:
        layout = zstandard.ZstdDecompressor().decompress(body)
    elif compressor == ZLIB:
        layout = zlib.decompress(body)
    else:
        raise ValueError(f"unknown compressor {compressor}")
    reader = _Reader(layout)
    count = reader.varint()
    strings = [reader.text() for _ in range(reader.varint())]
    time = position = 0
    for _ in range(count):
        time += reader.varint()
        position += reader.zigzag()
        movie = reader.text()
        device, event = strings[reader.varint()], strings[reader.varint()]
        duration = reader.varint()
        hidden = reader.hidden_before(version, time)
        if version >= 3:
            forgotten = reader.hidden_before(version, time)
            significant = bool(reader.varint())
        else:
            forgotten = 0
            significant = holds_place(position, EventType(event), ignore_start_ms=ignore_start_ms)
        yield PlayState(
            profile_id=profile_id,
            movie_id=movie,
            position_ms=position,
            client_request_time=time,
            device_id=device,
            event_type=EventType(event),
            duration_ms=duration - 1 if duration else None,
            hidden_before=hidden,
            significant=significant,
            forgotten_before=forgotten,
        )


def chunks(blob: bytes, size: int) -> list[bytes]:
    """The blob cut into pieces of at most `size` bytes (at least one piece)."""
    return [blob[i : i + size] for i in range(0, len(blob), size)] or [b""]
