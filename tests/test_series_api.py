"""Shows through the API, in-process: Next Up, one Continue Watching tile per show, hiding a
show, completion at the credits, series details in history."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from catalog.models import Movie
from tests.cases import heartbeat, now_s

pytestmark = pytest.mark.anyio

DURATION, CREDITS = 2_700_000, 2_520_000  # 45 min, credits at 42 min


@pytest.fixture
def show(transactional_db: None) -> None:
    """A film and a show, in the catalog since yesterday."""
    Movie.objects.create(movie_id="film", title="A Film", duration_ms=5_400_000)
    for season, episode in [(0, 1), (1, 1), (1, 2), (1, 3), (2, 1), (2, 2)]:
        Movie.objects.create(
            movie_id=f"show.s{season}e{episode}",
            title=f"Show S{season}E{episode}",
            duration_ms=DURATION,
            credits_ms=CREDITS,
            series_id="show",
            season=season,
            episode=episode,
            added_at=timezone.now() - timedelta(days=1),
        )


async def watch(
    api: httpx.AsyncClient, token: str, movie: str, position: int, at: int, **kw: Any
) -> None:
    body = heartbeat(movie_id=movie, video_timestamp_ms=position, client_request_time=at, **kw)
    response = await api.post(
        "/api/v1/heartbeats", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 202, response.text


async def get(api: httpx.AsyncClient, token: str, path: str) -> Any:
    response = await api.get(
        f"/api/v1/profiles/alice-tv/{path}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_episode_watched_to_the_credits_puts_the_next_in_next_up_and_the_row(
    api: httpx.AsyncClient, alice: str, show: None
) -> None:
    t = now_s() * 1000
    await watch(api, alice, "film", 600_000, t - 5_000)
    await watch(api, alice, "show.s1e1", CREDITS + 5_000, t - 1_000, event_type="STOP")
    assert (await get(api, alice, "next-up"))["results"] == [
        {
            "series_id": "show",
            "movie_id": "show.s1e2",
            "title": "Show S1E2",
            "season": 1,
            "episode": 2,
            "position_ms": 0,
            "duration_ms": DURATION,
            "last_watched": t - 1_000,
            "reason": "next",
        }
    ]
    row = (await get(api, alice, "continue-watching"))["results"]
    assert [(r["movie_id"], r["series_id"], r["next_up"], r["position_ms"]) for r in row] == [
        ("show.s1e2", "show", True, 0),
        ("film", None, False, 600_000),
    ]
    # Past the credits, before 95%: completed, so it resumes from the start.
    resumed = await get(api, alice, "positions/show.s1e1")
    assert (resumed["completed"], resumed["position_ms"]) == (True, 0)
    history = (await get(api, alice, "history"))["results"]
    assert (history[0]["series_id"], history[0]["season"], history[0]["episode"]) == ("show", 1, 1)
    assert history[0]["title"] == "Show S1E1"


async def test_a_show_is_one_tile_however_many_of_its_episodes_are_in_progress(
    api: httpx.AsyncClient, alice: str, show: None
) -> None:
    t = now_s() * 1000
    await watch(api, alice, "show.s1e1", 600_000, t - 3_000)
    await watch(api, alice, "show.s1e3", 700_000, t - 2_000)
    await watch(api, alice, "show.s0e1", 100_000, t - 1_000)
    row = (await get(api, alice, "continue-watching"))["results"]
    assert [(r["movie_id"], r["next_up"], r["position_ms"]) for r in row] == [
        ("show.s0e1", False, 100_000)  # the latest activity of the show, still in progress
    ]
    entries = (await get(api, alice, "next-up"))["results"]
    assert [(e["movie_id"], e["reason"]) for e in entries] == [("show.s0e1", "in_progress")]


async def test_removing_a_shows_tile_hides_the_show_until_any_episode_is_watched_again(
    api: httpx.AsyncClient, alice: str, show: None
) -> None:
    t = now_s() * 1000
    await watch(api, alice, "show.s1e1", CREDITS, t - 3_000, event_type="STOP")
    await watch(api, alice, "show.s1e3", 700_000, t - 4_000)
    row = (await get(api, alice, "continue-watching"))["results"]
    assert [r["movie_id"] for r in row] == ["show.s1e2"]  # not started: the next one
    removed = await api.delete(
        "/api/v1/profiles/alice-tv/continue-watching/show.s1e2",
        headers={"Authorization": f"Bearer {alice}"},
    )
    assert removed.status_code == 204
    assert (await get(api, alice, "continue-watching"))["results"] == []
    assert [e["movie_id"] for e in (await get(api, alice, "next-up"))["results"]] == ["show.s1e2"]
    await watch(api, alice, "show.s2e1", 60_000, t - 500)
    row = (await get(api, alice, "continue-watching"))["results"]
    assert [(r["movie_id"], r["position_ms"]) for r in row] == [("show.s2e1", 60_000)]


async def test_finishing_a_season_offers_the_next_one(
    api: httpx.AsyncClient, alice: str, show: None
) -> None:
    t = now_s() * 1000
    for i, movie in enumerate(["show.s1e1", "show.s1e2", "show.s1e3"]):
        await watch(api, alice, movie, CREDITS, t - 10_000 + i, event_type="STOP")
    entries = (await get(api, alice, "next-up"))["results"]
    assert [(e["movie_id"], e["reason"]) for e in entries] == [("show.s2e1", "new_season")]


async def test_next_up_takes_a_limit(api: httpx.AsyncClient, alice: str, show: None) -> None:
    for bad in ("0", "101", "x"):
        response = await api.get(
            f"/api/v1/profiles/alice-tv/next-up?limit={bad}",
            headers={"Authorization": f"Bearer {alice}"},
        )
        assert response.status_code == 400


async def test_an_episode_added_after_the_show_was_finished_brings_it_back(
    api: httpx.AsyncClient, alice: str, show: None, settings: Any
) -> None:
    """Once the process's catalog cache has reloaded the show (in the background, after
    PLAYSTATE_CATALOG_CACHE_SECONDS; on the DRF views' path that reload used to fail, so
    the episode never came)."""
    settings.PLAYSTATE_CATALOG_CACHE_SECONDS = 0  # every entry is past its time at once
    t = now_s() * 1000
    await watch(api, alice, "show.s2e2", CREDITS, t - 60_000, event_type="STOP")  # the finale
    assert (await get(api, alice, "next-up"))["results"] == []
    await database_sync_to_async(Movie.objects.create)(
        movie_id="show.s2e3", title="Show S2E3", duration_ms=DURATION,
        series_id="show", season=2, episode=3,
    )  # fmt: skip
    for _ in range(60):  # answered from the cache while the reload runs (half a second)
        entries = (await get(api, alice, "next-up"))["results"]
        if entries:
            break
        await asyncio.sleep(0.05)
    assert [(e["movie_id"], e["reason"]) for e in entries] == [("show.s2e3", "new_episode")]
