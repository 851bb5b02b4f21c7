from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models

from core.payloads import id_validator


class Profile(models.Model):
    """A viewer within an account (a household member); heartbeats name it by `profile_id`."""

    profile_id = models.CharField(max_length=64, unique=True, validators=[id_validator])
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profiles"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table the model had before it moved here from `playstate`.
        db_table = "playstate_profile"
        ordering = ["profile_id"]

    def __str__(self) -> str:
        return self.profile_id


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    """A Bearer token. Only its SHA-256 is stored, so a leaked database leaks no tokens."""

    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "playstate_apitoken"
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"token {self.key_hash[:8]}… of {self.account}"

    @classmethod
    def issue(cls, account: models.Model) -> str:
        token = secrets.token_urlsafe(32)
        cls.objects.create(key_hash=hash_token(token), account=account)
        return token
