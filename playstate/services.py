"""Writes: heartbeat ingest, removal from Continue Watching, and the worker's flush.

The heartbeat's path: `api.py` / `fastpath.py` → `heartbeats_ingest` (validate, one Redis
script: the hot layer and the pending set) → `202`. A Celery worker then runs
`pending_flush` (`tasks.py`): it claims the titles that are due, writes their winning state
to the store, and releases them.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from redis.exceptions import RedisError

from history.store import get_store
from playstate import auth, catalog, hotlayer, metrics, ratelimit
from playstate.domain import PlayState
from playstate.validation import ClockBounds, Heartbeat, Rejection, validate_context, validate_shape
from sync import push

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "1"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class ApiResult:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def unauthorized(detail: str) -> ApiResult:
    return ApiResult(401, {"detail": detail}, {"WWW-Authenticate": "Bearer"})


def unavailable() -> ApiResult:
    return ApiResult(
        503,
        {"detail": "The service cannot take heartbeats right now; retry shortly."},
        {"Retry-After": RETRY_AFTER_SECONDS},
    )


def bad_request(detail: str) -> ApiResult:
    return ApiResult(400, {"detail": detail})


@dataclass(slots=True)
class _Plan:
    """What one request asks for, checked: the valid heartbeats and the refusals."""

    batch: bool
    items: list[Heartbeat | Rejection]
    accepted: list[Heartbeat] = field(default_factory=list)
    rejected: list[tuple[int, Rejection]] = field(default_factory=list)

    @property
    def profile_ids(self) -> set[str]:
        return {i.state.profile_id for i in self.items if isinstance(i, Heartbeat)}

    @property
    def movie_ids(self) -> set[str]:
        return {i.state.movie_id for i in self.items if isinstance(i, Heartbeat)}

    def check(self, principal: auth.Principal, durations: dict[str, int | None]) -> None:
        clock = ClockBounds(now_ms=now_ms(), max_clock_skew_ms=settings.PLAYSTATE_MAX_CLOCK_SKEW_MS)
        for index, item in enumerate(self.items):
            if isinstance(item, Heartbeat):
                item = validate_context(
                    item,
                    profile_ids=principal.profile_ids,
                    duration_ms=durations.get(item.state.movie_id),
                    clock=clock,
                )
            if isinstance(item, Heartbeat):
                self.accepted.append(item)
            else:
                self.rejected.append((index, item))

    @property
    def counters(self) -> dict[str, int]:
        # Accepted and rate-limited heartbeats are counted by the ingest script itself.
        counts = {"heartbeats_received": len(self.items)}
        for _, rejection in self.rejected:
            key = metrics.rejected(rejection.reason)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def limits(self, principal: auth.Principal, snapshot: ratelimit.Snapshot) -> hotlayer.Limits:
        per_profile = {}
        for profile_id in self.profile_ids:
            limit = ratelimit.limit_for(snapshot, profile_id)
            per_profile[profile_id] = (limit.burst, limit.per_minute)
        return hotlayer.Limits(principal.account_id, per_profile)

    def result(self, outcome: hotlayer.IngestOutcome | None = None) -> ApiResult:
        if not self.batch and self.rejected:
            rejection = self.rejected[0][1]
            if rejection.reason == "forbidden":
                return ApiResult(403, {"detail": rejection.errors["profile_id"][0]})
            return ApiResult(400, dict(rejection.errors))
        codes = outcome.codes if outcome else []
        limited = codes.count(hotlayer.RATE_LIMITED)
        if limited and limited == len(self.items):
            assert outcome is not None
            return ApiResult(
                429,
                {
                    "detail": "Too many heartbeats for this profile; retry later.",
                    "rate_limited": limited,
                },
                {"Retry-After": str(max(1, math.ceil(outcome.retry_after_ms / 1000)))},
            )
        return ApiResult(
            202,
            {
                "accepted": sum(code in hotlayer.ACCEPTED for code in codes),
                "rejected": [{"index": i, "errors": r.errors} for i, r in self.rejected],
                "rate_limited": limited,
            },
        )


def _plan(payload: object) -> _Plan | ApiResult:
    if isinstance(payload, dict) and "heartbeats" in payload:
        items = payload["heartbeats"]
        limit = settings.PLAYSTATE_MAX_BATCH
        if not isinstance(items, list) or not 0 < len(items) <= limit:
            return ApiResult(
                400, {"heartbeats": [f"Must be a list of 1 to {limit} heartbeat objects."]}
            )
        return _Plan(batch=True, items=[validate_shape(item) for item in items])
    if not isinstance(payload, dict):
        return bad_request('Expected a heartbeat object or {"heartbeats": [...]}.')
    return _Plan(batch=False, items=[validate_shape(payload)])


def _warm(heartbeats: Sequence[Heartbeat]) -> None:
    """Read cold titles through from the store into the cache (see hotlayer.COLD)."""
    store = get_store()
    for pair in {(h.state.profile_id, h.state.movie_id) for h in heartbeats}:
        try:
            stored = store.get(*pair)
        except store.errors:
            # Degraded, not refused: the store still rejects a stale write when it is back.
            logger.warning("store unreachable while warming %s/%s", *pair)
            continue
        if stored is not None:
            hotlayer.repair(stored)


def _nudge() -> None:
    """Ask a worker to flush now (PAUSE/STOP/SEEK). The title is already in the durable
    pending set, so if this fails the next periodic flush still writes it."""
    from playstate.tasks import flush_pending

    try:
        flush_pending.apply_async(retry=False)
    except Exception:
        logger.warning("could not enqueue a flush; the periodic flush will write it", exc_info=True)


def _cold(plan: _Plan, codes: list[int]) -> list[Heartbeat]:
    return [h for h, code in zip(plan.accepted, codes, strict=True) if code == hotlayer.COLD]


def _with_retry(
    first: hotlayer.IngestOutcome, retry: hotlayer.IngestOutcome
) -> hotlayer.IngestOutcome:
    """The first pass's outcome with its cold heartbeats' codes replaced by the retry's."""
    again = iter(retry.codes)
    codes = [next(again) if code == hotlayer.COLD else code for code in first.codes]
    return hotlayer.IngestOutcome(
        codes, first.nudge or retry.nudge, max(first.retry_after_ms, retry.retry_after_ms)
    )


def heartbeats_ingest(*, token: str | None, payload: object) -> ApiResult:
    plan = _plan(payload)
    if isinstance(plan, ApiResult):
        return plan
    principal = auth.principal_for_token(token, profile_ids=plan.profile_ids) if token else None
    if principal is None:
        return unauthorized(auth.INVALID if token else auth.NOT_PROVIDED)
    plan.check(principal, catalog.durations(plan.movie_ids))
    try:
        if not plan.accepted:
            metrics.incr(plan.counters)
            return plan.result()
        limits = plan.limits(principal, ratelimit.in_force())
        ingest = functools.partial(hotlayer.ingest, now_ms=now_ms(), limits=limits)
        outcome = ingest(plan.accepted, counters=plan.counters)
        if cold := _cold(plan, outcome.codes):
            _warm(cold)
            outcome = _with_retry(outcome, ingest(cold, counters={}, may_create=True))
    except RedisError:
        logger.warning("redis unreachable during ingest", exc_info=True)
        return unavailable() if plan.accepted else plan.result()
    if outcome.nudge:
        _nudge()
    return plan.result(outcome)


async def aheartbeats_ingest(*, token: str | None, payload: object) -> ApiResult:
    """`heartbeats_ingest` for the event loop of the fast path; the same steps, awaited."""
    plan = _plan(payload)
    if isinstance(plan, ApiResult):
        return plan
    principal = (
        await auth.aprincipal_for_token(token, profile_ids=plan.profile_ids) if token else None
    )
    if principal is None:
        return unauthorized(auth.INVALID if token else auth.NOT_PROVIDED)
    plan.check(principal, await catalog.adurations(plan.movie_ids))
    try:
        if not plan.accepted:
            await sync_to_async(metrics.incr)(plan.counters)
            return plan.result()
        limits = plan.limits(principal, await ratelimit.ain_force())
        ingest = functools.partial(hotlayer.aingest, now_ms=now_ms(), limits=limits)
        outcome = await ingest(plan.accepted, counters=plan.counters)
        if cold := _cold(plan, outcome.codes):
            await sync_to_async(_warm)(cold)
            outcome = _with_retry(outcome, await ingest(cold, counters={}, may_create=True))
    except RedisError:
        logger.warning("redis unreachable during ingest", exc_info=True)
        return unavailable() if plan.accepted else plan.result()
    if outcome.nudge:
        await sync_to_async(_nudge, thread_sensitive=False)()
    return plan.result(outcome)


def continue_watching_remove(*, profile_id: str, movie_id: str) -> None:
    """Hide a title from Continue Watching until a newer heartbeat for it arrives.

    Raises RedisError when the hot layer is down (the API answers 503)."""
    now = now_ms()
    if hotlayer.hide(profile_id, movie_id, now_ms=now):
        push.publish_removed(profile_id, movie_id)
        return
    store = get_store()
    stored = store.get(profile_id, movie_id)
    if stored is None:
        return
    hotlayer.repair(stored)
    hotlayer.hide(profile_id, movie_id, now_ms=now)
    push.publish_removed(profile_id, movie_id)


SUPPORT_DEVICE = "support"


def position_clear(*, account_id: int, profile_id: str, movie_id: str) -> None:
    """Support staff restart a title from the beginning: a newer state at position 0, sent
    the way a device's SEEK is, so it wins everywhere, is persisted at once and is pushed to
    the profile's devices. Raises RedisError when the hot layer is down."""
    duration = catalog.durations([movie_id]).get(movie_id)
    state = PlayState(profile_id, movie_id, 0, now_ms(), SUPPORT_DEVICE, "SEEK", duration)
    heartbeat = Heartbeat(state, None)
    _warm([heartbeat])
    limits = hotlayer.Limits(account_id, {profile_id: (1, 1)})  # a SEEK spends no tokens
    outcome = hotlayer.ingest(
        [heartbeat], now_ms=state.client_request_time, counters={}, limits=limits, may_create=True
    )
    if outcome.nudge:
        _nudge()


def pending_flush(*, limit: int | None = None) -> int:
    """Write the winning state of every due title to the store; return how many were claimed.

    A crash anywhere here leaves the claim in the inflight set, which goes back to pending
    when its lease runs out; writing a state twice is harmless (the store keeps the newest).
    """
    limit = limit or settings.PLAYSTATE_FLUSH_BATCH
    deadline, members = hotlayer.claim(now_ms=now_ms(), limit=limit)
    if not members:
        return 0
    states = hotlayer.get_states([hotlayer.split_member(m) for m in members])
    written = get_store().write(states)
    hotlayer.ack(members, deadline=deadline, written=written)
    # After the write, as Zulip does: a device never hears of a state the store lacks.
    push.publish_updates(states)
    return len(members)
