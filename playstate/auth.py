"""Bearer tokens, with a per-process cache so the heartbeat path costs no SQL query.

A cached token is trusted for `AUTH_CACHE_SECONDS`; revoking a token therefore takes effect
within that time. A profile missing from a cached entry triggers one refresh (at most once
a second per token), so a profile attached a moment ago works at once.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from playstate.models import ApiToken, Profile, hash_token

NOT_PROVIDED = "Authentication credentials were not provided."
INVALID = "Invalid token."
REFRESH_AFTER_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: int
    profile_ids: frozenset[str]
    loaded_at: float

    @property
    def is_authenticated(self) -> bool:
        return True


_cache: dict[str, tuple[Principal, float]] = {}
MAX_ENTRIES = 100_000


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _load(key_hash: str) -> Principal | None:
    token = ApiToken.objects.filter(key_hash=key_hash).values_list("account_id", flat=True)
    account_id = token.first()
    if account_id is None:
        return None
    profiles = Profile.objects.filter(account_id=account_id).values_list("profile_id", flat=True)
    return Principal(account_id, frozenset(profiles), time.monotonic())


def _cached(key_hash: str, profile_ids: Collection[str]) -> Principal | None:
    entry = _cache.get(key_hash)
    if entry is None:
        return None
    principal, expires = entry
    now = time.monotonic()
    if now >= expires:
        return None
    if now - principal.loaded_at > REFRESH_AFTER_SECONDS and not principal.profile_ids.issuperset(
        profile_ids
    ):
        return None
    return principal


def _store(key_hash: str, principal: Principal | None) -> None:
    if principal is None:
        _cache.pop(key_hash, None)
        return
    if len(_cache) >= MAX_ENTRIES:
        _cache.clear()
    _cache[key_hash] = (principal, time.monotonic() + settings.PLAYSTATE_AUTH_CACHE_SECONDS)


def principal_for_token(token: str, *, profile_ids: Collection[str] = ()) -> Principal | None:
    """The account behind a token; `profile_ids` are the profiles the caller is about to use."""
    key_hash = hash_token(token)
    if principal := _cached(key_hash, profile_ids):
        return principal
    principal = _load(key_hash)
    _store(key_hash, principal)
    return principal


async def aprincipal_for_token(
    token: str, *, profile_ids: Collection[str] = ()
) -> Principal | None:
    key_hash = hash_token(token)
    if principal := _cached(key_hash, profile_ids):
        return principal
    principal = await sync_to_async(_load)(key_hash)
    _store(key_hash, principal)
    return principal


def clear_cache() -> None:
    _cache.clear()


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Principal, str] | None:
        header = request.headers.get("Authorization")
        if not header:
            return None
        token = bearer_token(header)
        if token is None:
            raise exceptions.AuthenticationFailed(INVALID)
        profile_id = request.parser_context["kwargs"].get("profile_id")
        principal = principal_for_token(token, profile_ids=[profile_id] if profile_id else ())
        if principal is None:
            raise exceptions.AuthenticationFailed(INVALID)
        return principal, token

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"
