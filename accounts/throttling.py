"""Password guessing: a few login attempts a minute per client address, on the token
endpoint and the admin's login alike, counted in Redis (Django's cache) so the limit holds
across every web process. The client address is the socket's, or with
`PLAYSTATE_TRUSTED_PROXIES` the proxies' X-Forwarded-For entry that many from the right
(DRF's `NUM_PROXIES`), so a client cannot lift the limit by sending the header."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from core.payloads import ServiceUnavailable


class LoginUnavailable(ServiceUnavailable):
    default_detail = "Logging in is unavailable right now; retry shortly."


class LoginThrottle(SimpleRateThrottle):
    scope = "login"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request: Any, view: Any) -> bool:
        try:
            return super().allow_request(request, view)
        except RedisError:
            # Without its counter the limit cannot hold: refuse rather than let guesses through.
            raise LoginUnavailable from None


def login_allowed(request: HttpRequest) -> tuple[bool, int]:
    """For views outside DRF (the admin's login): allowed, and else the seconds to wait."""
    throttle = LoginThrottle()
    if throttle.allow_request(request, None):
        return True, 0
    return False, max(1, round(throttle.wait() or 1))
