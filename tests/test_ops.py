from __future__ import annotations

import pytest
import redis
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from playstate import hotlayer

pytestmark = pytest.mark.django_db


def test_healthz_touches_no_backend(client: Client) -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:9/0"):
        hotlayer.reset_clients()
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_each_backend(client: Client, redis_client: redis.Redis) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "redis": "ok", "store": "ok", "broker": "ok"}


def test_readyz_is_503_when_redis_is_down(client: Client, redis_client: redis.Redis) -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:9/0"):
        hotlayer.reset_clients()
        response = client.get("/readyz")
    hotlayer.reset_clients()
    assert response.status_code == 503
    assert response.json()["redis"].startswith("unavailable")
    assert response.json()["store"] == "ok"


def test_metrics_are_prometheus_text_with_the_contract_names(
    client: Client, redis_client: redis.Redis
) -> None:
    redis_client.hincrby(hotlayer.METRICS, "heartbeats_received", 7)
    redis_client.hincrby(hotlayer.METRICS, "rejected:clock_skew", 2)
    body = client.get("/metrics").content.decode()
    for name in (
        "playstate_heartbeats_received_total 7.0",
        "playstate_heartbeats_accepted_total 0.0",
        'playstate_heartbeats_rejected_total{reason="clock_skew"} 2.0',
        "playstate_heartbeats_rate_limited_total",
        "playstate_store_writes_total",
        "playstate_sync_pushes_total",
        "playstate_pending_titles 0.0",
    ):
        assert name in body


def test_the_openapi_document_describes_the_api(client: Client) -> None:
    schema = client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert set(paths) >= {
        "/api/v1/heartbeats",
        "/api/v1/profiles/{profile_id}/positions/{movie_id}",
        "/api/v1/profiles/{profile_id}/continue-watching",
        "/api/v1/profiles/{profile_id}/continue-watching/{movie_id}",
        "/api/v1/auth/token",
    }
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    position = schema["components"]["schemas"]["Position"]["properties"]
    assert set(position) == {
        "profile_id", "movie_id", "position_ms", "duration_ms", "completed",
        "client_request_time", "device_id", "event_type", "source",
    }  # fmt: skip
    assert "errors" in schema["components"]["schemas"]["Rejected"]["properties"]
    assert client.get("/api/docs/").status_code == 200


def test_the_heartbeat_schema_lists_the_fields_validation_checks(client: Client) -> None:
    from playstate.validation import FIELDS

    schema = client.get("/api/schema/?format=json").json()["components"]["schemas"]["Heartbeat"]
    assert set(schema["required"]) == set(FIELDS)
    assert set(schema["properties"]) == {*FIELDS, "event_id"}


def test_admin_is_for_staff_only(client: Client) -> None:
    user = get_user_model().objects.create_user("viewer", password="pw-viewer-123")
    client.force_login(user)
    assert client.get("/admin/").status_code == 302
    user.is_staff = user.is_superuser = True
    user.save()
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/playstate/profile/").status_code == 200
