"""The WebSocket consumer in-process (Channels' WebsocketCommunicator) with the real Redis
channel layer; every message a device receives is checked against its schema."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from accounts.models import ApiToken, Profile, hash_token
from catalog import titles
from catalog.models import Movie
from config.asgi import application
from config.settings import channel_layers
from core.clock import now_ms
from core.domain import EventType, PlayState
from history.store import get_store
from playstate import events, hotlayer, services
from playstate.flush import pending_flush
from playstate.hotlayer import IngestItem
from playstate.ingest import heartbeats_ingest
from tests.cases import check_message as check
from tests.cases import heartbeat, unlimited
from tests.conftest import MakeAccount
from tests.stack import RedisServer

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

T = 1_800_000_000_000


def state(
    movie: str = "m1",
    device: str = "phone",
    crt: int = T,
    event: EventType = EventType.PAUSE,
) -> PlayState:
    return PlayState("alice-tv", movie, 60_000, crt, device, event, 600_000)


async def ingest(*states: PlayState, now: int = T) -> None:
    items = [IngestItem(s, None) for s in states]
    await hotlayer.ingest(items, now_ms=now, counters={}, limits=unlimited(), may_create=True)


async def connect(
    query: str, headers: list[tuple[bytes, bytes]] | None = None
) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/v1/sync?{query}", headers=headers or [])
    # Not the default second: 150 sockets that connect at once, beside another test's
    # processes on two cores, were not all answered within it (all were accepted).
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


@pytest.fixture
async def devices(
    redis_client: redis.Redis, alice: str
) -> AsyncIterator[tuple[WebsocketCommunicator, WebsocketCommunicator]]:
    tv = await connect(f"profile_id=alice-tv&device_id=tv&token={alice}")
    phone = await connect(
        "profile_id=alice-tv&device_id=phone",
        headers=[(b"authorization", f"Bearer {alice}".encode())],
    )
    yield tv, phone
    await tv.disconnect()
    await phone.disconnect()


async def closed_with(communicator: WebsocketCommunicator) -> int:
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close"
    await communicator.disconnect()  # as a client does once the server closed
    return int(message["code"])


async def test_a_socket_without_a_token_is_closed_4401(
    redis_client: redis.Redis, alice: str
) -> None:
    assert await closed_with(await connect("profile_id=alice-tv&device_id=tv")) == 4401
    assert await closed_with(await connect("profile_id=alice-tv&device_id=tv&token=forged")) == 4401


@pytest.mark.parametrize("path", ["/ws/v1/other", "/ws/v1/sync/", "/", "/api/v1/heartbeats"])
async def test_a_socket_on_another_path_is_refused_at_the_handshake(
    alice: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    communicator = WebsocketCommunicator(application, f"{path}?profile_id=alice-tv&token={alice}")
    connected, _ = await communicator.connect()
    assert not connected
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_someone_elses_profile_is_closed_4403(
    redis_client: redis.Redis, alice: str, bob: str
) -> None:
    assert await closed_with(await connect(f"profile_id=alice-tv&device_id=x&token={bob}")) == 4403


async def test_another_device_hears_of_a_change_and_the_sender_does_not(
    devices: tuple[WebsocketCommunicator, WebsocketCommunicator],
) -> None:
    tv, phone = devices
    await events.publish([events.update_message(state(device="phone"), None)])
    message = check(await tv.receive_json_from(timeout=3))
    assert message == {
        "type": "playstate.update",
        "profile_id": "alice-tv",
        "movie_id": "m1",
        "position_ms": 60_000,
        "completed": False,
        "client_request_time": T,
        "device_id": "phone",
        "event_type": "PAUSE",
    }
    assert await phone.receive_nothing(timeout=0.3)


async def test_a_profile_id_with_any_of_its_characters_syncs_and_only_itself(
    redis_client: redis.Redis, make_account: MakeAccount
) -> None:
    """Profile ids may hold ':', which Channels' group names may not (its socket failed
    with a 500); 'a:b' and 'a.b' are different profiles, and hear only their own."""
    names = ["erin:tv", "erin.tv", "erin_tv", "e:" * 31 + "tv"]
    token = await database_sync_to_async(make_account)("erin", *names)
    sockets = {p: await connect(f"profile_id={p}&device_id=tv&token={token}") for p in names}
    for profile_id in names:
        await events.publish(
            [events.update_message(replace(state(device="phone"), profile_id=profile_id), None)]
        )
        for other, socket in sockets.items():
            if other == profile_id:
                assert check(await socket.receive_json_from(timeout=3))["profile_id"] == other
            else:
                assert await socket.receive_nothing(timeout=0.1)
    await asyncio.gather(*(socket.disconnect() for socket in sockets.values()))


async def test_open_sockets_are_counted_until_they_close(
    alice: str, redis_client: redis.Redis
) -> None:
    from playstate.metrics import sockets_open

    tv = await connect(f"profile_id=alice-tv&device_id=tv&token={alice}")
    phone = await connect(f"profile_id=alice-tv&device_id=phone&token={alice}")
    assert await sockets_open(now_ms=now_ms()) == 2
    await tv.disconnect()
    assert await sockets_open(now_ms=now_ms()) == 1
    await phone.disconnect()
    assert await sockets_open(now_ms=now_ms()) == 0


async def take(alice: str, **fields: Any) -> None:
    """A heartbeat from Alice's phone through the ingest service, as the API takes it."""
    body = heartbeat(device_id="phone", client_request_time=now_ms(), **fields)
    answer = await heartbeats_ingest(authorization=f"Bearer {alice}", payload=body)
    assert answer.status == 202, answer.body


async def test_a_pause_is_pushed_when_taken_not_when_written(
    devices: tuple[WebsocketCommunicator, WebsocketCommunicator], alice: str
) -> None:
    tv, phone = devices
    await take(alice, event_type="PAUSE")
    assert check(await tv.receive_json_from(timeout=3))["event_type"] == "PAUSE"
    assert await phone.receive_nothing(timeout=0.3)
    assert await pending_flush() == 1
    assert await tv.receive_nothing(timeout=0.3)  # the write repeats what the TV was told
    assert (await hotlayer.counters())["sync_pushes"] == 1


@pytest.mark.parametrize("event", ["PAUSE", "HEARTBEAT"])
async def test_a_device_whose_clock_reads_1970_is_heard_like_any_other(
    devices: tuple[WebsocketCommunicator, WebsocketCommunicator],
    alice: str,
    settings: Any,
    event: str,
) -> None:
    """Times below 10^11 are seconds, down to 1 (a TV whose clock was reset): such a
    heartbeat is taken, pushed, written and replayed like one of today (it was taken, then
    its push failed: a 500, a failed flush, a catch-up closed 1006)."""
    tv, _ = devices
    settings.PLAYSTATE_COALESCE_WINDOW_MS = 0  # due at once
    body = heartbeat(device_id="phone", client_request_time=5, event_type=event)
    answer = await heartbeats_ingest(authorization=f"Bearer {alice}", payload=body)
    assert answer.status == 202, answer.body
    assert await pending_flush() == 1
    pushed = check(await tv.receive_json_from(timeout=3))
    assert (pushed["client_request_time"], pushed["event_type"]) == (5_000, event)
    assert await tv.receive_nothing(timeout=0.3)
    late = await connect(f"profile_id=alice-tv&device_id=laptop&token={alice}&since=0")
    assert check(await late.receive_json_from(timeout=3))["client_request_time"] == 5_000
    await late.disconnect()


async def test_a_persons_request_reaches_every_device_whatever_its_name(
    redis_client: redis.Redis, alice: str
) -> None:
    """A restore comes from device `restore`: a player named so too still hears of it (the
    no-echo rule skipped it), live and when it catches up."""
    since = now_ms() - 1
    tv = await connect(f"profile_id=alice-tv&device_id=tv&token={alice}")
    named = await connect(f"profile_id=alice-tv&device_id=restore&token={alice}")
    account = await Profile.objects.values_list("account_id", flat=True).aget(profile_id="alice-tv")
    await services.position_restore(
        account_id=account, profile_id="alice-tv", movie_id="m1", position_ms=90_000
    )
    for device in (tv, named):
        message = check(await device.receive_json_from(timeout=3))
        assert (message["event_type"], message["device_id"]) == ("RESTORE", "restore")
    late = await connect(f"profile_id=alice-tv&device_id=restore&token={alice}&since={since}")
    assert check(await late.receive_json_from(timeout=3))["position_ms"] == 90_000
    for device in (tv, named, late):
        await device.disconnect()


async def test_plain_heartbeats_are_pushed_once_written(
    devices: tuple[WebsocketCommunicator, WebsocketCommunicator], alice: str, settings: Any
) -> None:
    tv, _ = devices
    settings.PLAYSTATE_COALESCE_WINDOW_MS = 0  # due at once
    await take(alice, event_type="HEARTBEAT", video_timestamp_ms=61_000)
    assert await tv.receive_nothing(timeout=0.3)
    assert await pending_flush() == 1
    assert check(await tv.receive_json_from(timeout=3))["position_ms"] == 61_000


async def test_a_flush_of_many_profiles_reaches_each_of_their_devices(
    redis_client: redis.Redis, make_account: MakeAccount
) -> None:
    """A worker's flush writes titles of hundreds of profiles and tells them all at once:
    more sends than the Redis client's connection pool holds (100 in redis-py 8, which
    failed every send past the hundredth). Profiles with no device are not sent to."""
    watching = [f"f{i}" for i in range(120)]
    token = await database_sync_to_async(make_account)("family", *watching)
    devices = [await connect(f"profile_id={p}&device_id=tv&token={token}") for p in watching]
    away = [f"away{i}" for i in range(300)]
    await events.publish(
        [
            events.update_message(replace(state(device="phone"), profile_id=p), None)
            for p in [*away, *watching]
        ]
    )
    for profile_id, device in zip(watching, devices, strict=True):
        assert check(await device.receive_json_from(timeout=5))["profile_id"] == profile_id
    assert (await hotlayer.counters())["sync_pushes"] == len(watching)
    await asyncio.gather(*(device.disconnect() for device in devices))


async def test_sockets_that_connect_all_at_once_are_all_accepted_and_hear_updates(
    redis_client: redis.Redis, alice: str
) -> None:
    """As after a web process restarts: its devices come back together (each joins its
    group: more at once than the Redis client's pool holds)."""
    query = f"profile_id=alice-tv&token={alice}&device_id="
    devices = await asyncio.gather(*(connect(f"{query}d{i}") for i in range(150)))
    await events.publish([events.update_message(state(device="phone"), None)])
    for device in devices:
        assert check(await device.receive_json_from(timeout=5))["device_id"] == "phone"
    await asyncio.gather(*(device.disconnect() for device in devices))


async def test_a_removal_reaches_every_device(
    devices: tuple[WebsocketCommunicator, WebsocketCommunicator],
) -> None:
    tv, phone = devices
    await ingest(state())
    await services.continue_watching_remove(profile_id="alice-tv", movie_id="m1")
    for device in (tv, phone):
        assert check(await device.receive_json_from(timeout=3)) == {
            "type": "playstate.removed",
            "profile_id": "alice-tv",
            "movie_id": "m1",
        }


async def test_a_device_catches_up_on_what_changed_while_it_was_away(
    redis_client: redis.Redis, alice: str
) -> None:
    await database_sync_to_async(get_store().write)(
        [state("stored-old", crt=T - 10_000), state("stored-new", crt=T + 1, device="phone")]
    )
    await ingest(state("hot", crt=T + 2, device="laptop"), state("mine", crt=T + 3, device="tv"))
    tv = await connect(f"profile_id=alice-tv&device_id=tv&token={alice}&since={T}")
    received = [check(await tv.receive_json_from(timeout=3)) for _ in range(2)]
    assert [(m["movie_id"], m["device_id"]) for m in received] == [
        ("stored-new", "phone"),
        ("hot", "laptop"),
    ]
    assert await tv.receive_nothing(timeout=0.3)
    await events.publish([events.update_message(state("live", crt=T + 4), None)])
    assert check(await tv.receive_json_from(timeout=3))["movie_id"] == "live"
    await tv.disconnect()


async def test_a_late_heartbeat_older_than_since_is_caught_up_on_too(
    redis_client: redis.Redis, alice: str
) -> None:
    """The phone paused offline, a minute before the TV went away, and its PAUSE arrived
    while the TV was away: news to the TV, though older than its `since`."""
    await ingest(state("seen", crt=T - 120_000), now=T - 100_000)  # the TV was told of it
    await ingest(state("late", crt=T - 60_000), now=T + 5_000)
    tv = await connect(f"profile_id=alice-tv&device_id=tv&token={alice}&since={T}")
    assert check(await tv.receive_json_from(timeout=3))["movie_id"] == "late"
    assert await tv.receive_nothing(timeout=0.3)
    await tv.disconnect()


async def test_a_device_away_during_a_hiding_hears_of_it_when_it_catches_up(
    redis_client: redis.Redis, alice: str
) -> None:
    now = now_ms()
    await ingest(state("kept", crt=now - 5_000), state("hidden", crt=now - 4_000), now=now)
    since = now - 1_000  # the TV saw both, then went away
    await services.history_hide(profile_id="alice-tv", movie_id="hidden")
    await services.continue_watching_remove(profile_id="alice-tv", movie_id="kept")
    tv = await connect(f"profile_id=alice-tv&device_id=tv&token={alice}&since={since}")
    received = [check(await tv.receive_json_from(timeout=3)) for _ in range(2)]
    assert sorted((m["type"], m["movie_id"]) for m in received) == [
        ("playstate.removed", "hidden"),
        ("playstate.removed", "kept"),
    ]
    assert await tv.receive_nothing(timeout=0.3)
    later = await connect(f"profile_id=alice-tv&device_id=tv&token={alice}&since={now_ms()}")
    assert await later.receive_nothing(timeout=0.3)


@pytest.mark.parametrize(
    "query",
    [
        "profile_id=alice-tv",
        "profile_id=alice-tv&device_id=",
        "profile_id=alice-tv%0A&device_id=tv",
        "profile_id=alice-tv&device_id=tv&since=%C2%B2",
        "profile_id=alice-tv&device_id=tv&since=-1",
        "profile_id=alice-tv&device_id=tv&since=" + "9" * 5000,
        "profile_id=alice-tv&device_id=tv&since=1700000000000.0",
        "profile_id=alice-tv&device_id=tv&since=%2012",
        "profile_id=alice-tv&device_id=tv&since=1_000",
        "profile_id=alice-tv&device_id=tv%00x",
        "profile_id=alice-tv&device_id=" + "d" * 129,
    ],
    ids=[
        "no device",
        "empty device",
        "newline",
        "superscript since",
        "negative",
        "huge",
        "fraction",
        "space",
        "underscore",
        "control character in device",
        "device too long",
    ],
)
async def test_a_malformed_query_is_closed_4400(
    redis_client: redis.Redis, alice: str, query: str
) -> None:
    assert await closed_with(await connect(f"{query}&token={alice}")) == 4400


async def test_whatever_a_device_sends_is_ignored_and_the_socket_stays(
    devices: tuple[WebsocketCommunicator, WebsocketCommunicator],
) -> None:
    tv, _ = devices
    for frame in ({"text_data": "not json {"}, {"bytes_data": b"\x00\xff"}, {"text_data": "[]"}):
        await tv.send_to(**frame)
    await events.publish([events.update_message(state(device="phone"), None)])
    assert check(await tv.receive_json_from(timeout=3))["movie_id"] == "m1"


async def test_a_revoked_token_closes_its_open_sockets(
    redis_client: redis.Redis, alice: str, settings: Any
) -> None:
    settings.PLAYSTATE_AUTH_CACHE_SECONDS = 1  # checked every second
    tv = await connect(f"profile_id=alice-tv&device_id=tv&token={alice}")
    await database_sync_to_async(ApiToken.objects.filter(key_hash=hash_token(alice)).delete)()
    assert await closed_with(tv) == 4401


async def test_a_profile_moved_to_another_account_closes_its_sockets(
    redis_client: redis.Redis, alice: str, bob: str, settings: Any
) -> None:
    settings.PLAYSTATE_AUTH_CACHE_SECONDS = 1
    tv = await connect(f"profile_id=alice-tv&device_id=tv&token={alice}")
    bob_account = await database_sync_to_async(Profile.objects.get)(profile_id="bob-phone")
    await database_sync_to_async(Profile.objects.filter(profile_id="alice-tv").update)(
        account_id=bob_account.account_id
    )
    assert await closed_with(tv) == 4403


async def test_a_socket_whose_layer_fails_is_closed_1013_and_no_longer_counted(
    redis_client: redis.Redis,
    alice: str,
    settings: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The Channels layer's Redis crashes under an open socket: the device is told to come
    back (1013; it reconnects with `since=`), and the socket is counted open no more; a
    socket opened while it is down is told the same."""
    from playstate.metrics import sockets_open

    layer_redis = RedisServer(tmp_path)
    layer_redis.start()
    settings.CHANNEL_LAYERS = channel_layers(layer_redis.url)
    settings.PLAYSTATE_AUTH_CACHE_SECONDS = 1  # a recheck each second
    try:
        tv = await connect(f"profile_id=alice-tv&device_id=tv&token={alice}")
        assert await sockets_open(now_ms=now_ms()) == 1
        layer_redis.kill()
        assert await closed_with(tv) == 1013
        said = [r.getMessage() for r in caplog.records if r.name == "sync.consumers"]
        assert len(said) == 1, said
        assert said[0].startswith("the channel layer failed")
        await asyncio.sleep(1.5)  # a recheck would have counted it again
        assert await sockets_open(now_ms=now_ms()) == 0
        # A device connecting meanwhile is told the same, not refused (HTTP 403 before).
        assert (
            await closed_with(await connect(f"profile_id=alice-tv&device_id=tv&token={alice}"))
            == 1013
        )
    finally:
        layer_redis.stop()


def test_the_layer_never_times_out_its_own_blocking_receive() -> None:
    """channels-redis blocks in BZPOPMIN for up to brpop_timeout; a Redis socket timeout no
    longer than that fails every idle socket's receive (they were dropped within seconds)."""
    from channels_redis.core import RedisChannelLayer
    from django.conf import settings

    for host in settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]:
        assert host["socket_timeout"] > RedisChannelLayer.brpop_timeout


def _a_show_in_the_catalog() -> None:
    for number in (1, 2):
        Movie.objects.create(
            movie_id=f"show.s1e{number}", title=f"Show S1E{number}", duration_ms=2_700_000,
            credits_ms=2_520_000, series_id="show", season=1, episode=number,
            added_at=timezone.now() - timedelta(days=1),
        )  # fmt: skip


async def test_finishing_an_episode_tells_the_other_devices_what_comes_next(
    devices: tuple[WebsocketCommunicator, WebsocketCommunicator], alice: str
) -> None:
    tv, _ = devices
    await database_sync_to_async(_a_show_in_the_catalog)()
    titles.clear_cache()
    await take(alice, movie_id="show.s1e1", video_timestamp_ms=2_530_000, event_type="STOP")
    update = check(await tv.receive_json_from(timeout=3))
    assert (update["type"], update["movie_id"], update["completed"]) == (
        "playstate.update",
        "show.s1e1",
        True,  # at the credits, before 95%
    )
    assert await pending_flush() == 1
    assert check(await tv.receive_json_from(timeout=3)) == {
        "type": "playstate.next_up",
        "profile_id": "alice-tv",
        "series_id": "show",
        "movie_id": "show.s1e2",
        "season": 1,
        "episode": 2,
    }
