"""`make bench` (second part): write throughput of the persistent stores, and how long a
local Cassandra node takes to start.

Each store writes the same states: a flush as the workers send it (many profiles at once,
one call) and one state per call. The Cassandra node is started here by the project's
launcher unless CASSANDRA_HOSTS names one.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import django
from tqdm import tqdm

from bench import record

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
STATES = int(os.environ.get("BENCH_STORE_STATES", "20000"))
FLUSH = 500  # the workers' claim size (PLAYSTATE_FLUSH_BATCH)


def _states(offset: int, *, profiles: int = 2000) -> list[Any]:
    """STATES states, the profiles taking turns; with few profiles a flush holds many titles
    of each (a household binge, a backlog after an outage)."""
    from core.domain import EventType, PlayState

    t = 1_800_000_000_000 + offset
    return [
        PlayState(
            f"bench-{i % profiles}",
            f"t{i // profiles}",
            i,
            t + i,
            "tv",
            EventType.HEARTBEAT,
            6_000_000,
        )
        for i in range(STATES)
    ]


def _heavy_year() -> list[Any]:
    """A heavy profile's year: four titles a day (series in order, some films), three devices."""
    from core.domain import EventType, PlayState

    start, day = 1_700_000_000_000, 86_400_000
    year = []
    for d in range(365):
        for k in range(4):
            n = d * 4 + k
            movie = (
                f"film-{n:05d}" if k == 3 else f"series-{n % 40:02d}.s{n // 400:02d}e{n % 10:02d}"
            )
            year.append(
                PlayState(
                    "heavy", f"{movie}-{n}", 2_400_000 + (n * 7919) % 600_000,
                    start + d * day + k * 3_000_000, ("tv", "phone", "laptop")[n % 3],
                    EventType.STOP, 2_700_000,
                )
            )  # fmt: skip
    return year


def _history_ms(store: Any) -> float:
    from history.selectors import stored_records

    runs = []
    for _ in range(15):
        started = time.perf_counter()
        stored_records(store, "heavy", store.changed_since("heavy", -1))
        runs.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(runs), 2)


def _history(store: Any) -> dict[str, float]:
    from history import codec
    from history.compaction import compact_profile, live_bytes

    year = _heavy_year()
    store.write(year)
    live_ms = _history_ms(store)
    compact_profile(store, "heavy", cutoff_ms=year[-1].client_request_time + 1)
    return {
        "titles": len(year),
        "livevh_bytes": live_bytes(year),
        "compressedvh_zstd_bytes": len(codec.encode(year, compressor=codec.ZSTD)),
        "compressedvh_zlib_bytes": len(codec.encode(year, compressor=codec.ZLIB)),
        "history_read_ms_livevh": live_ms,
        "history_read_ms_compressedvh": _history_ms(store),
    }


def _rate(write: Callable[[Sequence[Any]], int], states: list[Any], size: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(states), size):
        write(states[i : i + size])
    return len(states) / (time.perf_counter() - started)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="playstate-store-bench-") as tmp:
        from scripts.cassandra import Node

        node = None
        hosts = os.environ.get("CASSANDRA_HOSTS", "")
        start_seconds = None
        if not hosts:
            node = Node(Path(tmp) / "cassandra")
            node.start()
            start_seconds = node.wait_ready()
            hosts = f"127.0.0.1:{node.port}"
        try:
            os.environ.update(
                CASSANDRA_HOSTS=hosts,
                CASSANDRA_KEYSPACE="playstate_bench",
                DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3",
                PLAYSTATE_DATA_DIR=tmp,
                DJANGO_SETTINGS_MODULE="config.settings",
            )
            manage = [sys.executable, "manage.py"]
            subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, check=True)
            subprocess.run([*manage, "sync_cassandra"], cwd=ROOT, check=True, capture_output=True)
            django.setup()
            from history.cql.store import CassandraStore
            from history.sql import SqlStore

            figures: dict[str, dict[str, float]] = {}
            # A step per phase, on a terminal (stderr); nothing otherwise.
            progress = tqdm(total=4, unit=" phases", disable=None)

            def phase(name: str) -> None:
                progress.set_description(name)
                progress.update()

            for name, store in (("sql", SqlStore()), ("cassandra", CassandraStore())):
                phase(f"{name}: writes")
                store.write(_states(0)[:100])  # warm up: connections, prepared statements
                figures[name] = {
                    "batched_writes_per_s": round(_rate(store.write, _states(10**7), FLUSH)),
                    "single_writes_per_s": round(
                        _rate(store.write, _states(2 * 10**7)[: STATES // 4], 1)
                    ),
                }
            phase("a heavy year's history")
            history = {"sql": _history(SqlStore()), "cassandra": _history(CassandraStore())}
            phase("cassandra: batches per partition")
            crowded = _states(3 * 10**7, profiles=20)  # 25 titles per profile in a flush
            for batched, key in ((True, "partition_batches"), (False, "no_batches")):
                store = CassandraStore(batch_partitions=batched)
                figures["cassandra"][f"{key}_writes_per_s"] = round(
                    _rate(store.write, crowded, FLUSH)
                )
            progress.close()
            session = CassandraStore().session
            session.execute("DROP KEYSPACE IF EXISTS playstate_bench")
            session.cluster.shutdown()
        finally:
            if node is not None:
                node.stop()
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "states": STATES,
        "flush_size": FLUSH,
        "cassandra_node_start_s": None if start_seconds is None else round(start_seconds, 1),
        "stores": figures,
        "heavy_profile_year": history,
    }
    path = record.save("store", result)
    print(f"{'store':<10} {'flushes of 500 (writes/s)':>26} {'one per call':>13}")
    for name, f in figures.items():
        print(f"{name:<10} {f['batched_writes_per_s']:>26} {f['single_writes_per_s']:>13}")
    c = figures["cassandra"]
    print(
        f"cassandra, 25 titles per profile per flush: {c['partition_batches_writes_per_s']}"
        f" writes/s with one batch per partition, {c['no_batches_writes_per_s']} without"
    )
    for name, h in history.items():
        print(
            f"{name}: a heavy year ({h['titles']} titles) is {h['livevh_bytes']} bytes as LiveVH,"
            f" {h['compressedvh_zstd_bytes']} as CompressedVH (zstd; zlib"
            f" {h['compressedvh_zlib_bytes']}); history read {h['history_read_ms_livevh']} ms"
            f" from LiveVH, {h['history_read_ms_compressedvh']} ms from CompressedVH"
        )
    if start_seconds is not None:
        print(f"local Cassandra node ready in {start_seconds:.1f}s")
    print(f"figures written to bench/results/{path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
