"""Faults while heartbeats keep coming, with real processes: the Cassandra node dies and comes
back, a worker freezes and is killed mid-flush, a web process is killed mid-request. Ingest
goes on where it can; nothing half-applied, nothing acknowledged lost."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.cassandra import Node
from tests.e2e.conftest import TITLES, Viewers, backlog, metrics, start_stack, wait_for
from tests.stack import Stack

pytestmark = pytest.mark.e2e

KEYSPACE = "playstate_faults"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A node of its own, to kill."""
    node = Node(tmp_path_factory.mktemp("doomed-node"))
    node.start()
    node.wait_ready()
    yield node
    node.stop()


def cassandra_rows(node: Node) -> dict[str, tuple[int, int]]:
    from cassandra.cluster import Cluster

    cluster = Cluster(["127.0.0.1"], port=node.port)
    try:
        rows = cluster.connect().execute(
            f"SELECT movie_id, position_ms, writetime(position_ms) FROM {KEYSPACE}.live_vh"
            " WHERE profile_id = 'alice-tv'"
        )
        return {row[0]: (row[1], row[2]) for row in rows}
    finally:
        cluster.shutdown()


def test_the_cassandra_node_dies_while_heartbeats_keep_coming(
    tmp_path_factory: pytest.TempPathFactory, node: Node
) -> None:
    stack = start_stack(
        tmp_path_factory,
        "cassandra-fault",
        PLAYSTATE_STORE="cassandra",
        CASSANDRA_HOSTS=f"127.0.0.1:{node.port}",
        CASSANDRA_KEYSPACE=KEYSPACE,
        CASSANDRA_REQUEST_TIMEOUT="1",
        CASSANDRA_CONNECT_TIMEOUT="1",
    )
    try:
        token = stack.manage("issue_token", "alice", "--profile", "alice-tv").strip()
        viewers = Viewers(stack.url, token)
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=stack.url, headers=auth, timeout=10) as http:
            viewers.start()
            time.sleep(3)
            assert node.process is not None
            node.process.kill()  # as a crash
            node.process.wait(10)
            wait_for(lambda: http.get("/readyz").json()["store"] != "ok", timeout=15)
            time.sleep(5)  # heartbeats keep coming with the store gone
            resumed = http.get("/api/v1/profiles/alice-tv/positions/t1").json()
            assert (resumed["source"], resumed["position_ms"] > 0) == ("cache", True)
            readiness = http.get("/readyz")
            assert readiness.status_code == 503
            assert readiness.json()["redis"] == "ok"
            assert backlog(http) > 0

            node.start()  # how an operator brings it back: the same data directory
            node.wait_ready()
            time.sleep(3)
            viewers.stop()
            wait_for(lambda: backlog(http) == 0, timeout=90)
            # Back for good: ready every time it is asked, not now and then.
            wait_for(lambda: http.get("/readyz").status_code == 200, timeout=30)
            assert [http.get("/readyz").status_code for _ in range(20)] == [200] * 20

        assert set(viewers.answers) == {202}, "ingest refused heartbeats while the store was down"
        rows = cassandra_rows(node)
        assert set(rows) == {f"t{i}" for i in range(TITLES)}  # every title in the table
        assert {movie: position for movie, (position, _) in rows.items()} == viewers.acknowledged
        worker_log = (stack.directory / "worker.log").read_text()
        assert worker_log.count("is unavailable") <= 2
        assert "answers again" in worker_log
        assert "Traceback" not in worker_log
    finally:
        stack.stop()


def test_a_worker_frozen_then_killed_mid_flush_loses_nothing(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    stack = start_stack(tmp_path_factory, "frozen-worker")
    try:
        token = stack.manage("issue_token", "alice", "--profile", "alice-tv").strip()
        viewers = Viewers(stack.url, token)
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=stack.url, headers=auth, timeout=10) as http:
            viewers.start()
            time.sleep(2)
            worker = stack.processes["worker"]
            os.killpg(worker.pid, signal.SIGSTOP)  # frozen, perhaps holding claims
            time.sleep(2)
            stack.kill("worker")
            stack.start_worker()
            stack.wait_for_worker()
            time.sleep(2)
            viewers.stop()
            wait_for(lambda: backlog(http) == 0, timeout=60)
            stack.redis_client().flushdb()  # what remains to read is the store's
            for movie, position in viewers.acknowledged.items():
                answer = http.get(f"/api/v1/profiles/alice-tv/positions/{movie}").json()
                assert (answer["source"], answer["position_ms"]) == ("store", position), movie
        assert set(viewers.answers) == {202}
    finally:
        stack.stop()


def web_children(stack: Stack) -> list[int]:
    """The server's worker processes (not multiprocessing's resource tracker)."""
    parent = stack.processes["web"].pid
    found = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    children = []
    for pid in map(int, found.stdout.split()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:  # gone between pgrep and now (a worker being replaced)
            continue
        if b"resource_tracker" not in command:
            children.append(pid)
    return children


def test_a_web_process_killed_mid_request_loses_nothing(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    stack = start_stack(tmp_path_factory, "killed-web")
    try:
        token = stack.manage("issue_token", "alice", "--profile", "alice-tv").strip()
        viewers = Viewers(stack.url, token)
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=stack.url, headers=auth, timeout=10) as http:
            viewers.start()
            time.sleep(2)
            children = web_children(stack)
            assert len(children) == 2
            os.kill(children[0], signal.SIGKILL)
            # The server starts another worker process in its place.
            wait_for(
                lambda: len(web_children(stack)) == 2 and children[0] not in web_children(stack),
                timeout=30,
            )
            time.sleep(2)
            viewers.stop()
            wait_for(lambda: backlog(http) == 0, timeout=60)
            for movie, position in viewers.acknowledged.items():
                answer = http.get(f"/api/v1/profiles/alice-tv/positions/{movie}").json()
                assert answer["position_ms"] == position, movie
            counts = metrics(http)
        # A retried request whose first try was applied is acknowledged as a duplicate, once.
        assert counts["playstate_heartbeats_duplicate_total"] <= viewers.unanswered
        assert set(viewers.answers) == {202}
    finally:
        stack.stop()
