"""The settings a heartbeat reads, as plain attributes of one object per process.

Django's `settings` is a LazyObject: each read goes through a Python-level `__getattribute__`
(0.4 to 0.7 µs here, against 0.06 µs for a plain attribute), and a heartbeat on the fast path
read thirteen, ≈ 3% of its web CPU. The snapshot is taken at the first read and again after a
setting changes (Django sends `setting_changed` for `override_settings` and pytest-django's
`settings`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


@dataclass(frozen=True, slots=True)
class HotSettings:
    hot_ttl_seconds: int
    coalesce_window_ms: int
    event_id_ttl_seconds: int
    ignore_start_ms: int
    max_clock_skew_ms: int
    hard_limit_profile_per_minute: int
    hard_limit_account_per_minute: int
    hot_wait_replicas: int
    hot_wait_timeout_ms: int
    hot_redis_cluster: bool


@functools.cache
def hot_settings() -> HotSettings:
    return HotSettings(
        hot_ttl_seconds=settings.PLAYSTATE_HOT_TTL_SECONDS,
        coalesce_window_ms=settings.PLAYSTATE_COALESCE_WINDOW_MS,
        event_id_ttl_seconds=settings.PLAYSTATE_EVENT_ID_TTL_SECONDS,
        ignore_start_ms=settings.PLAYSTATE_IGNORE_START_MS,
        max_clock_skew_ms=settings.PLAYSTATE_MAX_CLOCK_SKEW_MS,
        hard_limit_profile_per_minute=settings.PLAYSTATE_HARD_LIMIT_PROFILE_PER_MINUTE,
        hard_limit_account_per_minute=settings.PLAYSTATE_HARD_LIMIT_ACCOUNT_PER_MINUTE,
        hot_wait_replicas=settings.PLAYSTATE_HOT_WAIT_REPLICAS,
        hot_wait_timeout_ms=settings.PLAYSTATE_HOT_WAIT_TIMEOUT_MS,
        hot_redis_cluster=bool(settings.PLAYSTATE_HOT_REDIS_CLUSTER),
    )


@receiver(setting_changed)
def _setting_changed(**kwargs: Any) -> None:
    hot_settings.cache_clear()
