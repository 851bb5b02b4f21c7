"""Resume points: one per session and device, newest first, whatever order they come in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.domain import EventType
from core.versions import Point, resume_points, sessions

T = 1_700_000_000_000
MIN = 60_000


def point(minute: float, position_min: float, device: str = "phone") -> Point:
    return Point(T + int(minute * MIN), int(position_min * MIN), device, EventType.HEARTBEAT)


def test_one_session_is_one_point_its_last() -> None:
    session = [point(m, m) for m in range(0, 40, 10)]
    assert resume_points(session, limit=10) == [session[-1]]


def test_another_device_and_a_jump_are_points_of_their_own() -> None:
    phone = [point(0, 0), point(10, 10), point(20, 20)]
    tv_failed_start = point(60, 0.05, "tv")
    assert resume_points([*phone, tv_failed_start], limit=10) == [tv_failed_start, phone[-1]]
    jumped = point(25, 70)  # a seek far ahead on the phone
    assert resume_points([*phone, jumped], limit=10) == [jumped, phone[-1]]


def test_a_new_session_after_a_long_break_is_a_point_of_its_own() -> None:
    evening, next_day = point(0, 20), point(24 * 60, 20.5)
    assert resume_points([evening, next_day], limit=10) == [next_day, evening]


points = st.builds(
    point,
    st.integers(0, 300).map(lambda m: m / 2),
    st.integers(0, 120),
    st.sampled_from(["phone", "tv"]),
)


@given(st.lists(points, max_size=30), st.randoms())
def test_the_list_depends_on_the_points_only(sent: list[Point], rnd: object) -> None:
    shuffled = sent + sent[:5]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    found = resume_points(shuffled, limit=50)
    assert found == resume_points(sent, limit=50)
    assert found == sorted(found, reverse=True)
    assert set(found) <= set(sent)
    if sent:
        assert found[0] == max(sent)


def test_a_session_spans_its_first_and_last_points() -> None:
    phone = [point(0, 0), point(10, 10), point(20, 20)]
    tv = point(60, 0.05, "tv")
    assert sessions([tv, *phone]) == [(phone[0], phone[-1]), (tv, tv)]
