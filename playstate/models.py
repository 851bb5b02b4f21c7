from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce

from playstate.domain import ID_PATTERN

id_validator = RegexValidator(ID_PATTERN, "1-64 characters of letters, digits, '_', '.', ':', '-'.")


class Profile(models.Model):
    """A viewer within an account (a household member); heartbeats name it by `profile_id`."""

    profile_id = models.CharField(max_length=64, unique=True, validators=[id_validator])
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profiles"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["profile_id"]

    def __str__(self) -> str:
        return self.profile_id


class Movie(models.Model):
    movie_id = models.CharField(max_length=64, unique=True, validators=[id_validator])
    title = models.CharField(max_length=300)
    duration_ms = models.BigIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        ordering = ["movie_id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.movie_id})"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    """A Bearer token. Only its SHA-256 is stored, so a leaked database leaks no tokens."""

    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"token {self.key_hash[:8]}… of {self.account}"

    @classmethod
    def issue(cls, account: models.Model) -> str:
        token = secrets.token_urlsafe(32)
        cls.objects.create(key_hash=hash_token(token), account=account)
        return token


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
        return f"{who}: {self.burst} burst, {self.per_minute}/min"
