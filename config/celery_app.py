from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("playstate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
def _one_line_per_minute_for_beats_repeated_errors(**_: Any) -> None:
    """While the broker is down, beat fails every tick of every schedule with a traceback."""
    from ops.logging import RepeatedErrors

    logging.getLogger("celery.beat").addFilter(RepeatedErrors(seconds=60))
