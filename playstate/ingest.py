"""Heartbeat ingest: validate, authenticate, one Redis script call, `202`.

The path: `config/fastpath.py` (or `api.HeartbeatCreateApi`) → `heartbeats_ingest` → the
hot layer's ingest script, which applies last-write-wins, spends the rate-limit tokens and
puts each new winner in the pending set. A worker persists it later (`flush.py`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError
from redis.exceptions import RedisError

from accounts.auth import NOT_YOURS, AuthUnavailable, Principal, Unauthenticated, authenticate
from catalog.titles import durations, titles
from core.clock import now_ms
from core.domain import URGENT_EVENTS, EventType, PlayState, to_millis
from core.hotsettings import hot_settings
from core.outages import OutageLog
from core.payloads import FieldErrors, field_errors
from history.store import StoreUnavailable
from playstate import events, hotlayer, metrics, ratelimit
from playstate.hotlayer import APPLIED, IngestItem, IngestOutcome
from playstate.schemas import (
    MAX_BATCH,
    ApiResult,
    Heartbeat,
    IngestResult,
    RateLimited,
    Rejected,
    bad_request,
    forbidden,
    unauthorized,
    unavailable,
)
from playstate.stored import stored_get_many
from playstate.tasks import flush_pending_task

logger = logging.getLogger(__name__)

# Not "refused": a Redis that stalled may still run a script the service stopped waiting for.
# Sent again, a heartbeat changes nothing it already changed.
CANNOT_TAKE = (
    "The service could not take or confirm these heartbeats right now; send them again"
    " shortly (a repeat changes nothing)."
)
outages = OutageLog(logger, "heartbeats are answered 503 until it is back")


@dataclass(frozen=True, slots=True)
class Rejection:
    errors: dict[str, list[str]]
    # The metrics label: invalid | forbidden | clock_skew | out_of_range
    reason: str


def parse_heartbeat(raw: object) -> Heartbeat | Rejection:
    """Types and ranges, which need no outside knowledge."""
    try:
        return Heartbeat.model_validate(raw)
    except ValidationError as error:
        return Rejection(field_errors(error), "invalid")


def check_context(
    heartbeat: Heartbeat,
    *,
    profile_ids: frozenset[str],
    duration_ms: int | None,
    now_ms: int,
    max_clock_skew_ms: int,
) -> IngestItem | Rejection:
    """What depends on the caller, the catalog and the clock."""
    client_request_time = to_millis(heartbeat.client_request_time)
    position_ms = heartbeat.video_timestamp_ms
    if heartbeat.profile_id not in profile_ids:
        return Rejection({"profile_id": [NOT_YOURS]}, "forbidden")
    if client_request_time > now_ms + max_clock_skew_ms:
        return Rejection(
            {"client_request_time": ["Is too far in the future; check the device clock."]},
            "clock_skew",
        )
    if duration_ms is not None and position_ms > duration_ms:
        return Rejection(
            {"video_timestamp_ms": [f"Must not exceed the title's duration ({duration_ms} ms)."]},
            "out_of_range",
        )
    event = EventType(heartbeat.event_type)
    state = PlayState(
        profile_id=heartbeat.profile_id,
        movie_id=heartbeat.movie_id,
        position_ms=position_ms,
        client_request_time=client_request_time,
        device_id=heartbeat.device_id,
        event_type=event,
        duration_ms=duration_ms,
        significant=hotlayer.significant(position_ms, event),
    )
    return IngestItem(state, heartbeat.event_id)


@dataclass(slots=True)
class _Plan:
    """What one request asks for, checked: the valid heartbeats and the refusals."""

    batch: bool
    items: list[Heartbeat | Rejection]
    accepted: list[IngestItem] = field(default_factory=list)
    rejected: list[tuple[int, Rejection]] = field(default_factory=list)

    @property
    def profile_ids(self) -> set[str]:
        return {i.profile_id for i in self.items if isinstance(i, Heartbeat)}

    @property
    def movie_ids(self) -> set[str]:
        return {i.movie_id for i in self.items if isinstance(i, Heartbeat)}

    def check(self, principal: Principal, catalog: dict[str, int | None]) -> None:
        now, max_clock_skew_ms = now_ms(), hot_settings().max_clock_skew_ms
        for index, item in enumerate(self.items):
            checked = (
                check_context(
                    item,
                    profile_ids=principal.profile_ids,
                    duration_ms=catalog.get(item.movie_id),
                    now_ms=now,
                    max_clock_skew_ms=max_clock_skew_ms,
                )
                if isinstance(item, Heartbeat)
                else item
            )
            if isinstance(checked, IngestItem):
                self.accepted.append(checked)
            else:
                self.rejected.append((index, checked))

    @property
    def counters(self) -> dict[str, int]:
        # The refusals; the ingest script counts the rest (received and accepted are sums).
        counts: dict[str, int] = {}
        for _, rejection in self.rejected:
            key = metrics.rejected(rejection.reason)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def limits(self, principal: Principal, snapshot: ratelimit.Snapshot) -> hotlayer.Limits:
        per_profile = {}
        for profile_id in self.profile_ids:
            limit = ratelimit.limit_for(snapshot, profile_id)
            per_profile[profile_id] = (limit.burst, limit.per_minute)
        return hotlayer.Limits(principal.account_id, per_profile)

    def result(self, outcome: IngestOutcome | None = None) -> ApiResult:
        if not self.batch and self.rejected:
            rejection = self.rejected[0][1]
            if rejection.reason == "forbidden":
                return forbidden(NOT_YOURS)
            return ApiResult(400, FieldErrors(rejection.errors))
        codes = outcome.codes if outcome else []
        limited = codes.count(hotlayer.RATE_LIMITED)
        if limited and limited == len(self.items):
            assert outcome is not None
            return ApiResult(
                429,
                RateLimited(
                    detail="Too many heartbeats for this profile; retry later.",
                    rate_limited=limited,
                ),
                {"Retry-After": str(max(1, math.ceil(outcome.retry_after_ms / 1000)))},
            )
        return ApiResult(
            202,
            IngestResult(
                accepted=sum(code in hotlayer.ACCEPTED for code in codes),
                rejected=[Rejected(index=i, errors=r.errors) for i, r in self.rejected],
                rate_limited=limited,
            ),
        )


def _plan(payload: object) -> _Plan | ApiResult:
    if isinstance(payload, dict) and "heartbeats" in payload:
        items = payload["heartbeats"]
        if not isinstance(items, list) or not 0 < len(items) <= MAX_BATCH:
            return ApiResult(
                400,
                FieldErrors(
                    {"heartbeats": [f"Must be a list of 1 to {MAX_BATCH} heartbeat objects."]}
                ),
            )
        return _Plan(batch=True, items=[parse_heartbeat(item) for item in items])
    if not isinstance(payload, dict):
        return bad_request('Expected a heartbeat object or {"heartbeats": [...]}.')
    return _Plan(batch=False, items=[parse_heartbeat(payload)])


async def read_through(items: Sequence[IngestItem]) -> None:
    """Read cold titles through from the store into the cache (see hotlayer.COLD)."""
    keys = list({(i.state.profile_id, i.state.movie_id) for i in items})
    try:
        found = await stored_get_many(keys)
    except StoreUnavailable as error:
        # Degraded, not refused: the store still rejects a stale write when it is back.
        outages.failed("store", error)
        return
    outages.answered("store")
    await asyncio.gather(*(hotlayer.repair(state) for state in found if state is not None))


async def nudge() -> None:
    """Ask a worker to flush now (PAUSE/STOP/SEEK). The title is already in the durable
    pending set, so if this fails the next periodic flush still writes it."""
    try:
        await asyncio.to_thread(flush_pending_task.apply_async, retry=False)
    except Exception:
        logger.warning("could not enqueue a flush; the periodic flush will write it", exc_info=True)


async def announce(states: Sequence[PlayState]) -> None:
    """Tell the profile's other devices of deliberate actions (PAUSE, STOP, SEEK, the marks)
    as soon as the hot layer holds them, which every read answers from: a TV hears of the
    phone's pause without waiting for a worker's turn and the store's write. Plain heartbeats
    are told after the write, at most once per window (flush.py)."""
    urgent = [s for s in states if s.event_type in URGENT_EVENTS]
    if urgent:
        catalog = await titles({s.movie_id for s in urgent})
        await events.publish([events.update_message(s, catalog.get(s.movie_id)) for s in urgent])


def _with_retry(first: IngestOutcome, retry: IngestOutcome) -> IngestOutcome:
    """The first pass's outcome with its cold heartbeats' codes replaced by the retry's."""
    again = iter(retry.codes)
    codes = [next(again) if code == hotlayer.COLD else code for code in first.codes]
    return IngestOutcome(
        codes, first.nudge or retry.nudge, max(first.retry_after_ms, retry.retry_after_ms)
    )


async def heartbeats_ingest(*, authorization: str | None, payload: object) -> ApiResult:
    """Take one heartbeat or a batch, as parsed from the request's JSON body."""
    plan = _plan(payload)
    try:
        principal = await authenticate(
            authorization, profile_ids=plan.profile_ids if isinstance(plan, _Plan) else ()
        )
    except Unauthenticated as error:
        return unauthorized(error.detail)
    except AuthUnavailable:
        return unavailable(CANNOT_TAKE)
    if isinstance(plan, ApiResult):
        return plan
    plan.check(principal, await durations(plan.movie_ids))
    try:
        if not plan.accepted:
            await metrics.incr(plan.counters)
            return plan.result()
        limits = plan.limits(principal, await ratelimit.in_force())
        now = now_ms()
        if starting := await hotlayer.absent(plan.accepted):
            await read_through(starting)
        outcome = await hotlayer.ingest(
            plan.accepted,
            now_ms=now,
            counters=plan.counters,
            limits=limits,
            may_create={hotlayer.member(i.state.profile_id, i.state.movie_id) for i in starting},
        )
        cold = [
            i for i, code in zip(plan.accepted, outcome.codes, strict=True) if code == hotlayer.COLD
        ]
        if cold:
            await read_through(cold)
            retry = await hotlayer.ingest(
                cold, now_ms=now, counters={}, limits=limits, may_create=True, retrying_cold=True
            )
            outcome = _with_retry(outcome, retry)
        hotlayer.note_held(plan.accepted, outcome.codes)
    except RedisError as error:
        outages.failed("hot layer", error)  # once per outage, not a traceback per request
        return unavailable(CANNOT_TAKE) if plan.accepted else plan.result()
    outages.answered("hot layer")
    await announce(
        [i.state for i, code in zip(plan.accepted, outcome.codes, strict=True) if code == APPLIED]
    )
    if outcome.nudge:
        await nudge()
    return plan.result(outcome)
