from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from catalog import titles
from catalog.models import Movie
from tests.cases import Run


@pytest.mark.django_db(transaction=True)
def test_titles_come_from_the_catalog_and_unknown_ones_are_none(run: Run) -> None:
    Movie.objects.create(movie_id="m1", title="Film One", duration_ms=600_000)
    Movie.objects.create(
        movie_id="s.e1", title="Pilot", duration_ms=60_000, credits_ms=55_000,
        series_id="s", season=1, episode=1,
    )  # fmt: skip
    titles.clear_cache()
    assert run(titles.durations(["m1", "new"])) == {"m1": 600_000, "new": None}
    pilot = run(titles.titles(["s.e1"]))["s.e1"]
    assert (pilot.series_id, pilot.season, pilot.episode, pilot.credits_ms) == ("s", 1, 1, 55_000)
    assert pilot.added_at is not None
    assert [t.movie_id for t in run(titles.series_episodes(["s"]))["s"]] == ["s.e1"]


@pytest.mark.django_db(transaction=True)
def test_the_cache_stays_bounded(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(titles, "MAX_ENTRIES", 10)
    titles.clear_cache()
    for i in range(25):
        run(titles.durations([f"random-{i}"]))
    assert len(titles._titles) <= 10


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_a_changed_title_is_answered_from_the_cache_while_it_is_reloaded(
    settings: Any,
) -> None:
    """No request waits for SQL for a title its process has seen; the change still shows."""
    settings.PLAYSTATE_CATALOG_CACHE_SECONDS = 0  # every entry is past its time at once
    await Movie.objects.acreate(movie_id="m1", title="Film One", duration_ms=600_000)
    titles.clear_cache()
    assert await titles.durations(["m1"]) == {"m1": 600_000}
    await Movie.objects.filter(movie_id="m1").aupdate(duration_ms=700_000)
    assert await titles.durations(["m1"]) == {"m1": 600_000}  # stale, and a reload started
    for _ in range(100):
        if await titles.durations(["m1"]) == {"m1": 700_000}:
            break
        await asyncio.sleep(0.02)
    assert await titles.durations(["m1"]) == {"m1": 700_000}


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_the_first_check_loads_the_catalog_in_the_background(settings: Any) -> None:
    """A web process meets thousands of titles; the first one it checks brings them all."""
    settings.PLAYSTATE_CATALOG_PREFETCH = True
    await Movie.objects.abulk_create(
        [Movie(movie_id=f"t{i}", title=f"Film {i}", duration_ms=60_000 + i) for i in range(300)]
    )
    titles.clear_cache()
    assert await titles.durations(["t0"]) == {"t0": 60_000}
    for _ in range(100):
        if len(titles._titles) == 300:
            break
        await asyncio.sleep(0.02)
    found, missing, _ = titles._titles.fresh(["t1", "t299"])
    assert missing == set()
    assert {m: t and t[:3] for m, t in found.items()} == {
        "t1": ("t1", "Film 1", 60_001),
        "t299": ("t299", "Film 299", 60_299),
    }
    # Out of the garbage collector's full passes (core/memory.py): not among what it walks.
    loaded = found["t299"]
    assert not any(tracked is loaded for tracked in gc.get_objects())


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_titles_met_later_stay_out_of_the_garbage_collector_s_full_passes() -> None:
    """A full collection stops the event loop for as long as it walks what it tracks: each
    title loaded or reloaded after the catalog, kept as an object, made 50,000 titles' passes
    17 ms long."""
    await Movie.objects.acreate(
        movie_id="s.e1", title="Pilot", duration_ms=60_000, series_id="s", season=1, episode=1
    )
    titles.clear_cache()
    pilot = (await titles.titles(["s.e1"]))["s.e1"]
    assert pilot is not None
    assert pilot.title == "Pilot"
    assert [t.episode for t in (await titles.series_episodes(["s"]))["s"]] == [1]
    # A pass stops tracking a tuple once it stopped tracking its items: a series' entry,
    # three tuples deep, may take a pass for each.
    for _ in range(3):
        gc.collect()
    cached = [*titles._titles.values(), *titles._series.values()]
    assert len(cached) == 2
    assert not [entry for entry in cached if gc.is_tracked(entry)]


@pytest.mark.anyio
@pytest.mark.django_db(transaction=True)
async def test_a_title_imported_after_a_process_met_it_absent_is_seen_within_seconds(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its duration was not checked for the cache's five minutes: a position past the end
    was taken, and the title later read as completed with no duration."""
    settings.PLAYSTATE_CATALOG_CACHE_SECONDS = 300
    monkeypatch.setattr(titles, "ABSENT_SECONDS", 0, raising=False)  # past its time at once
    titles.clear_cache()
    assert await titles.durations(["late"]) == {"late": None}
    await Movie.objects.acreate(movie_id="late", title="Late", duration_ms=1_000_000)
    for _ in range(100):
        if await titles.durations(["late"]) == {"late": 1_000_000}:
            break
        await asyncio.sleep(0.02)
    assert await titles.durations(["late"]) == {"late": 1_000_000}
