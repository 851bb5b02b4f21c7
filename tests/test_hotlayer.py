"""The Redis scripts against a real Redis server: they must agree with playstate.domain,
and the pending/inflight sets must never lose an acknowledged state."""

from __future__ import annotations

import random
from functools import reduce

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playstate import hotlayer
from playstate.domain import PlayState, merge
from playstate.validation import Heartbeat
from tests.cases import unlimited

NOW = 1_700_000_100_000

heartbeats = st.builds(
    PlayState,
    profile_id=st.just("p"),
    movie_id=st.sampled_from(["m1", "m2"]),
    position_ms=st.integers(0, 3),
    client_request_time=st.integers(1_700_000_000_000, 1_700_000_000_003),
    device_id=st.sampled_from(["phone", "tv", "tv2", "Tv", "é", "z"]),
    event_type=st.sampled_from(["HEARTBEAT", "PAUSE"]),
    duration_ms=st.sampled_from([None, 5, 6]),
)


def ingest(states: list[PlayState], **kwargs: object) -> hotlayer.IngestOutcome:
    return hotlayer.ingest(
        [Heartbeat(s, None) for s in states],
        now_ms=NOW,
        counters={},
        limits=unlimited(),
        may_create=True,
        **kwargs,  # type: ignore[arg-type]
    )


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(heartbeats, min_size=1, max_size=10), st.randoms(), st.integers(1, 4))
def test_the_script_agrees_with_the_ordering_rule_in_any_delivery(
    redis_client: redis.Redis, sent: list[PlayState], rnd: random.Random, batch: int
) -> None:
    redis_client.flushall()
    delivered = sent + sent[: len(sent) // 2]
    rnd.shuffle(delivered)
    for i in range(0, len(delivered), batch):
        ingest(delivered[i : i + batch])
    for movie_id in {s.movie_id for s in sent}:
        same = sorted((s for s in sent if s.movie_id == movie_id), key=lambda s: s.ordering_key)
        expected = reduce(merge, same[1:], same[0])
        assert hotlayer.get_state("p", movie_id) == expected


def test_a_cold_title_is_reported_not_applied(redis_client: redis.Redis) -> None:
    state = PlayState("p", "m1", 1, NOW, "tv", "HEARTBEAT")
    outcome = hotlayer.ingest([Heartbeat(state, "e1")], now_ms=NOW, counters={}, limits=unlimited())
    assert outcome.codes == [hotlayer.COLD]
    assert hotlayer.get_state("p", "m1") is None
    # The event id was not spent on the cold attempt: the retry applies it.
    assert ingest_with_event(state, "e1").codes == [hotlayer.APPLIED]


def ingest_with_event(state: PlayState, event_id: str) -> hotlayer.IngestOutcome:
    return hotlayer.ingest(
        [Heartbeat(state, event_id)], now_ms=NOW, counters={}, limits=unlimited(), may_create=True
    )


def test_plain_heartbeats_are_due_after_the_window_and_a_pause_at_once(
    redis_client: redis.Redis,
) -> None:
    first = ingest([PlayState("p", "m1", 1, NOW - 5, "tv", "HEARTBEAT")])
    assert not first.nudge
    assert redis_client.zscore(hotlayer.PENDING, "p/m1") == NOW + 10_000
    assert ingest([PlayState("p", "m1", 2, NOW - 4, "tv", "HEARTBEAT")]).nudge is False
    assert redis_client.zscore(hotlayer.PENDING, "p/m1") == NOW + 10_000
    pause = ingest([PlayState("p", "m1", 3, NOW - 3, "tv", "PAUSE")])
    assert pause.nudge
    assert redis_client.zscore(hotlayer.PENDING, "p/m1") == NOW
    # Already due: no second nudge.
    assert not ingest([PlayState("p", "m1", 4, NOW - 2, "tv", "SEEK")]).nudge


def test_a_claim_whose_worker_died_comes_back_after_its_lease(redis_client: redis.Redis) -> None:
    ingest([PlayState("p", "m1", 1, NOW, "tv", "PAUSE")])
    deadline, members = hotlayer.claim(now_ms=NOW, limit=10)
    assert members == ["p/m1"]
    assert hotlayer.claim(now_ms=NOW + 1, limit=10)[1] == []
    # The worker died without acknowledging; after the lease another one takes the title.
    retaken_deadline, retaken = hotlayer.claim(now_ms=deadline + 1, limit=10)
    assert retaken == ["p/m1"]
    # The first worker's late acknowledgement does not release the second one's claim.
    hotlayer.ack(members, deadline=deadline, written=1)
    assert redis_client.zscore(hotlayer.INFLIGHT, "p/m1") == retaken_deadline
    hotlayer.ack(retaken, deadline=retaken_deadline, written=1)
    assert redis_client.zcard(hotlayer.INFLIGHT) == 0
    assert redis_client.hget(hotlayer.METRICS, "store_writes") == "2"


def test_a_heartbeat_during_a_flush_is_pending_again(redis_client: redis.Redis) -> None:
    ingest([PlayState("p", "m1", 1, NOW, "tv", "PAUSE")])
    deadline, members = hotlayer.claim(now_ms=NOW, limit=10)
    ingest([PlayState("p", "m1", 2, NOW + 1, "tv", "PAUSE")])
    hotlayer.ack(members, deadline=deadline, written=1)
    assert redis_client.zscore(hotlayer.PENDING, "p/m1") == NOW


@pytest.mark.parametrize("existing_hid", [0, 5])
def test_repair_never_replaces_a_newer_cached_state(
    redis_client: redis.Redis, existing_hid: int
) -> None:
    newer = PlayState("p", "m1", 9, NOW, "tv", "HEARTBEAT", hidden_before=existing_hid)
    ingest([newer])
    if existing_hid:
        redis_client.hset(hotlayer.hot_key("p", "m1"), "hid", existing_hid)
    hotlayer.repair(PlayState("p", "m1", 1, NOW - 1, "tv", "PAUSE", hidden_before=3))
    state = hotlayer.get_state("p", "m1")
    assert state is not None
    assert (state.position_ms, state.hidden_before) == (9, max(existing_hid, 3))
