"""Operations endpoints (plain Django views: no auth, no DRF)."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from redis.exceptions import RedisError

from config.celery_app import app as celery_app
from history.store import get_store
from playstate import hotlayer, metrics

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_redis() -> str:
    hotlayer.client().ping()
    return "ok"


def _check_store() -> str:
    get_store().ping()
    return "ok"


def _check_broker() -> str:
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
    return "ok"


def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"redis": _check_redis, "store": _check_store, "broker": _check_broker}
    state: dict[str, str] = {}
    for name, check in checks.items():
        try:
            state[name] = check()
        except Exception as error:
            logger.warning("readiness check %s failed: %s", name, error)
            state[name] = f"unavailable: {type(error).__name__}"
    ready = all(value == "ok" for value in state.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", **state}, status=200 if ready else 503
    )


def metrics_view(request: HttpRequest) -> HttpResponse:
    try:
        body = metrics.render()
    except RedisError:
        return HttpResponse("# redis unavailable\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type="text/plain; version=0.0.4; charset=utf-8")


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "index.html")
