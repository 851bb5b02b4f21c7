from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from catalog import titles
from catalog.models import Movie

Run = Callable[[Coroutine[Any, Any, Any]], Any]


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
