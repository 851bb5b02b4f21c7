"""The hot layer on a real Redis Cluster (3 primaries, 3 replicas, on loopback): the hot-layer,
API, sync and end-to-end suites pass on it unchanged; a batch spread over many slots is
applied and flushed from every slot; a slot whose announcement was lost is found by the sweep;
a process holding the slot map from before a promotion finds the new primary after one
failure; a primary killed with heartbeats flowing costs a few seconds of 503s, then ingest
goes on by itself; with PLAYSTATE_HOT_WAIT_REPLICAS=1 what was acknowledged before the kill
is on the promoted replica, and nothing acknowledged is missing from the store."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from redis.crc import key_slot

from core import redis as core_redis
from core.domain import EventType, PlayState
from history.store import get_store
from playstate import hotlayer
from playstate.flush import pending_flush
from playstate.hotlayer import IngestItem
from tests.cases import Run, now_s, unlimited
from tests.e2e.conftest import E2E_ENV, Viewers, backlog, launch, run_suites, wait_for
from tests.stack import RedisCluster, Stack

pytestmark = pytest.mark.e2e

SUITES = [
    "tests/test_hotlayer.py",
    "tests/test_api.py",
    "tests/test_ratelimit.py",
    "tests/test_sync.py",
    "tests/test_user_control.py",
    "tests/test_series_api.py",
    "tests/test_versions.py",
    "tests/e2e/test_ingest_to_resume.py",
    "tests/e2e/test_sync.py",
]
PROFILES = [f"viewer-{i}" for i in range(40)]


def test_the_hot_layer_suites_pass_on_a_redis_cluster() -> None:
    run_suites(SUITES, {"PLAYSTATE_TEST_HOT_CLUSTER": "1"})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def on_cluster(cluster: RedisCluster, settings: Any, redis_client: Any) -> Iterator[Any]:
    """The hot layer of this process on the cluster (the broker stays on `redis_client`'s)."""
    settings.PLAYSTATE_HOT_REDIS_URL = cluster.url
    settings.PLAYSTATE_HOT_REDIS_CLUSTER = True
    core_redis.reset_clients()
    client = cluster.client()
    client.flushall()
    yield client
    client.close()
    core_redis.reset_clients()


def state(profile_id: str, position_ms: int, at_ms: int, event: EventType) -> PlayState:
    return PlayState(profile_id, "m1", position_ms, at_ms, "tv", event)


def ingest(run: Run, states: list[PlayState], now_ms: int) -> list[int]:
    items = [IngestItem(s, None) for s in states]
    outcome = hotlayer.ingest(
        items, now_ms=now_ms, counters={}, limits=unlimited(), may_create=True
    )
    codes: list[int] = run(outcome).codes
    return codes


@pytest.mark.django_db(transaction=True)
def test_a_batch_over_many_slots_is_applied_and_written_from_every_slot(
    on_cluster: Any, run: Run
) -> None:
    now = now_s() * 1000
    assert len({key_slot(hotlayer.hot_key(p, "m1").encode()) for p in PROFILES}) == len(PROFILES)
    batch = [state(p, 200_000 + i, now - 10, EventType.PAUSE) for i, p in enumerate(PROFILES)]
    assert ingest(run, batch, now) == [hotlayer.APPLIED] * len(PROFILES)

    assert run(hotlayer.backlog()) == {"pending": len(PROFILES), "inflight": 0}
    assert run(pending_flush()) == len(PROFILES)
    store = get_store()
    assert [store.get(p, "m1").position_ms for p in PROFILES] == [  # type: ignore[union-attr]
        200_000 + i for i in range(len(PROFILES))
    ]
    counters = run(hotlayer.counters())
    assert (counters["heartbeats_applied"], counters["store_writes"]) == (40, 40)
    assert run(hotlayer.backlog()) == {"pending": 0, "inflight": 0}
    # Each profile's keys share its slot; the counters are spread, not one hot key.
    assert on_cluster.keyslot(hotlayer.recent_key("viewer-3")) == on_cluster.keyslot(
        hotlayer.hot_key("viewer-3", "m1")
    )
    assert len({on_cluster.keyslot(k) for k in hotlayer.metrics_keys()}) > 1


@pytest.mark.django_db(transaction=True)
def test_a_title_whose_slot_was_never_announced_is_found_by_the_sweep(
    on_cluster: Any, run: Run
) -> None:
    now = now_s() * 1000
    assert ingest(run, [state("viewer-1", 200_000, now - 10, EventType.PAUSE)], now) == [1]
    # As if the web process died between its script call and the announcement.
    on_cluster.delete(*(f"v1:due:{{d{i}}}" for i in range(hotlayer.DUE_SETS)))
    assert run(pending_flush()) == 0
    assert run(hotlayer.sweep()) == 1
    assert run(pending_flush()) == 1
    assert get_store().get("viewer-1", "m1") is not None


@pytest.mark.django_db(transaction=True)
def test_with_wait_a_heartbeat_is_acknowledged_once_a_replica_has_it(
    cluster: RedisCluster, on_cluster: Any, run: Run, settings: Any
) -> None:
    settings.PLAYSTATE_HOT_WAIT_REPLICAS = 1
    settings.PLAYSTATE_HOT_WAIT_TIMEOUT_MS = 300
    now = now_s() * 1000
    assert ingest(run, [state("viewer-1", 200_000, now - 10, EventType.PAUSE)], now) == [1]
    assert "heartbeats_unreplicated" not in run(hotlayer.counters())

    replica = cluster.replica_of(cluster.primary_of(hotlayer.hot_key("viewer-1", "m1")))
    assert replica.process is not None
    replica.process.send_signal(signal.SIGSTOP)  # it stops confirming
    try:
        started = time.monotonic()
        assert ingest(run, [state("viewer-1", 201_000, now - 5, EventType.PAUSE)], now) == [1]
        assert time.monotonic() - started >= 0.3  # it waited for the replica, in vain
    finally:
        replica.process.send_signal(signal.SIGCONT)
    assert run(hotlayer.counters())["heartbeats_unreplicated"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_process_that_read_the_slots_before_a_failover_finds_the_new_primary(
    cluster: RedisCluster, on_cluster: Any, run: Run, settings: Any
) -> None:
    settings.PLAYSTATE_HOT_WAIT_REPLICAS = 1  # ingest runs in a pipeline, with its WAIT
    profile = "viewer-1"
    primary = cluster.primary_of(hotlayer.hot_key(profile, "m1"))
    replica = cluster.replica_of(primary)
    now = now_s() * 1000
    assert ingest(run, [state(profile, 200_000, now - 10, EventType.PAUSE)], now) == [1]
    primary.kill()
    try:
        # This process's client still holds the slots as they were before the kill.
        with redis.Redis(port=replica.port, decode_responses=True) as promoted:
            wait_for(lambda: promoted.role()[0] == "master", timeout=30)
        cluster.wait_ok()
        later = [IngestItem(state(profile, 201_000, now - 5, EventType.PAUSE), None)]

        def script_and_wait() -> list[int]:
            # Only the script's pipeline with its WAIT, not the ceiling's command before it
            # (as for a request's cold titles, whose ceiling was taken already).
            outcome = hotlayer.ingest(
                later, now_ms=now, counters={}, limits=unlimited(), retrying_cold=True
            )
            codes: list[int] = run(outcome).codes
            return codes

        with pytest.raises(redis.ConnectionError):  # a quick 503 for this one heartbeat
            script_and_wait()
        assert script_and_wait() == [1]
        cached = run(hotlayer.get_state(profile, "m1"))
        assert cached is not None
        assert cached.position_ms == 201_000
    finally:
        primary.start()  # back as a replica of the promoted one
        cluster.wait_ok()


def test_a_primary_killed_under_traffic_costs_seconds_of_503_and_loses_nothing(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = E2E_ENV | {"PLAYSTATE_HOT_WAIT_REPLICAS": "1"}
    stack = launch(
        Stack(tmp_path_factory.mktemp("failover"), web_workers=2, extra_env=env, hot_cluster=True)
    )
    assert stack.hot is not None
    try:
        token = stack.manage("issue_token", "alice", "--profile", "alice-tv").strip()
        viewers = Viewers(stack.url, token)
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=stack.url, headers=auth, timeout=10) as http:
            viewers.start()
            time.sleep(3)
            primary = stack.hot.primary_of(hotlayer.hot_key("alice-tv", "t1"))
            acknowledged_before = dict(viewers.acknowledged)
            killed_at = time.monotonic()
            primary.kill()
            wait_for(lambda: viewers.answered_at[-1] > killed_at + 3, timeout=60)
            first_refused = next(
                at
                for status, at in zip(viewers.answers, viewers.answered_at, strict=False)
                if at > killed_at and status != 202
            )
            wait_for(lambda: viewers.answers[-20:] == [202] * 20, timeout=60)
            back = next(
                at
                for status, at in zip(viewers.answers, viewers.answered_at, strict=False)
                if at > first_refused and status == 202
            )
            # With WAIT, what was acknowledged before the kill is on the promoted replica.
            for movie, position in acknowledged_before.items():
                answer = http.get(f"/api/v1/profiles/alice-tv/positions/{movie}").json()
                assert answer["position_ms"] >= position, movie
            time.sleep(2)
            viewers.stop()
            print(f"\nfailover: first 503 {first_refused - killed_at:.2f}s after the kill, "
                  f"202 again after {back - killed_at:.2f}s; "
                  f"answers {Counter(viewers.answers)}")  # fmt: skip
            assert back - killed_at < 15, "ingest did not come back by itself"
            assert set(viewers.answers) <= {202, 503}
            # After the failover the old primary returns as a replica of the new one.
            primary.start()
            stack.hot.wait_ok()
            wait_for(lambda: backlog(http) == 0, timeout=60)
            stack.redis_client().flushall()  # what remains to read is the store's
            for movie, position in viewers.acknowledged.items():
                answer = http.get(f"/api/v1/profiles/alice-tv/positions/{movie}").json()
                assert (answer["source"], answer["position_ms"]) == ("store", position), movie
    finally:
        stack.stop()
