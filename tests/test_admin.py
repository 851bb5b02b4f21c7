"""The admin as support staff use it (Django test client, real Redis, the SQL store)."""

from __future__ import annotations

import json

import pytest
import redis
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Profile
from catalog.models import Movie
from core.domain import EventType, PlayState
from history import codec
from history.store import get_store
from playstate.flush import pending_flush
from playstate.models import RateLimit
from tests.cases import Run, heartbeat, now_s
from tests.conftest import MakeAccount

# Transactional: the admin runs the async services, whose ORM calls close stale connections.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(client: Client, redis_client: redis.Redis) -> Client:
    user = get_user_model().objects.create_user(
        "sam", password="support-pass-123", is_staff=True, is_superuser=True
    )
    client.force_login(user)
    return client


def page(client: Client, profile_id: str = "alice-tv") -> str:
    pk = Profile.objects.get(profile_id=profile_id).pk
    response = client.get(f"/admin/accounts/profile/{pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def action(client: Client, name: str, *args: str, data: dict[str, str] | None = None) -> None:
    pk = Profile.objects.get(profile_id="alice-tv").pk
    url = f"/admin/accounts/profile/{pk}/{name}/" + "".join(f"{a}/" for a in args)
    assert client.post(url, data or {}).status_code == 302


def send(alice: str, **fields: object) -> None:
    response = APIClient().post(
        "/api/v1/heartbeats", json.dumps(heartbeat(**fields)), content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {alice}",
    )  # fmt: skip
    assert response.status_code == 202


def test_support_finds_a_profile_by_id_or_account(staff: Client, alice: str, bob: str) -> None:
    by_id = staff.get("/admin/accounts/profile/?q=alice-tv").content.decode()
    assert "alice-tv" in by_id
    assert "bob-phone" not in by_id
    by_account = staff.get("/admin/accounts/profile/?q=bob").content.decode()
    assert "bob-phone" in by_account
    assert "alice-kids" not in by_account


def test_the_profile_page_shows_live_compacted_and_cached_history(
    staff: Client, alice: str, run: Run
) -> None:
    t = now_s() * 1000
    old = PlayState("alice-tv", "classic", 1_234_000, t - 10**11, "tv", EventType.STOP, None)
    get_store().write_compressed("alice-tv", codec.encode([old]), chunk_size=1024)
    send(alice, movie_id="recent", video_timestamp_ms=77_000, event_type="PAUSE")
    run(pending_flush())  # stored
    send(alice, movie_id="recent", video_timestamp_ms=78_000)  # cached, not yet stored
    html = page(staff)
    assert "Viewing history (2 titles)" in html
    assert '<time class="local" datetime="' in html
    assert "<td>20:34</td>" in html  # 1,234,000 ms, as a player shows it
    assert "CompressedVH" in html
    assert "<td>1:17</td>" in html
    assert "<td>1:18</td>" in html
    assert 'id="recent-sent">2<' in html
    assert 'id="recent-limited">0<' in html


def test_support_actions_work_and_are_logged(staff: Client, alice: str, run: Run) -> None:
    send(
        alice,
        movie_id="m7",
        video_timestamp_ms=500_000,
        client_request_time=now_s() - 5,
        event_type="PAUSE",
    )
    action(staff, "clear-position", "m7")
    run(pending_flush())  # the restart is due at once, as a person's restore is
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {alice}")
    assert api.get("/api/v1/profiles/alice-tv/positions/m7").json()["position_ms"] == 0
    assert get_store().get("alice-tv", "m7").position_ms == 0  # type: ignore[union-attr]

    action(staff, "restore-position", "m7", data={"position": "8:20"})
    run(pending_flush())
    restored = api.get("/api/v1/profiles/alice-tv/positions/m7").json()
    assert (restored["position_ms"], restored["device_id"]) == (500_000, "restore")
    assert get_store().get("alice-tv", "m7").position_ms == 500_000  # type: ignore[union-attr]
    action(staff, "restore-position", "m7", data={"position": "soon"})
    assert api.get("/api/v1/profiles/alice-tv/positions/m7").json()["position_ms"] == 500_000

    action(staff, "remove-from-row", "m7")
    assert api.get("/api/v1/profiles/alice-tv/continue-watching").json()["results"] == []

    RateLimit.objects.create(
        profile=Profile.objects.get(profile_id="alice-tv"), burst=1, per_minute=1
    )
    html = page(staff)
    assert "this profile's own limit" in html
    assert "<strong>1 burst, 1/min</strong>" in html
    action(staff, "reset-rate-limit")
    assert not RateLimit.objects.filter(profile__profile_id="alice-tv").exists()

    logged = list(LogEntry.objects.order_by("action_time").values_list("change_message", flat=True))
    assert logged == [
        "Cleared the position of m7: it resumes from the start.",
        "Restored m7 to 8:20: every device resumes there.",
        "Removed m7 from Continue Watching.",
        "Reset the rate limit to the default.",
    ]


def test_support_cannot_restore_past_the_end_or_act_on_what_is_not_there(
    staff: Client, alice: str, redis_client: redis.Redis
) -> None:
    Movie.objects.create(movie_id="f1", title="Film", duration_ms=5_500_000)  # 1:31:40
    send(alice, movie_id="f1", video_timestamp_ms=600_000, event_type="PAUSE")
    pk = Profile.objects.get(profile_id="alice-tv").pk
    restore = f"/admin/accounts/profile/{pk}/restore-position/f1/"
    answer = staff.post(restore, {"position": "2:00:00"}, follow=True)
    assert "after the end of the title (1:31:40); nothing changed" in answer.content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {alice}")
    assert api.get("/api/v1/profiles/alice-tv/positions/f1").json()["position_ms"] == 600_000
    # Not a title id, not a profile: a 404, and nothing written.
    assert staff.post(f"/admin/accounts/profile/{pk}/restore-position/bad id/",
                      {"position": "1:00"}, follow=True).status_code == 404  # fmt: skip
    for url in ("abc/change/", "abc/restore-position/f1/", "abc/reset-rate-limit/"):
        answer = staff.post(f"/admin/accounts/profile/{url}", {"position": "1:00"}, follow=True)
        assert answer.status_code == 404, url
    assert [k for k in redis_client.scan_iter("*") if "bad id" in k] == []
    # The profile id typed into the address finds its page.
    by_name = staff.get("/admin/accounts/profile/alice-tv/change/")
    assert (by_name.status_code, by_name["Location"]) == (
        302,
        f"/admin/accounts/profile/{pk}/change/",
    )


def test_non_staff_cannot_act(client: Client, redis_client: redis.Redis, alice: str) -> None:
    user = get_user_model().objects.create_user("viewer2", password="pw-viewer-234")
    client.force_login(user)
    pk = Profile.objects.get(profile_id="alice-tv").pk
    response = client.post(f"/admin/accounts/profile/{pk}/reset-rate-limit/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert not LogEntry.objects.exists()


def test_the_rate_limit_list_says_what_is_in_force(staff: Client, alice: str) -> None:
    RateLimit.objects.create(burst=12, per_minute=34)
    html = staff.get("/admin/playstate/ratelimit/").content.decode()
    assert "Default in force: 12 burst, 34/min" in html


def fill(make_account: MakeAccount, count: int) -> None:
    """`count` accounts with a profile, a token and a title each, and a limit on one."""
    for i in range(count):
        make_account(f"viewer{i}", f"profile-{i}")
        Movie.objects.create(movie_id=f"film-{i}", title=f"Film {i}", duration_ms=60_000)
    RateLimit.objects.create(burst=30, per_minute=30)
    RateLimit.objects.create(
        profile=Profile.objects.get(profile_id="profile-1"), burst=5, per_minute=6
    )


# Queries per list page, whatever the number of rows: the session and the staff user, the
# count and the page (with their related rows joined in), and what the page adds.
LIST_PAGES = {
    "/admin/accounts/profile/": 6,  # + the default limit, read once
    "/admin/playstate/ratelimit/": 6,  # + the default limit for the message
    "/admin/catalog/movie/": 5,
    "/admin/accounts/apitoken/": 5,
}


@pytest.mark.parametrize(("url", "queries"), LIST_PAGES.items())
def test_a_list_page_costs_the_same_queries_for_any_number_of_rows(
    staff: Client, make_account: MakeAccount, url: str, queries: int
) -> None:
    fill(make_account, 3)
    with CaptureQueriesContext(connection) as few:
        assert staff.get(url).status_code == 200
    fill_more = [make_account(f"more{i}", f"more-{i}") for i in range(30)]
    assert len(fill_more) == 30
    with CaptureQueriesContext(connection) as many:
        assert staff.get(url).status_code == 200
    assert (len(few), len(many)) == (queries, queries)


def test_the_profile_list_shows_each_limit_in_force(
    staff: Client, make_account: MakeAccount
) -> None:
    fill(make_account, 3)
    html = staff.get("/admin/accounts/profile/").content.decode()
    assert "5 burst, 6/min" in html
    assert "30 burst, 30/min (default)" in html


def test_the_profile_page_reads_the_cassandra_store_when_it_is_configured(
    staff: Client, alice: str, cassandra_store: object, settings: object
) -> None:
    settings.PLAYSTATE_STORE = "cassandra"  # type: ignore[attr-defined]
    get_store.cache_clear()
    try:
        t = now_s() * 1000
        live = PlayState(
            "alice-tv", "on-cassandra", 321_000, t - 5_000, "tv", EventType.PAUSE, None
        )
        old = PlayState(
            "alice-tv", "compacted-on-cassandra", 99_000, t - 10**11, "tv", EventType.STOP, None
        )
        get_store().write([live])
        get_store().write_compressed("alice-tv", codec.encode([old]), chunk_size=16)
        html = page(staff)
        assert "<td>5:21</td>" in html
        assert "<td>1:39</td>" in html
        assert "CompressedVH" in html
    finally:
        get_store.cache_clear()


def test_one_title_is_one_title_and_the_profile_id_cannot_change(
    staff: Client, alice: str, run: Run
) -> None:
    send(alice, movie_id="only", video_timestamp_ms=5_400_000 - 1_000, event_type="PAUSE")
    html = page(staff)
    assert "Viewing history (1 title)" in html
    assert "<td>1:29:59</td>" in html
    assert 'name="profile_id"' not in html  # shown, not editable
    assert "alice-tv" in html


def test_clock_reads_as_a_player_shows_time() -> None:
    from playstate.templatetags.playstate_admin import clock

    assert [clock(v) for v in (0, 9_000, 540_000, 5_400_000, 36_000_000, None)] == [
        "0:00", "0:09", "9:00", "1:30:00", "10:00:00", "—",
    ]  # fmt: skip


def test_the_profile_page_draws_who_watched_what_when_on_which_device(
    staff: Client, alice: str
) -> None:
    t = now_s()
    send(alice, movie_id="tl-film", video_timestamp_ms=600_000, client_request_time=t - 7200,
         device_id="phone", event_type="PAUSE")  # fmt: skip
    send(alice, movie_id="tl-film", video_timestamp_ms=900_000, client_request_time=t - 600,
         device_id="tv", event_type="PAUSE")  # fmt: skip
    html = page(staff)
    assert '<svg id="timeline"' in html
    assert 'data-movie="tl-film" data-device="phone"' in html
    assert 'data-movie="tl-film" data-device="tv"' in html
    assert "<title>tl-film: 10:00 → 10:00 on phone</title>" in html
