"""A person's own control over their history, in-process: no lost place, resume points,
restore, watched and unwatched, hide from history, export."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from typing import Any

import httpx
import pytest
import redis
from channels.db import database_sync_to_async

from catalog import titles
from catalog.models import Movie
from core.domain import EventType, PlayState
from history import codec
from history.store import get_store
from playstate import export, hotlayer
from playstate.flush import pending_flush
from tests.cases import heartbeat, now_s

pytestmark = pytest.mark.anyio

P = "/api/v1/profiles/alice-tv"


@pytest.fixture
def film(transactional_db: None) -> Movie:
    return Movie.objects.create(movie_id="film", title='A Film, "quoted"', duration_ms=5_400_000)


async def send(api: httpx.AsyncClient, token: str, **kw: Any) -> None:
    body = heartbeat(**({"movie_id": "film"} | kw))
    response = await api.post(
        "/api/v1/heartbeats", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 202, response.text


async def call(
    api: httpx.AsyncClient, token: str, method: str, path: str, body: Any = None
) -> httpx.Response:
    return await api.request(
        method, f"{P}/{path}", json=body, headers={"Authorization": f"Bearer {token}"}
    )


async def resume(api: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await call(api, token, "GET", "positions/film")
    assert response.status_code == 200
    return dict(response.json())


async def on_phone(
    api: httpx.AsyncClient, token: str, t: int, steps: list[tuple[int, int, str]]
) -> None:
    """Heartbeats from the phone: (position, seconds before `t`, event) each."""
    for position, ago, event in steps:
        await send(
            api,
            token,
            video_timestamp_ms=position,
            client_request_time=t - ago,
            device_id="phone",
            event_type=event,
        )


async def versions_of(api: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    response = await call(api, token, "GET", "positions/film/versions")
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


async def listed(api: httpx.AsyncClient, token: str, path: str) -> list[str]:
    response = await call(api, token, "GET", path)
    assert response.status_code == 200, response.text
    return [item["movie_id"] for item in response.json()["results"]]


async def test_a_failed_start_on_the_tv_leaves_the_phones_place(
    api: httpx.AsyncClient, alice: str, film: Movie
) -> None:
    t = now_s()
    await send(
        api,
        alice,
        video_timestamp_ms=1_200_000,
        client_request_time=t - 120,
        device_id="phone",
        event_type="PAUSE",
    )
    await send(api, alice, video_timestamp_ms=0, client_request_time=t - 60, event_type="START")
    await send(api, alice, video_timestamp_ms=3_000, client_request_time=t - 57, event_type="STOP")
    body = await resume(api, alice)
    assert (body["position_ms"], body["device_id"]) == (1_200_000, "phone")
    versions = await versions_of(api, alice)
    assert versions[:2] == [
        {
            "position_ms": 3_000,
            "client_request_time": (t - 57) * 1000,
            "device_id": "tv_01",
            "event_type": "STOP",
        },
        {
            "position_ms": 1_200_000,
            "client_request_time": (t - 120) * 1000,
            "device_id": "phone",
            "event_type": "PAUSE",
        },
    ]


async def test_starting_over_on_one_device_keeps_the_place_it_left(
    api: httpx.AsyncClient, alice: str, film: Movie
) -> None:
    """Paused at 20:00 on the phone, then started over there and paused at 0:03, all within
    a minute: both are resume points ("no way back" kept only the last of ten minutes)."""
    t = now_s()
    await on_phone(
        api, alice, t, [(1_200_000, 120, "PAUSE"), (0, 60, "START"), (3_000, 57, "PAUSE")]
    )
    versions = await versions_of(api, alice)
    assert [(v["position_ms"], v["event_type"]) for v in versions] == [
        (3_000, "PAUSE"),
        (1_200_000, "PAUSE"),
    ]


async def test_a_title_the_cache_has_let_go_still_lists_its_last_place(
    api: httpx.AsyncClient, alice: str, film: Movie, redis_client: redis.Redis
) -> None:
    """Idle past the cache's TTL, the title's state is in the store only; the resume points
    kept in Redis (30 days) are the older places, and the newest comes from the store."""
    t = now_s()
    await on_phone(api, alice, t, [(1_200_000, 900, "PAUSE"), (2_400_000, 120, "PAUSE")])
    assert await pending_flush() == 1
    redis_client.delete(hotlayer.hot_key("alice-tv", "film"))
    versions = await versions_of(api, alice)
    assert [(v["position_ms"], v["client_request_time"]) for v in versions] == [
        (2_400_000, (t - 120) * 1000),
        (1_200_000, (t - 900) * 1000),
    ]


async def test_watching_from_the_start_past_the_threshold_moves_the_place(
    api: httpx.AsyncClient, alice: str, film: Movie
) -> None:
    t = now_s()
    await send(
        api,
        alice,
        video_timestamp_ms=1_200_000,
        client_request_time=t - 400,
        device_id="phone",
        event_type="PAUSE",
    )
    for s in range(0, 301, 30):
        await send(api, alice, video_timestamp_ms=s * 1000, client_request_time=t - 310 + s)
        expected = 1_200_000 if s < 180 else s * 1000
        assert (await resume(api, alice))["position_ms"] == expected


async def test_restore_goes_back_to_a_resume_point_and_wins(
    api: httpx.AsyncClient, alice: str, film: Movie, redis_client: redis.Redis
) -> None:
    t = now_s()
    await send(api, alice, video_timestamp_ms=1_200_000, client_request_time=t - 100)
    # A device whose clock runs ahead: the restore still comes after it.
    await send(api, alice, video_timestamp_ms=2_400_000, client_request_time=t + 60)
    response = await call(api, alice, "POST", "positions/film/restore", {"position_ms": 1_200_000})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["position_ms"], body["device_id"], body["event_type"]) == (
        1_200_000,
        "restore",
        "RESTORE",
    )
    assert body["client_request_time"] > (t + 60) * 1000
    assert await pending_flush() == 1  # due at once
    redis_client.flushall()
    assert (await resume(api, alice))["position_ms"] == 1_200_000
    for bad in ({"position_ms": 5_400_001}, {"position_ms": "1"}, {}, {"position_ms": -1}):
        refused = await call(api, alice, "POST", "positions/film/restore", bad)
        assert refused.status_code == 400, bad
    assert (await resume(api, alice))["position_ms"] == 1_200_000


async def test_watched_with_a_past_date_loses_to_a_later_heartbeat(
    api: httpx.AsyncClient, alice: str, film: Movie
) -> None:
    t = now_s()
    response = await call(api, alice, "PUT", "watched/film", {"watched_at": t - 3_600})
    assert response.status_code == 200, response.text
    assert (response.json()["completed"], response.json()["event_type"]) == (True, "WATCHED")
    assert "film" in await listed(api, alice, "history")
    assert await listed(api, alice, "continue-watching") == []
    await send(api, alice, video_timestamp_ms=600_000, client_request_time=t - 7_200)
    assert (await resume(api, alice))["completed"] is True  # older than the mark
    await send(api, alice, video_timestamp_ms=600_000, client_request_time=t - 60)
    body = await resume(api, alice)
    assert (body["position_ms"], body["completed"]) == (600_000, False)


async def test_unwatched_starts_over_and_leaves_the_row(
    api: httpx.AsyncClient, alice: str, film: Movie
) -> None:
    t = now_s()
    await send(api, alice, video_timestamp_ms=5_300_000, client_request_time=t - 60)
    assert (await resume(api, alice))["completed"] is True
    response = await call(api, alice, "DELETE", "watched/film")
    assert response.status_code == 200
    body = response.json()
    assert (body["position_ms"], body["completed"], body["event_type"]) == (0, False, "UNWATCHED")
    assert await listed(api, alice, "continue-watching") == []


@pytest.mark.parametrize("movie", ["film", "not-in-catalog"])
async def test_unwatching_a_title_never_watched_leaves_history_as_it_was(
    api: httpx.AsyncClient, alice: str, film: Movie, movie: str
) -> None:
    response = await call(api, alice, "DELETE", f"watched/{movie}")
    assert response.status_code == 200
    assert (response.json()["position_ms"], response.json()["source"]) == (0, "default")
    assert await pending_flush() == 0
    assert await listed(api, alice, "history") == []


async def test_watched_refuses_what_it_cannot_mark(
    api: httpx.AsyncClient, alice: str, film: Movie
) -> None:
    t = now_s()
    assert (
        await call(api, alice, "PUT", "watched/film", {"watched_at": t + 86_400})
    ).status_code == 400
    assert (
        await call(api, alice, "PUT", "watched/film", {"watched_at": "yesterday"})
    ).status_code == 400
    assert (await call(api, alice, "PUT", "watched/not-in-catalog")).status_code == 404
    for body in (b"null", b"[]", b"false", b"0", b'""'):  # JSON, but no object
        headers = {"Authorization": f"Bearer {alice}", "Content-Type": "application/json"}
        answer = await api.put(f"{P}/watched/film", content=body, headers=headers)
        assert answer.status_code == 400, body
    assert (await resume(api, alice))["client_request_time"] is None
    marked = await call(api, alice, "PUT", "watched/film")  # no body: now
    assert (marked.status_code, marked.json()["completed"]) == (200, True)


async def test_a_marks_event_type_cannot_be_sent_by_a_player(
    api: httpx.AsyncClient, alice: str, film: Movie
) -> None:
    body = heartbeat(movie_id="film", event_type="WATCHED")
    response = await api.post(
        "/api/v1/heartbeats", json=body, headers={"Authorization": f"Bearer {alice}"}
    )
    assert response.status_code == 400
    assert "event_type" in response.json()


async def test_hiding_from_history_removes_it_everywhere_until_watched_again(
    api: httpx.AsyncClient, alice: str, film: Movie, redis_client: redis.Redis
) -> None:
    t = now_s()
    await send(api, alice, video_timestamp_ms=1_200_000, client_request_time=t - 120)
    assert (await call(api, alice, "DELETE", "history/film")).status_code == 204
    assert await listed(api, alice, "history") == []
    assert await listed(api, alice, "continue-watching") == []
    hidden = await resume(api, alice)
    assert (hidden["position_ms"], hidden["source"]) == (0, "default")
    assert (await call(api, alice, "GET", "positions/film/versions")).json() == {"results": []}
    await pending_flush()
    redis_client.flushall()  # from the store alone, still hidden
    assert await listed(api, alice, "history") == []
    assert (await resume(api, alice))["position_ms"] == 0
    await send(api, alice, video_timestamp_ms=600_000, client_request_time=t - 10)
    assert await listed(api, alice, "history") == ["film"]
    assert await listed(api, alice, "continue-watching") == ["film"]
    versions = await versions_of(api, alice)
    assert [v["position_ms"] for v in versions] == [600_000]  # the hidden place stays gone


async def test_hiding_reaches_a_title_only_in_compacted_history(
    api: httpx.AsyncClient, alice: str, film: Movie, redis_client: redis.Redis
) -> None:
    old = PlayState(
        "alice-tv",
        "film",
        1_200_000,
        (now_s() - 90 * 86_400) * 1000,
        "tv",
        EventType.PAUSE,
        5_400_000,
        significant=True,
    )
    store = get_store()
    await database_sync_to_async(store.write_compressed)(
        "alice-tv", codec.encode([old]), chunk_size=1024
    )
    assert await listed(api, alice, "history") == ["film"]
    assert (await call(api, alice, "DELETE", "history/film")).status_code == 204
    await pending_flush()
    redis_client.flushall()
    assert await listed(api, alice, "history") == []


async def test_the_export_is_the_history_as_json_and_as_csv(
    api: httpx.AsyncClient, alice: str, film: Movie
) -> None:
    t = now_s()
    await send(api, alice, video_timestamp_ms=1_200_000, client_request_time=t - 120)
    await send(api, alice, movie_id="gone", video_timestamp_ms=1_000, client_request_time=t - 100)
    await call(api, alice, "DELETE", "history/gone")
    as_json = await call(api, alice, "GET", "history/export")
    assert as_json.headers["content-type"] == "application/json"
    assert json.loads(as_json.content) == {
        "profile_id": "alice-tv",
        "results": [
            {
                "movie_id": "film",
                "title": 'A Film, "quoted"',
                "series_id": None,
                "season": None,
                "episode": None,
                "last_watched": as_json.json()["results"][0]["last_watched"],
                "position_ms": 1_200_000,
                "duration_ms": 5_400_000,
                "completed": False,
                "device_id": "tv_01",
            }
        ],
    }
    assert as_json.json()["results"][0]["last_watched"].endswith("Z")
    as_csv = await api.get(
        f"{P}/history/export?format=csv",
        headers={"Authorization": f"Bearer {alice}", "Accept": "text/csv"},
    )
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [(r["movie_id"], r["title"], r["position_ms"]) for r in rows] == [
        ("film", 'A Film, "quoted"', "1200000")
    ]
    assert (await call(api, alice, "GET", "history/export?format=xml")).status_code == 400


async def test_the_csv_export_keeps_a_formula_as_text(
    api: httpx.AsyncClient, alice: str, film: Movie
) -> None:
    """A device named like a spreadsheet formula would run as one when the file is opened."""
    formula = '=HYPERLINK("http://evil.example","x")'
    await send(api, alice, video_timestamp_ms=1_200_000, device_id=formula)
    as_csv = await call(api, alice, "GET", "history/export?format=csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [r["device_id"] for r in rows] == ["'" + formula]
    as_json = await call(api, alice, "GET", "history/export")
    assert [r["device_id"] for r in as_json.json()["results"]] == [formula]


async def exported(profile_id: str, count: int) -> tuple[int, int, int]:
    """Lines and bytes of a CSV export of `count` compacted titles, and the peak memory it
    took to stream it."""
    t = (now_s() - 400 * 86_400) * 1000
    records = [
        PlayState(
            profile_id,
            f"title-{i:05}",
            600_000 + i,
            t + i * 60_000,
            "tv",
            EventType.STOP,
            5_400_000,
            significant=True,
        )
        for i in range(count)
    ]
    blob = codec.encode(records)
    # The catalog's per-process cache has a bound of its own (catalog.titles.MAX_ENTRIES);
    # warm, as in a running server, it is not what this measures.
    await titles.titles([r.movie_id for r in records])
    del records
    await database_sync_to_async(get_store().write_compressed)(profile_id, blob, chunk_size=65_536)
    tracemalloc.start()
    try:
        size = lines = 0
        async for chunk in export.stream(await export.opened(profile_id), profile_id, "csv"):
            size += len(chunk)
            lines += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return lines, size, peak


async def test_an_export_of_a_long_history_streams_in_bounded_memory(
    alice: str, film: Movie
) -> None:
    lines, size, peak = await exported("alice-tv", 10_000)
    assert (lines, size > 600_000) == (10_001, True)
    short_lines, short_size, short_peak = await exported("alice-phone", 2_000)
    assert short_lines == 2_001
    # Five times the history, five times the bytes sent; the memory it takes barely grows
    # (holding the records or the file would take it up fivefold too).
    assert size > 4.5 * short_size
    assert peak < 1.5 * short_peak, (peak, short_peak)
