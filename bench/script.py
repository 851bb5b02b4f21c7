"""What the ingest script costs Redis, alone: `python -m bench.script` starts a Redis server as
the stack runs it (append-only file, `everysec`), makes 5,000 profiles' titles hot, then sends
20,000 steady heartbeats one at a time through `hotlayer.ingest`, and reports per heartbeat the
server's CPU time (`INFO cpu`, which a busy machine inflates less than a command's wall time),
the commands run inside the script, the bytes added to the append-only file, and the memory per
profile. Nothing else runs against that server, so two versions of the script compare here
within a few per cent; run it a few times and read the medians.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import django
import redis

from tests.stack import RedisServer

PROFILES = 5_000
HEARTBEATS = 20_000
NOW = 1_800_000_000_000


async def _run() -> None:
    from core.domain import EventType, PlayState
    from playstate import hotlayer
    from playstate.hotlayer import IngestItem, Limits

    async def send(profile: int, position: int, at: int, *, may_create: bool = False) -> None:
        state = PlayState(f"p{profile}", "m1", position, at, "tv", EventType.HEARTBEAT, 3_600_000)
        limits = Limits(profile, {f"p{profile}": (1_000, 1_000)})
        outcome = await hotlayer.ingest(
            [IngestItem(state, None)], now_ms=at, counters={}, limits=limits, may_create=may_create
        )
        assert outcome.codes == [hotlayer.APPLIED], outcome

    for profile in range(PROFILES):
        await send(profile, 1_000, NOW, may_create=True)
    client = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
    client.config_resetstat()
    cpu, aof = client.info("cpu"), client.info("persistence")["aof_current_size"]
    for k in range(HEARTBEATS):
        await send(k % PROFILES, 1_001 + k, NOW + 10_000 * (k // PROFILES + 1))
    after = client.info("cpu")
    used = sum(after[name] - cpu[name] for name in ("used_cpu_sys", "used_cpu_user"))
    inside = {
        name.removeprefix("cmdstat_"): stats["calls"] / HEARTBEATS
        for name, stats in client.info("commandstats").items()
        if name != "cmdstat_evalsha" and stats["calls"] >= HEARTBEATS / 10
    }
    grown = client.info("persistence")["aof_current_size"] - aof
    print(f"Redis CPU per heartbeat: {used / HEARTBEATS * 1e6:.1f} µs")
    print(f"commands inside the script: {sum(inside.values()):.1f}", end=" ")
    print("(" + ", ".join(f"{n} {c:.2f}" for n, c in sorted(inside.items())) + ")")
    print(f"append-only file: {grown / HEARTBEATS:.0f} bytes per heartbeat")
    print(f"memory: {client.info('memory')['used_memory'] / PROFILES:.0f} bytes per profile")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="playstate-script-bench-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            os.environ.update(
                DJANGO_SETTINGS_MODULE="config.settings",
                REDIS_URL=server.url,
                PLAYSTATE_HARD_LIMIT_PROFILE_PER_MINUTE="100000",
                PLAYSTATE_HARD_LIMIT_ACCOUNT_PER_MINUTE="100000",
            )
            django.setup()
            asyncio.run(_run())
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
