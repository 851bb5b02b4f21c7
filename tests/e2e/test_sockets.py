"""WebSockets held the way TVs hold them, against the running stack: idle for longer than
every timeout involved, sent garbage, closed abruptly; and their tokens kept out of the log."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.cases import check_message, heartbeat
from tests.e2e.conftest import Running, wait_for

pytestmark = pytest.mark.e2e

# Longer than channels-redis' blocking pop (5 s), the layer's Redis socket timeout (15 s) and
# the server's ping interval plus its timeout (20 s + 20 s).
IDLE_SECONDS = 45
GROUP = "v1:asgi:group:profile.alice-tv"


def ws_url(running: Running, device: str) -> str:
    query = f"profile_id=alice-tv&device_id={device}&token={running.alice}"
    return running.stack.url.replace("http://", "ws://") + f"/ws/v1/sync?{query}"


async def pause_heard_by(running: Running, socket: Any, movie_id: str) -> None:
    body = heartbeat(movie_id=movie_id, device_id="phone", event_type="PAUSE")
    assert (await asyncio.to_thread(running.post, running.alice, body)).status_code == 202
    while True:
        message = check_message(json.loads(await asyncio.wait_for(socket.recv(), 10)))
        if message.get("movie_id") == movie_id:
            return


def test_an_idle_tv_stays_connected_and_hears_the_next_pause(running: Running) -> None:
    async def scenario() -> None:
        async with websockets.connect(ws_url(running, "idle-tv")) as tv:
            await asyncio.sleep(IDLE_SECONDS)
            await pause_heard_by(running, tv, "after-the-idle-hour")

    asyncio.run(scenario())


def test_garbage_from_a_device_is_ignored_and_an_oversized_frame_closes_only_its_socket(
    running: Running,
) -> None:
    async def scenario() -> None:
        async with (
            websockets.connect(ws_url(running, "tv"), max_size=None) as tv,
            websockets.connect(ws_url(running, "noisy"), max_size=None) as noisy,
        ):
            for frame in ("not json {", b"\x00\xff\xfe", "[]", '{"type": "playstate.update"}'):
                await noisy.send(frame)
            await pause_heard_by(running, noisy, "after-garbage")
            await noisy.send("x" * 2_000_000)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(noisy.recv(), 10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009  # message too big: a close frame, not a drop
            await pause_heard_by(running, tv, "after-the-big-frame")

    asyncio.run(scenario())


def test_a_socket_leaves_its_profiles_group_however_it_ends(running: Running) -> None:
    before = running.redis.zcard(GROUP)

    async def scenario() -> None:
        closed_cleanly = await websockets.connect(ws_url(running, "tv-a"))
        dropped = await websockets.connect(ws_url(running, "tv-b"))
        await asyncio.sleep(0.3)
        assert running.redis.zcard(GROUP) == before + 2
        await closed_cleanly.close()
        dropped.transport.abort()  # the TV lost power: no close frame
        await asyncio.to_thread(wait_for, lambda: running.redis.zcard(GROUP) == before, 10)

    asyncio.run(scenario())


def test_socket_tokens_never_reach_the_log(running: Running) -> None:
    async def scenario() -> None:
        async with websockets.connect(ws_url(running, "logged")) as tv:
            await pause_heard_by(running, tv, "logged")

    asyncio.run(scenario())
    log = (running.stack.directory / "web.log").read_text()
    assert "/ws/v1/sync" in log  # the server did log the socket
    assert running.alice not in log
    assert "token=[redacted]" in log
