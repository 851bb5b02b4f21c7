"""The hot path as a bare ASGI callable, routed before Django in `config/asgi.py`:
`POST /api/v1/heartbeats`, `GET /api/v1/profiles/{p}/positions/{m}`, and the probes
`GET /healthz` and `/readyz`.

Why bypass Django here, and only here: heartbeats are ~90% of all traffic and the resume
read is what a player waits on before it starts. On this machine class Django's ASGI handler
(request object, middleware thread hops) caps a view at a few hundred requests/s per process,
while a plain callable doing the same work reaches thousands (shared/notes/performance.md;
`make bench` measures ours). A Channels `AsyncHttpConsumer` would also open a channel-layer
receive per request. The work itself is not duplicated: this module only moves bytes and
calls the same async services as the DRF views in `playstate/api.py`, which document these
endpoints in the OpenAPI schema and serve them when the fast path is off
(`PLAYSTATE_FAST_PATH=false`). What Django's middleware would do for these requests, it does
too: the Host header checked against ALLOWED_HOSTS, the HTTPS redirect, the security headers.
"""

from __future__ import annotations

import functools
import re

import orjson
import pydantic_core
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from pydantic import BaseModel

from accounts.auth import NOT_YOURS, AuthUnavailable, Unauthenticated, authenticate
from config.guard import ASGIApp, Receive, Scope, Send, header, respond
from core.domain import ID_REGEX
from ops.views import HEALTHY, INVALID_HOST, readiness
from playstate.ingest import heartbeats_ingest
from playstate.schemas import ApiResult, bad_request, forbidden, unauthorized
from playstate.selectors import nothing_known, position_answer

HEARTBEATS = "/api/v1/heartbeats"
HEALTHZ = "/healthz"
READYZ = "/readyz"
POSITION = re.compile(
    rf"/api/v1/profiles/(?P<profile_id>{ID_REGEX})/positions/(?P<movie_id>{ID_REGEX})"
)
HEALTHY_BODY = orjson.dumps(HEALTHY)


def _security_headers() -> list[tuple[bytes, bytes]]:
    """The headers Django's SecurityMiddleware and XFrameOptionsMiddleware add, as set."""
    headers = [(b"x-frame-options", settings.X_FRAME_OPTIONS.encode())]
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append((b"x-content-type-options", b"nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        headers.append((b"referrer-policy", settings.SECURE_REFERRER_POLICY.encode()))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        policy = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY.encode()
        headers.append((b"cross-origin-opener-policy", policy))
    return headers


def _hsts() -> list[tuple[bytes, bytes]]:
    if not settings.SECURE_HSTS_SECONDS:
        return []
    value = f"max-age={settings.SECURE_HSTS_SECONDS}"
    if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        value += "; includeSubDomains"
    if settings.SECURE_HSTS_PRELOAD:
        value += "; preload"
    return [(b"strict-transport-security", value.encode())]


def _allowed_hosts() -> list[str]:
    # As Django's HttpRequest.get_host: with DEBUG and no ALLOWED_HOSTS, local names pass.
    if settings.DEBUG and not settings.ALLOWED_HOSTS:
        return [".localhost", "127.0.0.1", "[::1]"]
    return list(settings.ALLOWED_HOSTS)


class _Response:
    """How this request's answers go out: with the security headers, HSTS over HTTPS."""

    def __init__(self, send: Send, headers: list[tuple[bytes, bytes]]) -> None:
        self.send, self.headers = send, headers

    async def __call__(
        self, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        await respond(self.send, status, body, [*self.headers, *extra])

    async def result(self, result: ApiResult) -> None:
        await self(result.status, _json(result.body), result.headers)


def _json(body: BaseModel) -> bytes:
    return pydantic_core.to_json(body)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body (config/guard.py has bounded it), or None if the client went away."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _heartbeats(scope: Scope, receive: Receive, answer: _Response) -> None:
    content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        detail = f'Unsupported media type "{content_type}" in request.'
        await answer(415, orjson.dumps({"detail": detail}))
        return
    body = await _read_body(receive)
    if body is None:
        return
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        await answer.result(bad_request(f"JSON parse error - {error}"))
        return
    authorization = header(scope, b"authorization")
    await answer.result(await heartbeats_ingest(authorization=authorization, payload=payload))


async def _position(scope: Scope, answer: _Response, profile_id: str, movie_id: str) -> None:
    try:
        principal = await authenticate(header(scope, b"authorization"), profile_ids=[profile_id])
    except Unauthenticated as error:
        await answer.result(unauthorized(error.detail))
        return
    except AuthUnavailable:
        # Never an error that blocks playback: play from the start, which tells nothing.
        await answer(200, _json(nothing_known(profile_id=profile_id, movie_id=movie_id)))
        return
    if profile_id not in principal.profile_ids:
        await answer.result(forbidden(NOT_YOURS))
        return
    await answer(200, _json(await position_answer(profile_id=profile_id, movie_id=movie_id)))


def with_fast_path(django_app: ASGIApp) -> ASGIApp:
    security, hsts, allowed = _security_headers(), _hsts(), _allowed_hosts()
    proxy_ssl, redirect = settings.SECURE_PROXY_SSL_HEADER, settings.SECURE_SSL_REDIRECT

    # A deployment sees a handful of Host values; Django's check goes through a lazily
    # compiled regex (a LazyObject lookup per use), a few per cent of a heartbeat's time.
    @functools.lru_cache(maxsize=64)
    def host_allowed(host: str) -> bool:
        return validate_host(split_domain_port(host)[0], allowed)

    def is_secure(scope: Scope) -> bool:
        if proxy_ssl is not None:
            name = proxy_ssl[0].removeprefix("HTTP_").lower().replace("_", "-").encode()
            return header(scope, name) == proxy_ssl[1]
        return bool(scope.get("scheme") == "https")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        position = POSITION.fullmatch(path) if method == "GET" else None
        hot = (path == HEARTBEATS and method == "POST") or position is not None
        probe = path in (HEALTHZ, READYZ) and method in {"GET", "HEAD"}
        if not hot and not probe:
            await django_app(scope, receive, send)
            return
        host = header(scope, b"host") or ""
        secure = is_secure(scope)
        answer = _Response(send, [*security, *hsts] if secure else security)
        if probe:
            # For any Host, over plain HTTP: load balancers and `make run` probe by address,
            # from inside the TLS proxy; neither answer names a host or sets a cookie.
            if path == HEALTHZ:
                await answer(200, HEALTHY_BODY)
            else:
                status, body = await readiness()
                await answer(status, orjson.dumps(body))
        elif not host_allowed(host):
            await answer(400, orjson.dumps({"detail": INVALID_HOST}))
        elif redirect and not secure:
            query = scope["query_string"].decode("latin-1")
            location = f"https://{host}{path}" + (f"?{query}" if query else "")
            await answer(301, b"", {"Location": location})
        elif path == HEARTBEATS:
            await _heartbeats(scope, receive, answer)
        else:
            assert position is not None
            await _position(scope, answer, position["profile_id"], position["movie_id"])

    return app
