"""Deployment checks of our own (`manage.py check --deploy`), beside Django's."""

from __future__ import annotations

import os
from typing import Any

from django.core.checks import CheckMessage, Tags, Warning, register


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
