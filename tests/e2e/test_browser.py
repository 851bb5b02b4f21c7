"""The demo in a real browser: headless Chromium (Debian's, driven by Playwright) opens the
TV page and the phone page of one profile; pause on the phone changes the TV's screen."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

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
