from __future__ import annotations

from typing import Protocol

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce

from accounts.models import Profile


class HasLimit(Protocol):
    @property
    def burst(self) -> int: ...

    @property
    def per_minute(self) -> int: ...


def describe(limit: HasLimit) -> str:
    return f"{limit.burst} burst, {limit.per_minute}/min"


class RateLimit(models.Model):
    """Plain heartbeats a profile may send: a token bucket of `burst` that refills at
    `per_minute`. The row without a profile is the default; a profile's own row overrides it.
    PAUSE, STOP and SEEK are never limited by these (only by the hard ceilings in settings)."""

    profile = models.OneToOneField(
        Profile,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rate_limit",
        help_text="Empty: the default for every profile without its own row.",
    )
    burst = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    per_minute = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One default row: profiles are unique already, and NULL counts as profile 0.
            models.UniqueConstraint(Coalesce("profile", Value(0)), name="ratelimit_one_default")
        ]

    def __str__(self) -> str:
        who = self.profile.profile_id if self.profile else "default"
        return f"{who}: {describe(self)}"
