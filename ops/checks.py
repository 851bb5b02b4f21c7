"""Deployment checks of our own (`manage.py check --deploy`), beside Django's."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def secret_key_is_set(**_: Any) -> list[CheckMessage]:
    """Without SECRET_KEY each host makes a key of its own (config/settings.py): a session or
    a signed value one host made is refused by the next."""
    if os.environ.get("SECRET_KEY"):
        return []
    return [
        Warning(
            "SECRET_KEY is not set: this host made a key of its own, which other hosts do"
            " not share.",
            hint="Set the same SECRET_KEY on every host (README, 'Production profile').",
            id="playstate.W001",
        )
    ]


IGNORE_START_MAX_MS = 180_000


@register()
def ignore_start_is_at_most_three_minutes(**_: Any) -> list[CheckMessage]:
    """Contract section 9: a position below it never replaces one beyond it; past three
    minutes, someone who watched four and stopped would lose their place to a stray start."""
    if 0 <= settings.PLAYSTATE_IGNORE_START_MS <= IGNORE_START_MAX_MS:
        return []
    return [
        Error(
            f"PLAYSTATE_IGNORE_START_MS is {settings.PLAYSTATE_IGNORE_START_MS}: it must be"
            f" between 0 and {IGNORE_START_MAX_MS} (3 minutes).",
            id="playstate.E001",
        )
    ]
