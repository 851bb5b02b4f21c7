"""The demo in a real browser: headless Chromium (Debian's, driven by Playwright) opens the
TV page and the phone page of one profile; pause on the phone changes the TV's screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.cases import heartbeat, now_s
from tests.e2e.conftest import Running

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
# As root in a sandbox without a network: no sandboxing, no GPU, no calls home.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def page_url(running: Running, page: str, **params: Any) -> str:
    query = "&".join(
        f"{k}={v}" for k, v in {"token": running.alice, "profile_id": "alice-tv", **params}.items()
    )
    return f"{running.stack.url}/demo/{page}?{query}"


def test_pause_on_the_phone_changes_the_tv(running: Running, browser: Browser) -> None:
    tv = browser.new_page()
    tv.goto(page_url(running, "tv", device_id="tv"))
    expect(tv.locator("#status")).to_contain_text("live", timeout=15_000)

    phone = browser.new_page()
    phone.goto(
        page_url(running, "phone", device_id="phone", movie_id="browser-film", position_ms=120_000)
    )
    phone.click("#play")
    phone.wait_for_timeout(1_500)
    phone.click("#pause")
    expect(phone.locator("#queue")).to_contain_text("nothing waiting")

    title = tv.locator('#row li[data-movie="browser-film"]')
    expect(title).to_have_attribute("data-event", "PAUSE", timeout=10_000)
    assert int(title.get_attribute("data-position") or 0) >= 120_000

    # Offline, the phone keeps its heartbeats; back online, they go in one batch.
    phone.check("#offline")
    phone.click("#forward")
    expect(phone.locator("#queue")).to_contain_text("1 heartbeat(s) waiting")
    phone.uncheck("#offline")
    expect(phone.locator("#queue")).to_contain_text("nothing waiting")
    expect(title).to_have_attribute("data-event", "SEEK", timeout=10_000)


def test_the_tv_keeps_a_titles_newest_push_whatever_order_they_arrive_in(
    running: Running, browser: Browser
) -> None:
    """A web process tells of a PAUSE at once, a worker of the plain heartbeat it has just
    written: the older may arrive last (under load, the pause test saw it), and the TV showed
    it. (Bob's profile: alice-tv's row holds the other tests' tiles, and the first six ask.)"""
    tv = browser.new_page()
    bobs = {"profile_id": "bob-phone", "token": running.bob}
    tv.goto(page_url(running, "tv", device_id="tv-order", **bobs))
    expect(tv.locator("#status")).to_contain_text("live", timeout=15_000)
    t = now_s() * 1000
    paused = heartbeat(profile_id="bob-phone", movie_id="order-film", video_timestamp_ms=300_000,
                       client_request_time=t, device_id="phone", event_type="PAUSE")  # fmt: skip
    assert running.post(running.bob, paused).status_code == 202
    title = tv.locator('#row li[data-movie="order-film"]')
    expect(title).to_have_attribute("data-event", "PAUSE", timeout=10_000)
    late = {"type": "playstate.update", "profile_id": "bob-phone", "movie_id": "order-film",
            "position_ms": 290_000, "completed": False, "client_request_time": t - 10_000,
            "device_id": "phone", "event_type": "HEARTBEAT"}  # fmt: skip
    tv.evaluate("message => apply(message)", late)  # as the socket would hand it over
    tv.wait_for_timeout(1_000)  # the row is read again after it
    expect(title).to_have_attribute("data-event", "PAUSE")
    assert title.get_attribute("data-position") == "300000"


def test_support_staff_change_a_rate_limit_and_the_next_burst_obeys_it(
    running: Running, browser: Browser
) -> None:
    running.stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model;"
        "get_user_model().objects.create_superuser('sam', 'sam@example.com', 'support-pass-123')",
    )
    film = heartbeat(movie_id="admin-film", video_timestamp_ms=654_000, event_type="PAUSE")
    assert running.post(running.alice, film).status_code == 202

    page = browser.new_page()
    page.goto(f"{running.stack.url}/admin/login/")
    page.fill("#id_username", "sam")
    page.fill("#id_password", "support-pass-123")
    page.click("input[type=submit]")
    page.goto(f"{running.stack.url}/admin/accounts/profile/?q=alice")
    page.click("text=alice-tv")
    expect(page.locator('#history tr[data-movie="admin-film"]')).to_contain_text("10:54")
    # In the staff member's own time zone (the browser's), not the server's UTC.
    expect(page.locator('#history tr[data-movie="admin-film"] time.local')).not_to_contain_text(
        "UTC"
    )
    found = re.search(r"/profile/(\d+)/change/", page.url)
    assert found is not None
    profile_pk = found[1]

    page.goto(f"{running.stack.url}/admin/playstate/ratelimit/add/")
    page.fill("#id_profile", profile_pk)
    page.fill("#id_burst", "2")
    page.fill("#id_per_minute", "1")
    page.click("input[name=_save]")
    expect(page.locator("ul.messagelist")).to_contain_text("was added successfully")

    page.wait_for_timeout(1_500)  # the web processes reload limits every second here
    burst = [heartbeat(movie_id=f"burst-{i}") for i in range(5)]
    answer = running.post(running.alice, {"heartbeats": burst}).json()
    assert (answer["accepted"], answer["rate_limited"]) == (2, 3)

    page.goto(f"{running.stack.url}/admin/accounts/profile/{profile_pk}/change/")
    expect(page.locator("#recent-limited")).to_have_text("3")
    page.click("text=Reset to the default")
    expect(page.locator("ul.messagelist")).to_contain_text("Reset the rate limit to the default.")
    page.locator('#history tr[data-movie="admin-film"]').get_by_text("Clear position").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Cleared the position of admin-film")
    resumed = running.position("admin-film")
    assert (resumed["position_ms"], resumed["device_id"]) == (0, "support")


def test_finishing_an_episode_on_the_phone_puts_the_next_on_the_tv(
    running: Running, browser: Browser
) -> None:
    catalog = running.stack.directory / "show.csv"
    catalog.write_text(
        "movie_id,title,duration_ms,series_id,season,episode,credits_ms\n"
        "demo.s1e1,Pilot,60000,demo-show,1,1,50000\n"
        "demo.s1e2,The Second One,60000,demo-show,1,2,50000\n"
    )
    running.stack.manage("import_catalog", str(catalog))
    tv = browser.new_page()
    tv.goto(page_url(running, "tv", device_id="tv"))
    expect(tv.locator("#status")).to_contain_text("live", timeout=15_000)

    phone = browser.new_page()
    phone.goto(
        page_url(running, "phone", device_id="phone", movie_id="demo.s1e1", position_ms=48_000)
    )
    phone.click("#play")
    phone.wait_for_timeout(3_000)  # past the credits, at 50 s
    phone.click("#stop")

    up_next = tv.locator('#next-up li[data-movie="demo.s1e2"]')
    expect(up_next).to_have_attribute("data-reason", "next", timeout=10_000)
    expect(up_next).to_contain_text("The Second One")
    tile = tv.locator('#row li[data-movie="demo.s1e2"]')
    expect(tile).to_have_attribute("data-next-up", "true")
    expect(tile).to_contain_text("up next")
    expect(tv.locator('#row li[data-movie="demo.s1e1"]')).to_have_count(0)  # one tile a show


def test_the_tv_asks_which_resume_point_and_the_answer_reaches_every_device(
    running: Running, browser: Browser
) -> None:
    t = now_s()
    for body in (
        heartbeat(movie_id="choice-film", video_timestamp_ms=1_200_000, client_request_time=t - 120,
                  device_id="phone", event_type="PAUSE"),
        heartbeat(movie_id="choice-film", video_timestamp_ms=0, client_request_time=t - 60,
                  device_id="tv", event_type="START"),
        heartbeat(movie_id="choice-film", video_timestamp_ms=3_000, client_request_time=t - 57,
                  device_id="tv", event_type="STOP"),
    ):  # fmt: skip
        assert running.post(running.alice, body).status_code == 202
    tv = browser.new_page()
    tv.goto(page_url(running, "tv", device_id="tv"))
    tile = tv.locator('#row li[data-movie="choice-film"]')
    expect(tile).to_have_attribute("data-position", "1200000", timeout=15_000)
    choice = tile.locator(".choice")
    expect(choice).to_contain_text("Resume from 20:00 (phone, ")
    expect(choice).to_contain_text("or 0:03 (tv)?")
    choice.locator('button[data-position="3000"]').click()
    expect(tile).to_have_attribute("data-position", "3000", timeout=10_000)
    resumed = running.position("choice-film")
    assert (resumed["position_ms"], resumed["device_id"]) == (3_000, "restore")


def test_the_phone_undoes_marks_watched_and_hides(running: Running, browser: Browser) -> None:
    catalog = running.stack.directory / "undo.csv"
    catalog.write_text("movie_id,title,duration_ms\nundo-film,Undo Film,5400000\n")
    running.stack.manage("import_catalog", str(catalog))
    t = now_s()
    for body in (
        heartbeat(movie_id="undo-film", video_timestamp_ms=1_200_000, client_request_time=t - 300,
                  device_id="phone", event_type="PAUSE"),
        heartbeat(movie_id="undo-film", video_timestamp_ms=2_400_000, client_request_time=t - 60,
                  device_id="tv", event_type="STOP"),
    ):  # fmt: skip
        assert running.post(running.alice, body).status_code == 202
    assert running.position("undo-film")["position_ms"] == 2_400_000
    phone = browser.new_page()
    phone.goto(
        page_url(running, "phone", device_id="phone", movie_id="undo-film", position_ms=2_400_000)
    )
    phone.click("#undo")
    expect(phone.locator("#notice")).to_have_text("back to 20:00 (phone)", timeout=10_000)
    expect(phone.locator("#position")).to_have_text("20:00")
    assert running.position("undo-film")["position_ms"] == 1_200_000

    phone.click("#watched")
    expect(phone.locator("#notice")).to_have_text("marked watched", timeout=10_000)
    expect(phone.locator("#position")).to_have_text("0:00")  # watched: playing starts over
    assert running.position("undo-film")["completed"] is True
    # The mark's echo over the socket is this page's own news: it leaves the notice alone.
    phone.wait_for_timeout(1_500)
    expect(phone.locator("#notice")).to_have_text("marked watched")

    phone.click("#hide")
    expect(phone.locator("#notice")).to_have_text("hidden from history on every device")
    phone.wait_for_timeout(1_500)
    expect(phone.locator("#notice")).to_have_text("hidden from history on every device")
    history = running.http.get(
        "/api/v1/profiles/alice-tv/history", headers=running.auth(running.alice)
    ).json()["results"]
    assert "undo-film" not in [item["movie_id"] for item in history]


def test_the_phone_offers_the_saved_place_and_play_then_pause_keeps_it(
    running: Running, browser: Browser
) -> None:
    saved = heartbeat(movie_id="saved-film", video_timestamp_ms=540_000, event_type="PAUSE")
    assert running.post(running.alice, saved).status_code == 202
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(page_url(running, "phone", device_id="phone2", movie_id="saved-film"))
    expect(phone.locator("#resume")).to_have_text("Resume at 9:00", timeout=10_000)
    expect(phone.locator("#start-over")).to_be_visible()
    phone.click("#resume")
    phone.wait_for_timeout(2_500)
    phone.click("#pause")
    expect(phone.locator("#queue")).to_contain_text("nothing waiting")
    assert running.position("saved-film")["position_ms"] >= 540_000

    again = browser.new_page(viewport={"width": 390, "height": 844})
    again.goto(page_url(running, "phone", device_id="phone3", movie_id="saved-film"))
    expect(again.locator("#resume")).to_contain_text("Resume at 9:0", timeout=10_000)
    again.click("#start-over")
    again.wait_for_timeout(1_500)
    again.click("#pause")
    expect(again.locator("#queue")).to_contain_text("nothing waiting")
    # Starting over is a start: the saved place stays until playback passes 3:00.
    assert running.position("saved-film")["position_ms"] >= 540_000


def test_the_phone_takes_the_place_another_device_left_before_it_plays(
    running: Running, browser: Browser
) -> None:
    """The TV restored 11:00 while the phone showed 13:02: pressing Play on the phone sent
    13:02 and undid the restore."""
    phone = browser.new_page()
    phone.goto(page_url(running, "phone", device_id="phone-r", movie_id="remote-film"))
    phone.wait_for_timeout(1_500)  # its socket is open
    paused = heartbeat(movie_id="remote-film", video_timestamp_ms=420_000, device_id="tv",
                       event_type="PAUSE")  # fmt: skip
    assert running.post(running.alice, paused).status_code == 202
    expect(phone.locator("#resume")).to_have_text("Resume at 7:00 (tv)", timeout=10_000)
    expect(phone.locator("#position")).to_have_text("7:00")
    phone.click("#resume")
    phone.wait_for_timeout(1_500)
    phone.click("#pause")
    expect(phone.locator("#queue")).to_contain_text("nothing waiting")
    assert running.position("remote-film")["position_ms"] >= 420_000


def test_the_phone_says_what_the_service_refused_and_stops_at_the_end(
    running: Running, browser: Browser
) -> None:
    catalog = running.stack.directory / "short.csv"
    catalog.write_text("movie_id,title,duration_ms\nshort-film,Short Film,60000\n")
    running.stack.manage("import_catalog", str(catalog))
    phone = browser.new_page()
    phone.goto(page_url(running, "phone", device_id="phone-e", movie_id="short-film",
                        position_ms=45_000))  # fmt: skip
    expect(phone.locator("#duration")).to_have_text("/ 1:00", timeout=10_000)
    phone.click("#play")
    phone.click("#forward")  # past the end: the player stops there
    expect(phone.locator("#position")).to_have_text("1:00")
    expect(phone.locator("#queue")).to_contain_text("nothing waiting (2 sent)", timeout=10_000)
    stopped = running.position("short-film")  # at the end: watched, resumes from the start
    assert (stopped["completed"], stopped["event_type"]) == (True, "STOP")

    # Bob's profile with Alice's token: refused, said so, and not sent again and again.
    foreign = browser.new_page()
    foreign.goto(page_url(running, "phone", device_id="phone-f", movie_id="short-film",
                          profile_id="bob-phone", position_ms=1_000))  # fmt: skip
    foreign.click("#pause")
    status = foreign.locator("#status")
    expect(status).to_contain_text("sent 0, refused 1: ", timeout=10_000)
    expect(status).to_contain_text("This profile does not belong to your account.")
    expect(foreign.locator("#queue")).to_have_text("nothing waiting (0 sent)")


def test_what_the_phone_kept_offline_is_sent_after_a_reload(
    running: Running, browser: Browser
) -> None:
    phone = browser.new_page()
    url = page_url(running, "phone", device_id="phone-o", movie_id="offline-film",
                   position_ms=600_000)  # fmt: skip
    phone.goto(url)
    phone.check("#offline")
    phone.click("#forward")
    phone.click("#pause")
    expect(phone.locator("#queue")).to_contain_text("2 heartbeat(s) waiting")
    phone.goto(url)  # a reload, back online
    expect(phone.locator("#queue")).to_contain_text("nothing waiting (2 sent)", timeout=10_000)
    kept = running.position("offline-film")
    assert (kept["position_ms"], kept["event_type"]) == (630_000, "PAUSE")


def test_the_tv_row_is_cards_with_titles_progress_device_and_time(
    running: Running, browser: Browser
) -> None:
    watched = heartbeat(video_timestamp_ms=300_000, event_type="PAUSE", device_id="phone")
    assert running.post(running.alice, watched).status_code == 202
    tv = browser.new_page(viewport={"width": 1920, "height": 1080})
    tv.goto(page_url(running, "tv", device_id="tv"))
    card = tv.locator('#row li[data-movie="m1"]')
    expect(card.locator("strong")).to_have_text("Film One", timeout=15_000)
    expect(card.locator(".meta")).to_have_text("phone · just now")
    width = card.locator(".bar span").evaluate("e => e.style.width")
    assert width == "50%"  # 5:00 of 10:00


def test_the_operators_dashboard_draws_live_traffic(running: Running, browser: Browser) -> None:
    running.stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model;"
        "get_user_model().objects.create_user('olga', password='ops-pass-1234', is_staff=True)",
    )
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.goto(f"{running.stack.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "olga")
    page.fill("#id_password", "ops-pass-1234")
    page.click("input[type=submit]")
    page.click("#dashboard-link")
    expect(page.locator("#charts .chart")).to_have_count(5)
    for i in range(40):
        body = heartbeat(movie_id=f"dash-{i}", event_type="PAUSE")
        assert running.post(running.alice, body).status_code == 202
        page.wait_for_timeout(100)
    accepted = page.locator('#heartbeats .legend span[data-key="accepted"]')
    expect(accepted).not_to_have_attribute("data-now", "0", timeout=15_000)
    assert float(accepted.get_attribute("data-now") or 0) > 0
    expect(page.locator("#heartbeats polyline").first).to_be_attached()
