"""Next Up and completion at the credits: the rules, as pure functions (core/series.py)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from core.domain import EventType, PlayState, latest_per_title
from core.series import Reason, Title, completion_ms, is_completed, next_up

RATIO = 0.95
T = 1_800_000_000_000
HOUR = 3_600_000
DURATION = 2_700_000  # 45 min
CREDITS = 2_520_000  # 42 min


def episode(season: int, number: int, **kw: object) -> Title:
    values: dict[str, object] = {"duration_ms": DURATION, "credits_ms": CREDITS} | kw
    return Title(
        movie_id=f"show.s{season}e{number}",
        title=f"Show S{season}E{number}",
        series_id="show",
        season=season,
        episode=number,
        **values,  # type: ignore[arg-type]
    )


SHOW = [episode(0, 1), *[episode(s, e) for s in (1, 2, 3) for e in (1, 2, 3)]]


def watched(title: Title, at: int, position: int | None = None) -> PlayState:
    """A state of the title at `at`: to its credits, unless a position is given."""
    end = CREDITS if position is None else position
    return PlayState("p", title.movie_id, end, at, "tv", EventType.STOP, title.duration_ms)


def states(*items: PlayState) -> dict[str, PlayState]:
    return latest_per_title(items)


def ep(season: int, number: int) -> Title:
    return next(t for t in SHOW if (t.season, t.episode) == (season, number))


def test_a_title_is_completed_at_its_credits_or_at_the_ratio_if_sooner() -> None:
    assert completion_ms(DURATION, CREDITS, RATIO) == CREDITS
    assert completion_ms(DURATION, DURATION - 1, RATIO) == RATIO * DURATION  # late credits
    assert completion_ms(DURATION, None, RATIO) == RATIO * DURATION
    assert completion_ms(None, None, RATIO) is None
    assert is_completed(CREDITS, DURATION, RATIO, CREDITS)
    assert not is_completed(CREDITS - 1, DURATION, RATIO, CREDITS)
    assert not is_completed(10**9, None, RATIO)


def test_unwatched_specials_do_not_keep_a_show_out() -> None:
    # jellyfin/jellyfin#7938: a season-0 special nobody watched blocked Next Up.
    found = next_up(SHOW, states(watched(ep(1, 1), T)), RATIO)
    assert found is not None
    assert (found.episode.movie_id, found.reason) == ("show.s1e2", Reason.NEXT)


def test_after_a_season_the_next_season_is_offered() -> None:
    # jellyfin/jellyfin#6079
    season_one = [watched(ep(1, e), T + e * HOUR) for e in (1, 2, 3)]
    found = next_up(SHOW, states(*season_one), RATIO)
    assert found is not None
    assert (found.episode.movie_id, found.reason) == ("show.s2e1", Reason.NEW_SEASON)


def test_someone_who_skipped_the_early_seasons_is_not_sent_back_to_the_first() -> None:
    # trakt/showly#55
    found = next_up(SHOW, states(watched(ep(3, 1), T)), RATIO)
    assert found is not None
    assert found.episode.movie_id == "show.s3e2"


def test_rewatching_an_episode_of_a_finished_show_offers_the_one_after_it() -> None:
    everything = [watched(e, T + i * HOUR) for i, e in enumerate(SHOW) if e.season != 0]
    assert next_up(SHOW, states(*everything), RATIO) is None  # nothing left
    rewatched = watched(ep(1, 2), T + 100 * HOUR)
    found = next_up(SHOW, states(*everything, rewatched), RATIO)
    assert found is not None
    assert (found.episode.movie_id, found.reason, found.position_ms) == ("show.s1e3", "next", 0)


def test_episodes_seen_out_of_order_are_skipped() -> None:
    seen = [watched(ep(1, 1), T), watched(ep(1, 3), T + HOUR), watched(ep(1, 2), T + 2 * HOUR)]
    found = next_up(SHOW, states(*seen), RATIO)
    assert found is not None
    assert found.episode.movie_id == "show.s2e1"


def test_removing_a_watched_episode_from_the_library_keeps_the_next_one() -> None:
    # jellyfin/jellyfin#15151: the finished episode left the library.
    library = [e if e.movie_id != "show.s1e2" else episode(1, 2, available=False) for e in SHOW]
    found = next_up(library, states(watched(ep(1, 1), T), watched(ep(1, 2), T + HOUR)), RATIO)
    assert found is not None
    assert found.episode.movie_id == "show.s1e3"
    gone = [e for e in library if e.movie_id != "show.s1e3"] + [episode(1, 3, available=False)]
    skipped = next_up(gone, states(watched(ep(1, 2), T)), RATIO)
    assert skipped is not None
    assert skipped.episode.movie_id == "show.s2e1"  # a removed episode is not offered


def test_a_finished_show_returns_when_a_new_episode_is_added() -> None:
    finale = watched(ep(3, 3), T)
    assert next_up(SHOW, states(finale), RATIO) is None
    added = [*SHOW, episode(3, 4, added_at=T + 1_000)]
    found = next_up(added, states(finale), RATIO)
    assert found is not None
    assert (found.episode.movie_id, found.reason) == ("show.s3e4", Reason.NEW_EPISODE)


def test_an_episode_in_progress_is_the_entry() -> None:
    found = next_up(SHOW, states(watched(ep(1, 1), T), watched(ep(1, 2), T + HOUR, 600_000)), RATIO)
    assert found is not None
    assert (found.episode.movie_id, found.reason, found.position_ms) == (
        "show.s1e2",
        Reason.IN_PROGRESS,
        600_000,
    )
    assert (found.last_watched, found.device_id) == (T + HOUR, "tv")


def test_the_credits_finish_an_episode_before_the_ratio_would() -> None:
    at_credits = watched(ep(1, 1), T, CREDITS + 1)  # 93% in: past the credits, before 95%
    found = next_up(SHOW, states(at_credits), RATIO)
    assert found is not None
    assert found.episode.movie_id == "show.s1e2"


titles = st.sampled_from(SHOW)
heartbeats = st.builds(
    lambda title, at, position, device: PlayState(
        "p", title.movie_id, position, at, device, EventType.HEARTBEAT, DURATION
    ),
    titles,
    st.integers(T, T + 20),
    st.sampled_from([0, 60_000, CREDITS, DURATION]),
    st.sampled_from(["tv", "phone"]),
)


@given(st.lists(heartbeats, min_size=1, max_size=15), st.randoms())
def test_any_order_of_the_same_heartbeats_gives_the_same_next_up(
    sent: list[PlayState], rnd: random.Random
) -> None:
    delivered = sent + sent[: len(sent) // 2]
    rnd.shuffle(delivered)
    in_any_order = next_up(SHOW, latest_per_title(delivered), RATIO)
    assert in_any_order == next_up(SHOW, latest_per_title(sent), RATIO)


def test_an_episode_marked_unwatched_is_next_again_not_in_progress() -> None:
    watched_three = [watched(ep(1, e), T + e * HOUR) for e in (1, 2, 3)]
    unmarked = PlayState(
        "p", "show.s1e3", 0, T + 5 * HOUR, "mark", EventType.UNWATCHED, DURATION, significant=True
    )
    found = next_up(SHOW, states(*watched_three, unmarked), RATIO)
    assert found is not None
    assert (found.episode.movie_id, found.reason, found.position_ms) == (
        "show.s1e3",
        Reason.NEXT,
        0,
    )
