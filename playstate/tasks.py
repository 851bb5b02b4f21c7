from __future__ import annotations

from celery import shared_task
from django.conf import settings

from playstate import services


@shared_task(ignore_result=True)
def flush_pending() -> int:
    """Persist the winners of due titles; go on while a full batch suggests more are due."""
    claimed = services.pending_flush()
    if claimed >= settings.PLAYSTATE_FLUSH_BATCH:
        flush_pending.apply_async()
    return claimed
