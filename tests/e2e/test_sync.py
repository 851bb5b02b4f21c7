"""Cross-device sync over real WebSockets against the running stack: a device pauses over
REST, the worker persists and publishes, another device of the profile hears it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.cases import check_message, heartbeat, now_s
from tests.e2e.conftest import Running

pytestmark = pytest.mark.e2e


def ws_url(running: Running, query: str) -> str:
    return running.stack.url.replace("http://", "ws://") + f"/ws/v1/sync?{query}"


async def next_message(socket: Any, timeout: float = 10) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), timeout))
    return check_message(message)


async def nothing_within(socket: Any, seconds: float) -> bool:
    try:
        await asyncio.wait_for(socket.recv(), seconds)
    except TimeoutError:
        return True
    return False


def test_a_pause_on_the_phone_reaches_the_tv_and_not_the_phone(running: Running) -> None:
    async def scenario() -> None:
        auth = {"Authorization": f"Bearer {running.alice}"}
        async with (
            websockets.connect(
                ws_url(running, "profile_id=alice-tv&device_id=tv"), additional_headers=auth
            ) as tv,
            websockets.connect(
                ws_url(running, f"profile_id=alice-tv&device_id=phone&token={running.alice}")
            ) as phone,
        ):
            await asyncio.sleep(0.2)  # both have joined the profile's group
            body = heartbeat(
                movie_id="sync-1", device_id="phone", video_timestamp_ms=300_000, event_type="PAUSE"
            )
            assert (await asyncio.to_thread(running.post, running.alice, body)).status_code == 202
            message = await next_message(tv)
            assert (
                message["movie_id"],
                message["position_ms"],
                message["event_type"],
                message["device_id"],
            ) == (
                "sync-1",
                300_000,
                "PAUSE",
                "phone",
            )
            assert await nothing_within(phone, 1.0)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("profile_id=alice-tv&device_id=tv", 4401),
        ("profile_id=alice-tv&device_id=tv&token=forged", 4401),
        ("profile_id=alice-tv&device_id=tv&token={bob}", 4403),
    ],
)
def test_refused_sockets_are_closed_with_the_contract_codes(
    running: Running, query: str, code: int
) -> None:
    async def scenario() -> None:
        async with websockets.connect(ws_url(running, query.format(bob=running.bob))) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == code

    asyncio.run(scenario())


def test_a_device_coming_back_catches_up_then_hears_live_updates(running: Running) -> None:
    since = now_s() * 1000 - 1
    missed = heartbeat(
        movie_id="sync-missed", device_id="laptop", video_timestamp_ms=42_000, event_type="STOP"
    )
    assert running.post(running.alice, missed).status_code == 202

    async def scenario() -> None:
        query = f"profile_id=alice-tv&device_id=tv&token={running.alice}&since={since}"
        async with websockets.connect(ws_url(running, query)) as tv:
            caught_up = await next_message(tv)
            assert (caught_up["movie_id"], caught_up["position_ms"]) == ("sync-missed", 42_000)
            live = heartbeat(movie_id="sync-live", device_id="laptop", event_type="SEEK")
            await asyncio.to_thread(running.post, running.alice, live)
            message = await next_message(tv)
            while message["movie_id"] != "sync-live":  # other titles of earlier tests may come too
                message = await next_message(tv)
            assert message["event_type"] == "SEEK"

    asyncio.run(scenario())


def test_a_removal_reaches_the_other_devices(running: Running) -> None:
    running.post(running.alice, heartbeat(movie_id="sync-gone", event_type="PAUSE"))

    async def scenario() -> None:
        query = f"profile_id=alice-tv&device_id=tv2&token={running.alice}"
        async with websockets.connect(ws_url(running, query)) as tv:
            await asyncio.sleep(0.2)
            response = await asyncio.to_thread(
                running.http.delete,
                "/api/v1/profiles/alice-tv/continue-watching/sync-gone",
                headers=running.auth(running.alice),
            )
            assert response.status_code == 204
            message = await next_message(tv)
            while message["type"] != "playstate.removed":
                message = await next_message(tv)
            assert message == {
                "type": "playstate.removed",
                "profile_id": "alice-tv",
                "movie_id": "sync-gone",
            }

    asyncio.run(scenario())
