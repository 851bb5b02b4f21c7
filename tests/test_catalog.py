from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from catalog import durations
from catalog.models import Movie

Run = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.mark.django_db(transaction=True)
def test_durations_come_from_the_catalog_and_unknown_titles_are_none(run: Run) -> None:
    Movie.objects.create(movie_id="m1", title="Film One", duration_ms=600_000)
    durations.clear_cache()
    assert run(durations.durations(["m1", "new"])) == {"m1": 600_000, "new": None}


@pytest.mark.django_db(transaction=True)
def test_the_cache_stays_bounded(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(durations, "MAX_ENTRIES", 10)
    durations.clear_cache()
    for i in range(25):
        run(durations.durations([f"random-{i}"]))
    assert len(durations._cache) <= 10
