"""Operations endpoints: liveness, readiness, metrics, and the index page. Plain Django views,
no auth (keep `/metrics` and `/readyz` off the public internet at the load balancer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from asgiref.sync import async_to_sync
from celery import current_app
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from redis.exceptions import RedisError

from core.clock import now_ms
from core.outages import OutageLog
from core.redis import aclient, hot_client, hot_clustered
from history.store import get_store
from playstate import metrics

logger = logging.getLogger(__name__)

HEALTHY = {"status": "ok"}
INVALID_HOST = "Invalid HTTP_HOST header."  # (the fast path answers it the same)
outages = OutageLog(logger, "/readyz answers 503")


# The probes, the metrics and the index page below take GET and HEAD only: anything else is
# a 405, not the CSRF check's 403 page (they change nothing and set no cookie).


@csrf_exempt
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Touches no backend (`config/fastpath.py` answers it before Django, the same way)."""
    return JsonResponse(HEALTHY)


async def _redis() -> None:
    await aclient().ping()
    if settings.PLAYSTATE_HOT_REDIS_URL != settings.REDIS_URL or hot_clustered():
        await hot_client().ping()


async def _store() -> None:
    await database_sync_to_async(get_store().ping)()


def _connect_to_broker() -> None:
    with current_app.connection_for_write() as connection:
        # Once, at once: a probe answers within its own timeout, not after kombu's 2-s wait
        # between tries (a /readyz with Redis down took 2 to 3.5 s).
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=1)


async def _broker() -> None:
    await asyncio.to_thread(_connect_to_broker)


CHECKS: dict[str, Callable[[], Awaitable[None]]] = {
    "redis": _redis,
    "store": _store,
    "broker": _broker,
}


@csrf_exempt
@require_safe
async def readyz(request: HttpRequest) -> JsonResponse:
    status, body = await readiness()
    return JsonResponse(body, status=status)


async def readiness() -> tuple[int, dict[str, str]]:
    """`/readyz`'s status and body: each backend's state."""
    state: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            await check()
        except Exception as error:
            outages.failed(name, error)
            state[name] = f"unavailable: {type(error).__name__}"
        else:
            outages.answered(name)
            state[name] = "ok"
    ready = all(value == "ok" for value in state.values())
    return 200 if ready else 503, {"status": "ok" if ready else "unavailable", **state}


@csrf_exempt
@require_safe
async def metrics_view(request: HttpRequest) -> HttpResponse:
    try:
        body = await metrics.render(now_ms=now_ms())
    except RedisError:
        return HttpResponse("# redis unavailable\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type="text/plain; version=0.0.4; charset=utf-8")


@csrf_exempt
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "index.html")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """JSON for the API (a Host not in ALLOWED_HOSTS, as the fast path answers it), a page
    elsewhere."""
    if request.path.startswith("/api/"):
        host = isinstance(exception, DisallowedHost)
        detail = INVALID_HOST if host else "Bad request."
        return JsonResponse({"detail": detail}, status=400)
    return defaults.bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """JSON for the API (a path whose identifiers are not identifiers), a page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def dashboard(request: HttpRequest) -> HttpResponse:
    """The operator's dashboard (staff only: served through the admin site's login)."""
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "interval": settings.PLAYSTATE_SAMPLE_INTERVAL,
    }
    return render(request, "admin/dashboard.html", context)


def dashboard_samples(request: HttpRequest) -> HttpResponse:
    """The dashboard's time series: the last hour of samples, oldest first."""
    try:
        points = async_to_sync(metrics.samples)()
    except RedisError:
        return JsonResponse({"detail": "Redis is unreachable."}, status=503)
    return JsonResponse({"interval_s": settings.PLAYSTATE_SAMPLE_INTERVAL, "samples": points})
