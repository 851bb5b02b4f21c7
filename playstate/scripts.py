"""The Redis Lua scripts and their argument layouts, named once.

Each script's KEYS and ARGV layout is a NamedTuple here. The Lua side reads the same names
from a table this module writes in front of the script (`K.hot`, `A.now`; per-item offsets
`KI.hot`, `AI.pos`), so neither side counts positions by hand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, NamedTuple, TypeVar

import redis.asyncio
from redis.exceptions import NoScriptError

from core.redis import hot_client, hot_command

T = TypeVar("T")


class IngestKeys(NamedTuple):
    pending: str
    metrics: str


class IngestTitleKeys(NamedTuple):
    hot: str
    recent: str
    limits: str
    versions: str
    account: str  # its account's ceiling


class IngestItemKeys(NamedTuple):
    event: str


class IngestArgs(NamedTuple):
    now: int
    hot_ttl: int
    event_ttl: int
    items: int
    ignore_start: int
    versions_ttl: int
    profile_ceiling: int
    account_ceiling: int
    counting: int


class IngestTitleArgs(NamedTuple):
    items: int  # how many of the call's heartbeats follow, all of this title
    member: str
    due: int  # when a plain heartbeat's title is due in the store (hotlayer.due_ms)
    movie: str
    dur: int | str
    may_create: int
    burst: int
    per_minute: int


class IngestItemArgs(NamedTuple):
    pos: int
    crt: int
    dev: str
    evt: str
    sig: int
    event_id: str
    urgent: int


class RepairKeys(NamedTuple):
    hot: str
    recent: str
    versions: str


class RepairArgs(NamedTuple):
    sig: int
    pos: int
    crt: int
    dev: str
    evt: str
    dur: int | str
    hid: int
    fgt: int
    ttl: int
    movie: str
    ignore_start: int
    versions_ttl: int


class HideKeys(NamedTuple):
    hot: str
    pending: str
    removals: str


class HideArgs(NamedTuple):
    member: str
    now: int
    field: str
    movie: str
    removals_ttl: int


class ClaimKeys(NamedTuple):
    pending: str
    inflight: str


class ClaimArgs(NamedTuple):
    now: int
    lease: int
    limit: int
    due_by: int | str  # a time, or "+inf": everything pending


class AckKeys(NamedTuple):
    inflight: str


class AckArgs(NamedTuple):
    deadline: int


class CeilingKeys(NamedTuple):
    bucket: str


class CeilingArgs(NamedTuple):
    now: int
    per_minute: int
    n: int


class ReleaseKeys(NamedTuple):
    inflight: str
    pending: str


class ReleaseArgs(NamedTuple):
    deadline: int
    now: int


def _table(name: str, layout: type[tuple[Any, ...]], first: int) -> str:
    """`local K = {hot = 1, recent = 2}` and `local K_N = 2` for a layout."""
    names: tuple[str, ...] = layout._fields  # type: ignore[attr-defined]
    fields = ", ".join(f"{f} = {i}" for i, f in enumerate(names, start=first))
    return f"local {name} = {{{fields}}}\nlocal {name}_N = {len(names)}\n"


@dataclass(frozen=True)
class Script:
    """A Lua script with its layouts; fixed KEYS/ARGV are 1-based (`KEYS[K.hot]`), those of a
    group (a title) and of an item are offsets from its base (`KEYS[k + KG.hot]`,
    `ARGV[a + AI.pos]`)."""

    name: str
    keys: type[tuple[Any, ...]]
    args: type[tuple[Any, ...]]
    group_keys: type[tuple[Any, ...]] | None = None
    group_args: type[tuple[Any, ...]] | None = None
    item_keys: type[tuple[Any, ...]] | None = None
    item_args: type[tuple[Any, ...]] | None = None
    # Lua files prepended for the functions they define (compare.lua: newer(), bytes_gt();
    # buckets.lua: bucket_state(), spend(), save_buckets(); versions.lua: remember(),
    # leaving(), save_versions()).
    prelude: tuple[str, ...] = ()
    text: str = field(init=False)
    sha: str = field(init=False)  # what EVALSHA names it by

    def __post_init__(self) -> None:
        lua = files("playstate") / "lua"
        parts = [_table("K", self.keys, 1), _table("A", self.args, 1)]
        if self.group_keys and self.group_args:
            parts += [_table("KG", self.group_keys, 0), _table("AG", self.group_args, 0)]
        if self.item_keys and self.item_args:
            parts += [_table("KI", self.item_keys, 0), _table("AI", self.item_args, 0)]
        parts += [(lua / f"{name}.lua").read_text() for name in self.prelude]
        parts.append((lua / f"{self.name}.lua").read_text())
        object.__setattr__(self, "text", "".join(parts))
        object.__setattr__(self, "sha", hashlib.sha1(self.text.encode()).hexdigest())

    async def _loaded(self, send: Callable[[], Awaitable[T]]) -> T:
        """`send()`, and once more after loading the script if the server did not know it
        (a Redis restarted without its data, a replica promoted, a new cluster node)."""
        try:
            return await send()
        except NoScriptError:
            await hot_client().script_load(self.text)
            return await send()

    async def __call__(
        self, keys: Sequence[str], args: Sequence[str | int], *, batched: bool = True
    ) -> Any:
        """Run on the hot layer, pipelined with what else this process sends meanwhile
        (unless not `batched`: see `hot_command`)."""
        return await self._loaded(
            lambda: hot_command("EVALSHA", self.sha, len(keys), *keys, *args, batched=batched)
        )

    async def replicated(
        self, keys: Sequence[str], args: Sequence[str | int], *, replicas: int, timeout_ms: int
    ) -> tuple[Any, int]:
        """Run, then WAIT on the same connection until `replicas` replicas have the write
        (or `timeout_ms` passed); returns the result and how many replicas confirmed."""
        client = hot_client()

        async def run_and_wait() -> list[Any]:
            pipe = client.pipeline(transaction=False)
            # (a cluster's pipeline refuses its evalsha method, not the command)
            pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
            if isinstance(client, redis.asyncio.RedisCluster):
                # WAIT names no key: it goes to the primary that ran the script, as the
                # slots are once read again if a failure asked for that (else a no-op).
                await client.initialize()
                node = client.get_node_from_key(keys[0])
                pipe.execute_command("WAIT", replicas, timeout_ms, target_nodes=node)
            else:
                pipe.execute_command("WAIT", replicas, timeout_ms)
            return await pipe.execute()

        result, confirmed = await self._loaded(run_and_wait)
        return result, int(confirmed)


INGEST = Script(
    "ingest",
    IngestKeys,
    IngestArgs,
    IngestTitleKeys,
    IngestTitleArgs,
    IngestItemKeys,
    IngestItemArgs,
    prelude=("compare", "buckets", "versions"),
)
REPAIR = Script("repair", RepairKeys, RepairArgs, prelude=("compare", "versions"))
HIDE = Script("hide", HideKeys, HideArgs)
CLAIM = Script("claim", ClaimKeys, ClaimArgs)
ACK = Script("ack", AckKeys, AckArgs)
RELEASE = Script("release", ReleaseKeys, ReleaseArgs)
CEILING = Script("ceiling", CeilingKeys, CeilingArgs, prelude=("buckets",))
