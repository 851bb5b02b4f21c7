"""Bearer tokens, with a per-process cache so the heartbeat path costs no SQL query.

A cached token is trusted for `PLAYSTATE_AUTH_CACHE_SECONDS`; past that it is answered from
while a background task reloads it (core/refresh.py), so revoking a token takes effect within
that time and the moment a reload takes, and no request waits for SQL once its token was seen.
A profile missing from a cached entry triggers one refresh (at most once a second per token),
so a profile attached a moment ago works at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError
from rest_framework import authentication, exceptions, permissions

from accounts.models import ApiToken, Profile, hash_token
from core.loops import TurnBatch, per_loop
from core.outages import OutageLog, store_deadline
from core.payloads import ServiceUnavailable
from core.refresh import BATCH, BackgroundRefresh, stale_at

if TYPE_CHECKING:
    # DRF imports its default authentication class (this module's) from rest_framework.views.
    from rest_framework.request import Request
    from rest_framework.views import APIView

NOT_PROVIDED = "Authentication credentials were not provided."
INVALID = "Invalid token."
NOT_YOURS = "This profile does not belong to your account."
REFRESH_AFTER_SECONDS = 1.0
MAX_ENTRIES = 100_000
logger = logging.getLogger(__name__)
outages = OutageLog(logger, "tokens met before act as last read; others are answered 503")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a token acts for: an account and its profiles."""

    account_id: int
    profile_ids: frozenset[str]
    loaded_at: float

    @property
    def is_authenticated(self) -> bool:
        return True


# A token's entry: its account, its profiles, when they were read, when it goes stale. Plain
# tuples of numbers and strings, which the garbage collector stops tracking within a pass or
# two, so that its full passes need not walk the cache: as a Principal, with its frozenset,
# each token was three objects each full pass walked (6,000 tokens: full passes of 14-60 ms
# under load, stopping the event loop each time; a process of a large deployment sees many
# more tokens).
_Entry = tuple[int, tuple[str, ...], float, float]
_cache: dict[str, _Entry] = {}


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _load_many(key_hashes: set[str]) -> dict[str, Principal | None]:
    # A deactivated account's tokens stop working with it, as its password does.
    accounts = dict(
        ApiToken.objects.filter(key_hash__in=key_hashes, account__is_active=True).values_list(
            "key_hash", "account_id"
        )
    )
    profiles: dict[int, set[str]] = {account_id: set() for account_id in accounts.values()}
    for account_id, profile_id in Profile.objects.filter(account_id__in=profiles).values_list(
        "account_id", "profile_id"
    ):
        profiles[account_id].add(profile_id)
    now = time.monotonic()
    return {
        key_hash: None
        if key_hash not in accounts
        else Principal(accounts[key_hash], frozenset(profiles[accounts[key_hash]]), now)
        for key_hash in key_hashes
    }


async def _load_together(key_hashes: list[str]) -> list[Principal | None]:
    loaded = await database_sync_to_async(_load_many)(set(key_hashes))
    return [loaded[key_hash] for key_hash in key_hashes]


# Tokens this process meets for the first time in one turn of its event loop: one query for
# all of them (a token in several of the turn's requests, once). A process that starts under
# load, or after a deploy, met each request's token with a query of its own: 15,000 of them
# for a population of 6,000 tokens, the database thread busy for half a minute.
_first_sights: dict[asyncio.AbstractEventLoop, TurnBatch[str, Principal | None]] = {}


async def _reload(key_hashes: set[str]) -> None:
    loaded = await database_sync_to_async(_load_many)(key_hashes)
    for key_hash, principal in loaded.items():
        _remember(key_hash, principal)


_refresh = BackgroundRefresh(_reload)


def _principal(entry: _Entry) -> Principal:
    account_id, profile_ids, loaded_at, _ = entry
    return Principal(account_id, frozenset(profile_ids), loaded_at)


def _cached(key_hash: str, profile_ids: Collection[str]) -> Principal | None:
    """The cached principal; one past its time is answered from while it is reloaded."""
    entry = _cache.get(key_hash)
    if entry is None:
        return None
    _, known, loaded_at, expires = entry
    now = time.monotonic()
    if now - loaded_at > REFRESH_AFTER_SECONDS and not all(p in known for p in profile_ids):
        return None
    if now >= expires:
        _refresh.add([key_hash])
    return _principal(entry)


def _remember(key_hash: str, principal: Principal | None) -> None:
    if principal is None:
        _cache.pop(key_hash, None)
        return
    if len(_cache) >= MAX_ENTRIES:
        _cache.clear()
    _cache[key_hash] = (
        principal.account_id,
        tuple(principal.profile_ids),
        principal.loaded_at,
        stale_at(settings.PLAYSTATE_AUTH_CACHE_SECONDS),
    )


class AuthUnavailable(Exception):
    """A token this process has not met, while the database does not answer: HTTP 503 (the
    resume read answers "play from the start", which tells nothing)."""


async def principal_for_token(token: str, *, profile_ids: Collection[str] = ()) -> Principal | None:
    """The account behind a token; `profile_ids` are the profiles the caller is about to use.
    While the database does not answer, a token met before acts as it was last read."""
    key_hash = hash_token(token)
    if cached := _cached(key_hash, profile_ids):
        return cached
    try:
        batch = per_loop(_first_sights, lambda: TurnBatch(_load_together, max_size=BATCH))
        async with store_deadline():
            principal = await batch.submit(key_hash)
    except (DatabaseError, TimeoutError) as error:
        outages.failed("database", error)
        if entry := _cache.get(key_hash):
            return _principal(entry)
        raise AuthUnavailable(str(error) or "no answer in time") from error
    outages.answered("database")
    _remember(key_hash, principal)
    return principal


class Unauthenticated(Exception):
    """No credentials, or credentials that name no account: HTTP 401."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def authenticate(authorization: str | None, *, profile_ids: Collection[str]) -> Principal:
    """The principal of an `Authorization: Bearer` header; raises Unauthenticated."""
    token = bearer_token(authorization)
    if token is None:
        raise Unauthenticated(INVALID if authorization else NOT_PROVIDED)
    principal = await principal_for_token(token, profile_ids=profile_ids)
    if principal is None:
        raise Unauthenticated(INVALID)
    return principal


def clear_cache() -> None:
    _cache.clear()
    _refresh.clear()


class Unavailable(ServiceUnavailable):
    default_detail = "The service cannot check credentials right now; retry shortly."


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """DRF's side of `authenticate`: the views' `request.user` is the Principal."""

    def authenticate(self, request: Request) -> tuple[Principal, None] | None:
        header = request.headers.get("Authorization")
        if not header:
            return None
        profile_id = request.parser_context["kwargs"].get("profile_id")
        try:
            principal = async_to_sync(authenticate)(
                header, profile_ids=[profile_id] if profile_id else ()
            )
        except Unauthenticated as error:
            raise exceptions.AuthenticationFailed(error.detail) from None
        except AuthUnavailable:
            raise Unavailable from None
        return principal, None

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class OwnsProfile(permissions.BasePermission):
    """The `profile_id` in the URL is one of the token's account's profiles."""

    message = NOT_YOURS

    def has_permission(self, request: Request, view: APIView) -> bool:
        principal = request.user
        profile_id = view.kwargs.get("profile_id")
        return isinstance(principal, Principal) and profile_id in principal.profile_ids
