"""The Redis scripts against a real Redis server: they must agree with core.domain, and the
pending/inflight sets must never lose an acknowledged state."""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from functools import reduce

import pytest
import redis
from django.conf import settings as django_settings
from django.test import override_settings
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.domain import EventType, PlayState, merge
from playstate import hotlayer, scripts
from playstate.hotlayer import IngestItem, IngestOutcome, Limits
from tests.cases import Run, unlimited

NOW = 1_700_000_100_000
URGENT_DUE = NOW - 365 * 86_400_000  # PAUSE/STOP/SEEK: ahead of every plain title

heartbeats = st.builds(
    PlayState,
    profile_id=st.just("p"),
    movie_id=st.sampled_from(["m1", "m2"]),
    position_ms=st.integers(0, 3),
    client_request_time=st.integers(1_700_000_000_000, 1_700_000_000_003),
    device_id=st.sampled_from(["phone", "tv", "tv2", "Tv", "é", "z"]),
    event_type=st.sampled_from([EventType.HEARTBEAT, EventType.PAUSE, EventType.RESTORE]),
    duration_ms=st.sampled_from([None, 5, 6]),
    significant=st.booleans(),
)


def ingest(
    run: Run, states: list[PlayState], event_id: str | None = None, *, now_ms: int = NOW
) -> IngestOutcome:
    outcome: IngestOutcome = run(
        hotlayer.ingest(
            [IngestItem(s, event_id) for s in states],
            now_ms=now_ms,
            counters={},
            limits=unlimited(),
            may_create=True,
        )
    )
    return outcome


def state(pos: int, crt: int, event: EventType = EventType.HEARTBEAT) -> PlayState:
    return PlayState("p", "m1", pos, crt, "tv", event)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(heartbeats, min_size=1, max_size=10), st.randoms(), st.integers(1, 4))
def test_the_script_agrees_with_the_ordering_rule_in_any_delivery(
    redis_client: redis.Redis, run: Run, sent: list[PlayState], rnd: random.Random, batch: int
) -> None:
    redis_client.flushall()
    delivered = sent + sent[: len(sent) // 2]
    rnd.shuffle(delivered)
    for i in range(0, len(delivered), batch):
        ingest(run, delivered[i : i + batch])
    for movie_id in {s.movie_id for s in sent}:
        same = sorted((s for s in sent if s.movie_id == movie_id), key=lambda s: s.ordering_key)
        expected = reduce(merge, same[1:], same[0])
        assert run(hotlayer.get_state("p", movie_id)) == expected


points = st.builds(
    PlayState,
    profile_id=st.just("p"),
    movie_id=st.just("m1"),
    # two 10-minute buckets of position and three of time, ties within each
    position_ms=st.sampled_from([0, 3, 600_000, 600_003]),
    client_request_time=st.sampled_from([NOW - 1_500_000, NOW - 1_499_999, NOW - 900_000, NOW]),
    device_id=st.sampled_from(["phone", "tv"]),
    event_type=st.sampled_from([EventType.HEARTBEAT, EventType.PAUSE]),
    # the state's order puts a heartbeat that holds its place first, a point's does not
    significant=st.booleans(),
)


def resume_points(run: Run, movie_id: str = "m1") -> dict[str, str]:
    """The title's raw resume points as a reader sees them: those kept and its state."""
    return hotlayer.with_state(*run(hotlayer.versions("p", movie_id)))


def latest_per_bucket(sent: list[PlayState]) -> dict[str, str]:
    """What every heartbeat kept as a point would give: per device, 10 minutes of time and
    10 minutes of position, the greatest (client time, position, event)."""
    best: dict[str, PlayState] = {}
    for s in sent:
        field = f"{s.device_id}|{s.client_request_time // 600_000}|{s.position_ms // 600_000}"
        key = (s.client_request_time, s.position_ms, s.event_type.encode())
        if field not in best or key > (
            best[field].client_request_time,
            best[field].position_ms,
            best[field].event_type.encode(),
        ):
            best[field] = s
    return {f: f"{s.client_request_time}|{s.position_ms}|{s.event_type}" for f, s in best.items()}


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sent=st.lists(points, min_size=1, max_size=12),
    rnd=st.randoms(use_true_random=False),
    batch=st.integers(2, 12),
)
# A heartbeat that holds its place replaces a later one of the same bucket that does not;
# as a point the later one wins, so it must be kept when it stops being the state.
@example(
    sent=[
        PlayState("p", "m1", 3, NOW - 1_499_999, "tv", EventType.HEARTBEAT, significant=False),
        PlayState("p", "m1", 0, NOW - 1_500_000, "tv", EventType.HEARTBEAT, significant=True),
    ],
    rnd=random.Random(0),
    batch=2,
)
def test_resume_points_are_the_same_sent_alone_or_in_batches(
    redis_client: redis.Redis, run: Run, sent: list[PlayState], rnd: random.Random, batch: int
) -> None:
    """A batch reads and writes each point once, and a state becomes a kept point only when
    it is replaced: whatever the order, repeats and ties, and alone or in batches, the reader
    sees every heartbeat's point, the latest per device and bucket."""
    redis_client.flushall()
    for s in sent:
        ingest(run, [s])
    alone = resume_points(run)
    redis_client.flushall()
    delivered = sent + sent[: len(sent) // 2]
    rnd.shuffle(delivered)
    for i in range(0, len(delivered), batch):
        ingest(run, delivered[i : i + batch])
    assert resume_points(run) == alone == latest_per_bucket(sent)


@pytest.mark.parametrize("batch", [1, 70])
def test_a_title_keeps_its_newest_resume_points_and_at_most_64(
    redis_client: redis.Redis, run: Run, batch: int
) -> None:
    redis_client.flushall()
    sent = [state(k, NOW - (70 - k) * 600_000) for k in range(70)]  # one per bucket
    for i in range(0, len(sent), batch):
        ingest(run, sent[i : i + batch])
    kept = resume_points(run)
    assert 48 <= len(kept) <= 64
    newest = {f"tv|{s.client_request_time // 600_000}|0" for s in sent[-48:]}
    assert newest <= kept.keys()
    assert redis_client.pttl(hotlayer.versions_key("p", "m1")) > 0


def test_steady_viewing_keeps_a_point_only_when_the_state_leaves_its_bucket(
    redis_client: redis.Redis, run: Run
) -> None:
    """The state is the newest point: a heartbeat every 10 s writes no point of its own (a
    read and a write per heartbeat before); the place it leaves for another bucket is kept,
    for 30 days."""
    redis_client.flushall()
    versions = hotlayer.versions_key("p", "m1")
    bucket = NOW // 600_000
    for k in range(5):
        ingest(run, [state(700_000 + 10_000 * k, NOW - 40_000 + 10_000 * k)])
    assert not redis_client.exists(versions)
    assert resume_points(run) == {f"tv|{bucket}|1": f"{NOW}|740000|HEARTBEAT"}
    ingest(run, [state(1_300_000, NOW + 1)])  # a seek ahead, into the next bucket
    assert redis_client.hgetall(versions) == {f"tv|{bucket}|1": f"{NOW}|740000|HEARTBEAT"}
    assert redis_client.ttl(versions) >= hotlayer.VERSIONS_TTL_SECONDS
    assert resume_points(run) == {
        f"tv|{bucket}|1": f"{NOW}|740000|HEARTBEAT",
        f"tv|{bucket}|2": f"{NOW + 1}|1300000|HEARTBEAT",
    }


def test_a_cached_state_that_a_newer_stored_one_replaces_stays_a_point(
    redis_client: redis.Redis, run: Run
) -> None:
    redis_client.flushall()
    ingest(run, [state(700_000, NOW - 60_000)])
    run(hotlayer.repair(state(1_300_000, NOW)))
    assert run(hotlayer.get_state("p", "m1")) == state(1_300_000, NOW)
    bucket = NOW // 600_000
    assert resume_points(run) == {
        f"tv|{bucket}|1": f"{NOW - 60_000}|700000|HEARTBEAT",
        f"tv|{bucket}|2": f"{NOW}|1300000|HEARTBEAT",
    }


def test_a_watched_title_stays_for_its_ttl_without_an_expire_on_every_heartbeat(
    redis_client: redis.Redis, run: Run
) -> None:
    """A key's TTL is set when it is made and pushed out again once a tenth of it has gone:
    an idle title goes 43-48 h after its last heartbeat (by default), at no expiry command on
    most heartbeats (a write the append-only file and the replicas would each take)."""
    ttl = django_settings.PLAYSTATE_HOT_TTL_SECONDS
    hot, recent = hotlayer.hot_key("p", "m1"), hotlayer.recent_key("p")
    ingest(run, [state(1, NOW - 30)])
    for key in (hot, recent):
        assert ttl - 2 <= redis_client.ttl(key) <= ttl
    for key in (hot, recent):
        redis_client.expire(key, 1000)  # to tell a renewal from none
    ingest(run, [state(2, NOW - 20)], now_ms=NOW + ttl * 1000 // 20)
    for key in (hot, recent):
        assert redis_client.ttl(key) <= 1000  # not renewed yet
    ingest(run, [state(3, NOW - 10)], now_ms=NOW + ttl * 1000 // 5)
    for key in (hot, recent):
        assert ttl - 2 <= redis_client.ttl(key) <= ttl  # renewed, the profile's set with it


def test_a_new_state_rewrites_only_what_changed_and_gives_an_old_hash_its_sig(
    redis_client: redis.Redis, run: Run
) -> None:
    """The script writes a state's changed fields only; a hash from before 'sig' existed
    (whose significance was worked out from its position) is given it with its next state."""
    hot = hotlayer.hot_key("p", "m1")
    ingest(run, [PlayState("p", "m1", 1, NOW - 30, "tv", EventType.HEARTBEAT, 5)])
    redis_client.hdel(hot, "sig")
    newer = PlayState("p", "m1", 2, NOW - 20, "phone", EventType.PAUSE, 5)
    assert ingest(run, [newer]).codes == [hotlayer.APPLIED]
    assert run(hotlayer.get_state("p", "m1")) == newer
    assert redis_client.hget(hot, "sig") == "0"


def test_a_cold_title_is_reported_not_applied(redis_client: redis.Redis, run: Run) -> None:
    cold = run(
        hotlayer.ingest(
            [IngestItem(state(1, NOW), "e1")], now_ms=NOW, counters={}, limits=unlimited()
        )
    )
    assert cold.codes == [hotlayer.COLD]
    assert run(hotlayer.get_state("p", "m1")) is None
    # The event id was not spent on the cold attempt: the retry applies it.
    assert ingest(run, [state(1, NOW)], event_id="e1").codes == [hotlayer.APPLIED]


def test_plain_heartbeats_are_due_after_the_window_and_a_pause_at_once(
    redis_client: redis.Redis, run: Run
) -> None:
    first = ingest(run, [state(1, NOW - 5)])
    assert not first.nudge
    window = django_settings.PLAYSTATE_COALESCE_WINDOW_MS
    due = hotlayer.due_ms("p/m1", now_ms=NOW, window_ms=window)
    assert NOW < due <= NOW + window
    assert redis_client.zscore(hotlayer.shard_of("p").pending, "p/m1") == due
    # A later heartbeat within the window keeps the title's time.
    assert ingest(run, [state(2, NOW - 4)], now_ms=NOW + 1_000).nudge is False
    assert redis_client.zscore(hotlayer.shard_of("p").pending, "p/m1") == due
    pause = ingest(run, [state(3, NOW - 3, EventType.PAUSE)])
    assert pause.nudge
    assert redis_client.zscore(hotlayer.shard_of("p").pending, "p/m1") == URGENT_DUE
    # Already due: no second nudge.
    assert not ingest(run, [state(4, NOW - 2, EventType.SEEK)]).nudge


def test_a_pause_is_claimed_before_plain_titles_that_waited_longer(
    redis_client: redis.Redis, run: Run
) -> None:
    """Workers behind on plain heartbeats still write (and push) a pause first."""
    for i in range(5):
        ingest(run, [PlayState("p", f"plain{i}", 60_000, NOW - 10, "tv", EventType.HEARTBEAT)])
    ingest(run, [PlayState("p", "paused", 60_000, NOW - 5, "phone", EventType.PAUSE)])
    later = NOW + 10 * django_settings.PLAYSTATE_COALESCE_WINDOW_MS  # every title overdue
    first = run(hotlayer.claim(now_ms=later, limit=1))
    assert first.members == ["p/paused"]


def test_a_claim_whose_worker_died_comes_back_after_its_lease(
    redis_client: redis.Redis, run: Run
) -> None:
    ingest(run, [state(1, NOW, EventType.PAUSE)])
    first = run(hotlayer.claim(now_ms=NOW, limit=10))
    assert first.members == ["p/m1"]
    assert run(hotlayer.claim(now_ms=NOW + 1, limit=10)).members == []
    # The worker died without acknowledging; after the lease another one takes the title.
    retaken = run(hotlayer.claim(now_ms=first.deadline + 1, limit=10))
    assert retaken.members == ["p/m1"]
    # The first worker's late acknowledgement does not release the second one's claim.
    run(hotlayer.ack(first, written=1))
    assert redis_client.zscore(hotlayer.shard_of("p").inflight, "p/m1") == retaken.deadline
    run(hotlayer.ack(retaken, written=1))
    assert redis_client.zcard(hotlayer.shard_of("p").inflight) == 0
    assert run(hotlayer.counters())["store_writes"] == 2


def test_a_heartbeat_during_a_flush_is_pending_again(redis_client: redis.Redis, run: Run) -> None:
    ingest(run, [state(1, NOW, EventType.PAUSE)])
    taken = run(hotlayer.claim(now_ms=NOW, limit=10))
    ingest(run, [state(2, NOW + 1, EventType.PAUSE)])
    run(hotlayer.ack(taken, written=1))
    assert redis_client.zscore(hotlayer.shard_of("p").pending, "p/m1") == URGENT_DUE


@pytest.mark.parametrize("existing_hid", [0, 5])
def test_repair_never_replaces_a_newer_cached_state(
    redis_client: redis.Redis, run: Run, existing_hid: int
) -> None:
    ingest(run, [PlayState("p", "m1", 9, NOW, "tv", EventType.HEARTBEAT)])
    if existing_hid:
        redis_client.hset(hotlayer.hot_key("p", "m1"), "hid", existing_hid)
    run(hotlayer.repair(PlayState("p", "m1", 1, NOW - 1, "tv", EventType.PAUSE, hidden_before=3)))
    cached = run(hotlayer.get_state("p", "m1"))
    assert cached is not None
    assert (cached.position_ms, cached.hidden_before) == (9, max(existing_hid, 3))


@pytest.mark.parametrize(
    "script",
    [
        scripts.INGEST,
        scripts.REPAIR,
        scripts.HIDE,
        scripts.CLAIM,
        scripts.ACK,
        scripts.RELEASE,
        scripts.CEILING,
    ],
)
def test_every_name_a_script_reads_is_in_its_layout(script: scripts.Script) -> None:
    """A misspelt `A.name` would be nil in Lua, and `ARGV[nil]` an error only at run time."""
    layouts = {
        "K": script.keys,
        "A": script.args,
        "KG": script.group_keys,
        "AG": script.group_args,
        "KI": script.item_keys,
        "AI": script.item_args,
    }
    used = re.findall(r"\b(KG|AG|KI|AI|K|A)\.(\w+)", script.text)
    assert used
    for table, name in used:
        fields: tuple[str, ...] = getattr(layouts[table], "_fields", ())
        assert name in fields, f"{script.name}: {table}.{name}"


def test_a_title_watched_without_pause_is_due_once_per_window_at_its_own_time() -> None:
    window = 60_000
    dues = {hotlayer.due_ms("p/m1", now_ms=NOW + t, window_ms=window) for t in range(0, 60_000, 10)}
    # Heartbeats 10 ms apart over a window come due at two times, one window apart: the
    # title's point in this window, until it passes, then in the next one.
    first, second = sorted(dues)
    assert second - first == window
    assert NOW < first <= NOW + window


def test_titles_that_start_together_come_due_spread_over_the_window() -> None:
    window = 60_000
    dues = [
        hotlayer.due_ms(f"p{i}/s{i}", now_ms=NOW, window_ms=window) - NOW for i in range(10_000)
    ]
    assert all(0 <= due <= window for due in dues)
    tenths = Counter(due * 10 // window for due in dues)
    assert sorted(tenths) == list(range(10))
    assert all(800 <= n <= 1_200 for n in tenths.values()), tenths


def test_a_setting_changed_while_the_process_runs_applies_to_the_next_heartbeat(
    redis_client: redis.Redis, run: Run
) -> None:
    ingest(run, [state(1, NOW - 5)])
    window = django_settings.PLAYSTATE_COALESCE_WINDOW_MS
    due = hotlayer.due_ms("p/m1", now_ms=NOW, window_ms=window)
    assert redis_client.zscore(hotlayer.shard_of("p").pending, "p/m1") == due
    redis_client.delete(hotlayer.shard_of("p").pending)
    # (the hot path reads its settings from a snapshot: core/hotsettings.py)
    with override_settings(PLAYSTATE_COALESCE_WINDOW_MS=0):
        ingest(run, [state(2, NOW - 4)])
    assert redis_client.zscore(hotlayer.shard_of("p").pending, "p/m1") == NOW


def test_a_claim_whose_write_failed_is_pending_again_at_once(
    redis_client: redis.Redis, run: Run
) -> None:
    ingest(run, [state(1, NOW, EventType.PAUSE)])
    taken = run(hotlayer.claim(now_ms=NOW, limit=10))
    run(hotlayer.release(taken, now_ms=NOW + 5))
    assert redis_client.zcard(hotlayer.shard_of("p").inflight) == 0
    assert (
        redis_client.zscore(hotlayer.shard_of("p").pending, "p/m1") == NOW + 5
    )  # due when released
    assert run(hotlayer.claim(now_ms=NOW + 6, limit=10)).members == ["p/m1"]


def test_a_process_remembers_the_titles_it_saw_last_not_the_first_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hotlayer, "HELD_MAX", 3)
    monkeypatch.setattr(hotlayer, "_held", set())
    monkeypatch.setattr(hotlayer, "_held_before", set())

    def seen(*movies: str) -> None:
        items = [
            IngestItem(PlayState("p", m, 1, NOW, "tv", EventType.HEARTBEAT), None) for m in movies
        ]
        hotlayer.note_held(items, [hotlayer.APPLIED] * len(movies))

    seen("watched", "a", "b")
    seen("c", "d")  # a new generation
    assert hotlayer._holds("p/watched")  # still watched: carried into the newer generation
    seen("e", "f")  # another: the first one is dropped, but for what was seen since
    assert [hotlayer._holds(f"p/{m}") for m in ("a", "b", "c", "watched")] == [
        False,
        False,
        True,
        True,
    ]
    cold = IngestItem(PlayState("p", "watched", 1, NOW, "tv", EventType.HEARTBEAT), None)
    hotlayer.note_held([cold], [hotlayer.COLD])  # expired from the cache since
    assert not hotlayer._holds("p/watched")


def _calls(client: redis.Redis, command: str) -> int:
    """How often `command` ran, scripts' commands included (on a cluster, summed over the
    primaries: a replica runs the writes again, as they reach it)."""
    if isinstance(client, redis.RedisCluster):
        nodes = client.info("commandstats", target_nodes=redis.RedisCluster.PRIMARIES).values()
    else:
        nodes = [client.info("commandstats")]
    return sum(node.get(f"cmdstat_{command}", {}).get("calls", 0) for node in nodes)


def _reset_stats(client: redis.Redis) -> None:
    """Command counts from here on; the ingest script loaded first, so that no count
    includes a first call's NOSCRIPT and its retry."""
    client.script_load(scripts.INGEST.text)
    if isinstance(client, redis.RedisCluster):
        client.config_resetstat(target_nodes=redis.RedisCluster.ALL_NODES)
    else:
        client.config_resetstat()


def test_a_batch_of_one_titles_heartbeats_reads_and_writes_the_title_once(
    redis_client: redis.Redis, run: Run
) -> None:
    """A device that was offline sends what it buffered of one title in one batch: the
    script reads the title's state once and writes the winner once, as one heartbeat would."""
    ingest(run, [state(1, NOW - 40)])
    _reset_stats(redis_client)
    outcome = ingest(run, [state(2, NOW - 30), state(4, NOW - 10), state(3, NOW - 20)])
    assert outcome.codes == [hotlayer.APPLIED, hotlayer.APPLIED, hotlayer.STALE]
    stored = run(hotlayer.get_state("p", "m1"))
    assert (stored.position_ms, stored.client_request_time) == (4, NOW - 10)
    assert redis_client.zscore(hotlayer.recent_key("p"), "m1") == NOW - 10
    # The title's state; the profile's buckets and the account's ceiling (the one heartbeat
    # before it read as many); the recent set and the pending set once each.
    assert _calls(redis_client, "hmget") == 1
    assert _calls(redis_client, "get") == 2
    assert _calls(redis_client, "zadd") == 2


def test_a_titles_names_go_to_the_script_once_for_its_run_of_heartbeats(
    redis_client: redis.Redis, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its keys, limits and schedule once, then each heartbeat's own values: a batch of 3
    carried them three times before, and each one was a value to pack, send and read."""
    sent: list[list[str | int]] = []
    ingest_script = scripts.INGEST

    async def recorded(keys: list[str], args: list[str | int], **options: bool) -> object:
        sent.append([*keys, *args])
        return await ingest_script(keys, args, **options)

    monkeypatch.setattr(scripts, "INGEST", recorded)
    other = PlayState("p", "m2", 9, NOW - 5, "tv", EventType.HEARTBEAT)
    outcome = ingest(run, [state(2, NOW - 30), state(4, NOW - 10), state(3, NOW - 20), other])
    assert outcome.codes == [hotlayer.APPLIED, hotlayer.APPLIED, hotlayer.STALE, hotlayer.APPLIED]
    [values] = sent
    assert values.count(hotlayer.hot_key("p", "m1")) == 1
    assert values.count(hotlayer.hot_key("p", "m2")) == 1
    assert values.count(hotlayer.member("p", "m1")) == 1
    assert values.count(hotlayer.limits_key("p")) == 2  # once per title
    assert [values.count(NOW - ago) for ago in (30, 10, 20, 5)] == [1, 1, 1, 1]


def test_requests_of_one_turn_share_one_script_call_each_with_its_own_outcome(
    redis_client: redis.Redis, run: Run
) -> None:
    """A web process's heartbeats of one turn of its event loop go to Redis as one script
    call; each request still gets its own codes, its own wait and its own nudge."""
    ingest(run, [PlayState("b", "m1", 5_000, NOW, "tv", EventType.HEARTBEAT)])
    plain = [IngestItem(PlayState("a", "m1", 1_000, NOW, "tv", EventType.HEARTBEAT), None)]
    late = [IngestItem(PlayState("b", "m1", 4_000, NOW - 10, "tv", EventType.HEARTBEAT), None)]
    busy = [
        IngestItem(PlayState("c", f"m{i}", 1_000, NOW + i, "tv", EventType.HEARTBEAT), None)
        for i in range(2)
    ]
    pause = [IngestItem(PlayState("d", "m1", 2_000, NOW, "phone", EventType.PAUSE), None)]
    limits = Limits(
        account_id=7, per_profile={"a": (9, 60), "b": (9, 60), "c": (1, 6), "d": (9, 60)}
    )

    async def together() -> list[IngestOutcome]:
        calls = [
            hotlayer.ingest(items, now_ms=NOW, counters={}, limits=limits, may_create=True)
            for items in (plain, late, busy, pause)
        ]
        return list(await asyncio.gather(*calls))

    _reset_stats(redis_client)
    outcomes = run(together())
    if not isinstance(redis_client, redis.RedisCluster):  # (a cluster's slots: a call each)
        assert _calls(redis_client, "evalsha") == 1
    assert [o.codes for o in outcomes] == [
        [hotlayer.APPLIED],
        [hotlayer.STALE],
        [hotlayer.APPLIED, hotlayer.RATE_LIMITED],
        [hotlayer.APPLIED],
    ]
    assert [o.retry_after_ms for o in outcomes] == [0, 0, 10_000, 0]
    assert [o.nudge for o in outcomes] == [False, False, False, True]
    assert run(hotlayer.get_state("b", "m1")).position_ms == 5_000
    assert run(hotlayer.get_state("d", "m1")).event_type == EventType.PAUSE


def test_requests_of_one_turn_at_times_seconds_apart_keep_their_own_calls(
    redis_client: redis.Redis, run: Run
) -> None:
    """Merged calls are taken as of the latest of their times, so only calls within one
    second of the clock share one: a bucket refills by each call's own time (a minute
    apart, a token a minute: both pass)."""
    if isinstance(redis_client, redis.RedisCluster):
        pytest.skip("one Redis only: on a cluster each request goes alone, in any order")
    limits = Limits(account_id=7, per_profile={"a": (1, 1)})
    first = [IngestItem(PlayState("a", "m1", 1_000, NOW, "tv", EventType.HEARTBEAT), None)]
    later = [IngestItem(PlayState("a", "m2", 1_000, NOW, "tv", EventType.HEARTBEAT), None)]

    async def together() -> list[IngestOutcome]:
        return list(
            await asyncio.gather(
                hotlayer.ingest(
                    first, now_ms=NOW - 60_000, counters={}, limits=limits, may_create=True
                ),
                hotlayer.ingest(later, now_ms=NOW, counters={}, limits=limits, may_create=True),
            )
        )

    _reset_stats(redis_client)
    outcomes = run(together())
    assert _calls(redis_client, "evalsha") == 2
    assert [o.codes for o in outcomes] == [[hotlayer.APPLIED], [hotlayer.APPLIED]]
