"""The Cassandra store on a real cluster of local nodes (scripts/cassandra.py `Cluster`):
with one of three replicas killed, LOCAL_QUORUM goes on and the node catches up; two data
centres cut apart and written on both sides converge to the ordering rule's winner.

Every write and read goes through `CassandraStore` (the service's own statements), given a
session per side. Each run's results are printed (pytest -s) and appended to
`cassandra-cluster-results.md` in pytest's base temporary directory."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from cassandra.cluster import Cluster as CqlCluster
from cassandra.policies import (
    ConstantReconnectionPolicy,
    DCAwareRoundRobinPolicy,
    TokenAwarePolicy,
    WhiteListRoundRobinPolicy,
)
from cassandra.query import dict_factory
from django.conf import settings
from hypothesis import HealthCheck, Phase, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core.domain import EventType, PlayState, holds_place, latest_per_title
from history.cql.store import CassandraStore
from scripts.cassandra import Cluster, Node
from tests.stack import ROOT

pytestmark = pytest.mark.e2e

T0 = 1_705_820_000_000
# A loaded two-core machine: node restarts, hint delivery and repair take their time.
STARTUP_S = 240.0
CATCH_UP_S = 180.0
# Nodes keep new hints in a buffer and write them to files every hints_flush_period (1 s
# here); only files show in system_views.pending_hints.
HINTS_FLUSH_S = 2.0
# How long the partition test gives hints alone before it repairs (a dispatch that fails is
# retried every 10 s).
HINTS_ALONE_S = 45.0
PARTITION_CYCLES = 2

Side = Literal["both", "A", "B"]
Key = tuple[str, str]


def results_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "cassandra-cluster-results.md"


def report(tmp_path_factory: pytest.TempPathFactory, *lines: str) -> None:
    print("\n" + "\n".join(lines), flush=True)
    with results_file(tmp_path_factory).open("a") as out:
        out.write("\n".join(lines) + "\n")


def create_keyspace(cluster: Cluster, keyspace: str, replication: str, local_dc: str) -> None:
    """With the command operators use (`manage.py sync_cassandra`), configured as the
    README says."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "e2e-tests-only",
        "PLAYSTATE_DATA_DIR": str(cluster.directory),
        "CASSANDRA_HOSTS": cluster.hosts,
        "CASSANDRA_KEYSPACE": keyspace,
        "CASSANDRA_REPLICATION": replication,
        "CASSANDRA_LOCAL_DC": local_dc,
        "CASSANDRA_REQUEST_TIMEOUT": "30",
    }
    subprocess.run(
        [sys.executable, "manage.py", "sync_cassandra"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
        timeout=300,
    )


@contextlib.contextmanager
def store_on(
    nodes: list[Node],
    *,
    keyspace: str,
    write: str,
    read: str,
    only: bool = False,
) -> Iterator[CassandraStore]:
    """A CassandraStore with a session of its own: to `nodes` (in the first node's data
    centre), or, with `only`, to exactly these nodes as coordinators."""
    addresses = [node.address for node in nodes]
    policy = (
        WhiteListRoundRobinPolicy(addresses)
        if only
        else TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=nodes[0].dc))
    )
    cql = CqlCluster(
        addresses,
        port=nodes[0].port,
        load_balancing_policy=policy,
        reconnection_policy=ConstantReconnectionPolicy(0.5, None),
        connect_timeout=20,
    )
    try:
        session = cql.connect()
        session.row_factory = dict_factory
        session.default_timeout = 30
        yield CassandraStore(
            session=session, keyspace=keyspace, write_consistency=write, read_consistency=read
        )
    finally:
        cql.shutdown()


def hints_flushed_since(written_at: float) -> None:
    time.sleep(max(0.0, written_at + HINTS_FLUSH_S - time.monotonic()))


def pending_hints(node: Node) -> int:
    """Hint files this node still holds for others (a node-local virtual table)."""
    with store_on([node], keyspace="system", write="ONE", read="ONE", only=True) as store:
        rows = store.session.execute("SELECT files FROM system_views.pending_hints")
        return sum(int(row["files"] or 0) for row in rows)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout}s")


def all_up(node: Node, count: int) -> bool:
    status = node.nodetool("status")
    return sum(line.startswith("UN ") for line in status.splitlines()) == count


def kill(cluster: Cluster) -> None:
    """A test cluster's data is thrown away: no need to wait for drains."""
    for node in cluster.members:
        node.kill()


def restart(node: Node) -> None:
    node.start()
    node.wait_ready(STARTUP_S)


def in_chunks(states: Sequence[PlayState], size: int) -> Iterator[Sequence[PlayState]]:
    """As the worker flushes: several titles (and profiles) per call."""
    for start in range(0, len(states), size):
        yield states[start : start + size]


def significant(position_ms: int, event_type: EventType) -> bool:
    return holds_place(position_ms, event_type, ignore_start_ms=settings.PLAYSTATE_IGNORE_START_MS)


# --- One data centre, RF 3, one node killed ------------------------------------------------


@pytest.fixture
def three_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("cassandra-rf3"), nodes=3, dcs=1)
    try:
        cluster.start(STARTUP_S)
        yield cluster
    finally:
        kill(cluster)


def heartbeat(profile: int, movie: int, crt: int, position_ms: int = 600_000) -> PlayState:
    return PlayState(
        f"rf3-p{profile}",
        f"m{movie}",
        position_ms,
        crt,
        "tv",
        EventType.HEARTBEAT,
        5_400_000,
        significant=significant(position_ms, EventType.HEARTBEAT),
    )


def test_with_one_of_three_replicas_killed_reads_and_writes_go_on_and_it_catches_up(
    three_nodes: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    keyspace = "playstate_rf3"
    started = time.monotonic()
    create_keyspace(three_nodes, keyspace, "NetworkTopologyStrategy:datacenter1=3", "datacenter1")
    node1, node2, node3 = three_nodes.members
    written: dict[Key, PlayState] = {}

    def write_and_read_back(store: CassandraStore, states: list[PlayState]) -> None:
        for chunk in in_chunks(states, 20):
            store.write(chunk)
        written.update({(s.profile_id, s.movie_id): s for s in states})
        for (profile, movie), state in written.items():
            assert store.get(profile, movie) == state

    with store_on(
        three_nodes.members, keyspace=keyspace, write="LOCAL_QUORUM", read="LOCAL_QUORUM"
    ) as store:
        write_and_read_back(store, [heartbeat(p, m, T0) for p in range(20) for m in range(5)])
        node3.kill()
        killed = time.monotonic()
        # Newer states of the same titles, and new titles, while node 3 is gone.
        write_and_read_back(
            store,
            [heartbeat(p, m, T0 + 60_000, 900_000) for p in range(20) for m in range(3, 8)],
        )
        down_s = time.monotonic() - killed
    hints_flushed_since(time.monotonic())
    restart(node3)
    up = wait_until(lambda: all_up(node1, 3) and all_up(node3, 3), CATCH_UP_S, "node 3 up")
    hinted = wait_until(
        lambda: pending_hints(node1) + pending_hints(node2) == 0, CATCH_UP_S, "hint files gone"
    )
    # Hints cover the writes node 3 missed while down; a SIGKILL may also have cost it the
    # writes of its last commit-log period (periodic sync), which only repair brings back.
    repair_started = time.monotonic()
    node3.nodetool("repair", "-full", keyspace)
    repair_s = time.monotonic() - repair_started
    # Stopped, not killed: node 3 must know at once that they are gone, or at ONE it may
    # still send the read to one of them.
    node1.stop()
    node2.stop()
    with store_on([node3], keyspace=keyspace, write="ONE", read="ONE", only=True) as alone:
        missing = [k for k, state in written.items() if alone.get(*k) != state]
    report(
        tmp_path_factory,
        "| RF 3, 3 nodes | titles written | while node 3 down | LOCAL_QUORUM failures"
        " | up again | hint files gone | repair | node 3 alone at ONE: missing | total s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| node 3 SIGKILLed | {len(written)} | 100 writes + {len(written)} reads"
        f" in {down_s:.1f}s | 0 | {up:.0f}s | {hinted:.0f}s | {repair_s:.0f}s"
        f" | {len(missing)} | {time.monotonic() - started:.0f} |",
    )
    assert missing == []


# --- Two data centres cut apart ------------------------------------------------------------

T_STEP = 1_000


@dataclass(frozen=True)
class Beat:
    side: Side
    movie: str
    offset_s: int
    position_ms: int
    device: str
    event_type: EventType
    duration_ms: int | None
    hidden_before_s: int

    def state(self, profile_id: str) -> PlayState:
        return PlayState(
            profile_id,
            self.movie,
            self.position_ms,
            T0 + self.offset_s * T_STEP,
            self.device,
            self.event_type,
            self.duration_ms,
            hidden_before=T0 + self.hidden_before_s * T_STEP if self.hidden_before_s else 0,
            significant=significant(self.position_ms, self.event_type),
        )


# Few times, places and devices, so that exact ties between the sides are common.
beats = st.builds(
    Beat,
    # Not "both" first: the first example hypothesis tries is the simplest, and a cut with
    # nothing written across it would be a wasted restart of both nodes.
    side=st.sampled_from(["A", "B", "both"]),
    movie=st.sampled_from(["m1", "m2", "m3"]),
    offset_s=st.integers(0, 6),
    position_ms=st.sampled_from([0, 3_000, 180_000, 600_000, 600_001]) | st.integers(0, 5_400_000),
    device=st.sampled_from(["tv", "phone", "web"]),
    event_type=st.sampled_from(list(EventType)),
    duration_ms=st.sampled_from([None, 5_400_000]),
    hidden_before_s=st.sampled_from([0, 0, 0, 0, 3]),
)
# One profile each: its heartbeats, each written before the cut (both sides), or on one side.
histories = st.lists(st.lists(beats, min_size=1, max_size=8), min_size=25, max_size=40)


E = EventType
# Ties across the cut, decided by each rule in turn (then whatever hypothesis draws).
TIES = [
    # Same time: the further position.
    [Beat("both", "m1", 0, 600_000, "tv", E.HEARTBEAT, None, 0),
     Beat("A", "m1", 3, 700_000, "tv", E.PAUSE, None, 0),
     Beat("B", "m1", 3, 650_000, "phone", E.PAUSE, None, 0)],
    # A place beats a later failed start.
    [Beat("A", "m1", 2, 900_000, "tv", E.HEARTBEAT, None, 0),
     Beat("B", "m1", 5, 1_000, "web", E.START, None, 0)],
    # Same time and place: the greater device id; then the event type's name.
    [Beat("A", "m1", 4, 600_000, "tv", E.STOP, None, 0),
     Beat("B", "m1", 4, 600_000, "web", E.STOP, None, 0),
     Beat("A", "m2", 4, 600_000, "tv", E.SEEK, None, 0),
     Beat("B", "m2", 4, 600_000, "tv", E.STOP, None, 0)],
    # A mark at 0:00 holds the place, and loses to a later place.
    [Beat("A", "m1", 1, 0, "tv", E.WATCHED, None, 0),
     Beat("B", "m1", 6, 200_000, "tv", E.HEARTBEAT, None, 0)],
    # A hiding from one side stays on the other side's winner; equal all but the duration.
    [Beat("A", "m1", 2, 600_000, "tv", E.HEARTBEAT, None, 3),
     Beat("B", "m1", 5, 700_000, "phone", E.HEARTBEAT, None, 0),
     Beat("A", "m2", 3, 600_000, "tv", E.PAUSE, None, 0),
     Beat("B", "m2", 3, 600_000, "tv", E.PAUSE, 5_400_000, 0)],
    # Failed starts only, on both sides.
    [Beat("A", "m1", 2, 3_000, "tv", E.START, None, 0),
     Beat("B", "m1", 1, 0, "phone", E.START, None, 0)],
]  # fmt: skip


@pytest.fixture
def two_dcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """dc1 = 127.0.0.1, dc2 = 127.0.0.2, one replica of everything in each. Started once for
    every hypothesis example: a cut and heal restarts nodes, which takes long enough."""
    cluster = Cluster(tmp_path_factory.mktemp("cassandra-dcs"), nodes=2, dcs=2)
    try:
        cluster.start(STARTUP_S)
        create_keyspace(cluster, "playstate_dcs", cluster.replication(), "dc1")
        yield cluster
    finally:
        kill(cluster)


cycles = itertools.count(1)


def explain(
    a: Node,
    b: Node,
    keys: set[Key],
    expected: dict[Key, PlayState],
    written: dict[Side, list[PlayState]],
) -> str:
    lines = []
    with one_side(a) as on_a, one_side(b) as on_b:
        for key in sorted(keys):
            lines += [
                f"{key}: expected {expected[key]}",
                f"  dc1 read {on_a.get(*key)}",
                f"  dc2 read {on_b.get(*key)}",
                *(
                    f"  written {side}: {s}"
                    for side, states in written.items()
                    for s in states
                    if (s.profile_id, s.movie_id) == key
                ),
            ]
    return "\n".join(lines)


def one_side(node: Node) -> contextlib.AbstractContextManager[CassandraStore]:
    return store_on(
        [node], keyspace="playstate_dcs", write="LOCAL_ONE", read="LOCAL_ONE", only=True
    )


def write_all(store: CassandraStore, states: list[PlayState]) -> None:
    for chunk in in_chunks(states, 16):
        store.write(chunk)


def differing(node: Node, expected: dict[Key, PlayState]) -> list[Key]:
    with one_side(node) as store:
        return [key for key, state in expected.items() if store.get(*key) != state]


@hypothesis_settings(
    max_examples=PARTITION_CYCLES,
    deadline=None,
    # No shrinking: every step is a cut and a heal, two node restarts.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(histories=histories, cut_b_first=st.booleans())
@example(histories=TIES, cut_b_first=True)
def test_two_data_centres_cut_apart_converge_to_the_newest_state_of_every_title(
    two_dcs: Cluster,
    tmp_path_factory: pytest.TempPathFactory,
    histories: list[list[Beat]],
    cut_b_first: bool,
) -> None:
    started = time.monotonic()
    cycle = next(cycles)
    a, b = two_dcs.members
    written: dict[Side, list[PlayState]] = {"both": [], "A": [], "B": []}
    for i, history in enumerate(histories):
        for beat in history:
            written[beat.side].append(beat.state(f"c{cycle}-p{i}"))
    everything = [s for states in written.values() for s in states]
    expected = {
        (s.profile_id, s.movie_id): s
        for states in (
            latest_per_title(s for s in everything if s.profile_id == f"c{cycle}-p{i}")
            for i in range(len(histories))
        )
        for s in states.values()
    }

    # Before the cut, through either side.
    with one_side(a) as on_a:
        write_all(on_a, written["both"][::2])
    with one_side(b) as on_b:
        write_all(on_b, written["both"][1::2])
    # The cut: one side alone takes its writes, then the other alone takes its own.
    order: list[tuple[Node, Side]] = [(a, "A"), (b, "B")] if cut_b_first else [(b, "B"), (a, "A")]
    first, second = order
    second[0].stop()
    with one_side(first[0]) as alone:
        write_all(alone, written[first[1]])
    first[0].stop()
    restart(second[0])
    with one_side(second[0]) as alone:
        write_all(alone, written[second[1]])
    hints_flushed_since(time.monotonic())
    # Heal: both up, each delivers its hints for the other, then a full repair.
    restart(first[0])
    wait_until(lambda: all_up(a, 2) and all_up(b, 2), CATCH_UP_S, "both data centres up")
    # Hints alone, measured by what each side reads (pending_hints does not list a file
    # while it is being dispatched); repair follows whatever they did.
    hints_started = time.monotonic()
    after_hints = (len(differing(a, expected)), len(differing(b, expected)))
    while after_hints != (0, 0) and time.monotonic() - hints_started < HINTS_ALONE_S:
        time.sleep(2)
        after_hints = (len(differing(a, expected)), len(differing(b, expected)))
    hinted = time.monotonic() - hints_started
    repair_started = time.monotonic()
    a.nodetool("repair", "-full", "playstate_dcs")
    repair_s = time.monotonic() - repair_started
    lost_a, lost_b = differing(a, expected), differing(b, expected)

    cut = "dc2 down, dc1 wrote; then dc1 down, dc2 wrote"
    if not cut_b_first:
        cut = "dc1 down, dc2 wrote; then dc2 down, dc1 wrote"
    ties = sum(
        1
        for key, winner in expected.items()
        if sum(
            (s.profile_id, s.movie_id) == key
            and s.client_request_time == winner.client_request_time
            and s.significant == winner.significant
            for s in everything
        )
        > 1
    )
    if cycle == 1:
        report(
            tmp_path_factory,
            "| cycle | cut | profiles / titles | heartbeats both / dc1 only / dc2 only"
            " | titles whose winner tied on time | hints alone: waited | then differing"
            " dc1 / dc2 | repair | lost after repair dc1 / dc2 | cycle s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        )
    report(
        tmp_path_factory,
        f"| {cycle} | {cut} | {len(histories)} / {len(expected)}"
        f" | {len(written['both'])} / {len(written['A'])} / {len(written['B'])} | {ties}"
        f" | {hinted:.0f}s | {after_hints[0]} / {after_hints[1]} | {repair_s:.0f}s"
        f" | {len(lost_a)} / {len(lost_b)} | {time.monotonic() - started:.0f} |",
    )
    assert (lost_a, lost_b) == ([], []), explain(a, b, set(lost_a + lost_b), expected, written)
