from __future__ import annotations

from celery import shared_task
from django.conf import settings

from core.clock import now_ms
from history.compaction import compact_history


@shared_task(ignore_result=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def compact_history_task() -> None:
    compact_history(older_than_days=settings.PLAYSTATE_COMPACT_OLDER_THAN_DAYS, now_ms=now_ms())
