from __future__ import annotations

from typing import Any

import pytest
import redis
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from core import redis as core_redis
from ops import checks
from playstate.schemas import Heartbeat, HeartbeatBatch, History, IngestResult, Position

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz_touches_no_backend(client: Client) -> None:
    with override_settings(
        REDIS_URL="redis://127.0.0.1:9/0", PLAYSTATE_HOT_REDIS_URL="redis://127.0.0.1:9/0"
    ):
        core_redis.reset_clients()
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_each_backend(client: Client, redis_client: redis.Redis) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "redis": "ok", "store": "ok", "broker": "ok"}


def test_readyz_is_503_when_redis_is_down(client: Client, redis_client: redis.Redis) -> None:
    with override_settings(
        REDIS_URL="redis://127.0.0.1:9/0", PLAYSTATE_HOT_REDIS_URL="redis://127.0.0.1:9/0"
    ):
        core_redis.reset_clients()
        response = client.get("/readyz")
    core_redis.reset_clients()
    assert response.status_code == 503
    assert response.json()["redis"].startswith("unavailable")
    assert response.json()["store"] == "ok"


def test_metrics_are_prometheus_text_with_the_contract_names(
    client: Client, redis_client: redis.Redis
) -> None:
    redis_client.hset(
        "v1:metrics",
        mapping={"heartbeats_applied": 4, "heartbeats_stale": 1, "rejected:clock_skew": 2},
    )
    body = client.get("/metrics").content.decode()
    for name in (
        # Received and accepted are sums of the counters kept.
        "playstate_heartbeats_received_total 7.0",
        "playstate_heartbeats_accepted_total 5.0",
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


def test_the_documented_payloads_are_the_ones_validated(client: Client) -> None:
    components = client.get("/api/schema/?format=json").json()["components"]["schemas"]
    for model in (Heartbeat, HeartbeatBatch, IngestResult, Position, History):
        documented = components[model.__name__]
        declared = model.model_json_schema(ref_template="#/components/schemas/{model}")
        assert documented["properties"] == declared["properties"]
        assert documented.get("required") == declared.get("required")
    heartbeat = components["Heartbeat"]
    assert heartbeat["properties"]["event_type"]["$ref"] == "#/components/schemas/PlayerEvent"
    player = ["START", "HEARTBEAT", "PAUSE", "STOP", "SEEK"]
    assert components["PlayerEvent"]["enum"] == player
    assert components["EventType"]["enum"] == [*player, "WATCHED", "UNWATCHED", "RESTORE"]


def test_admin_is_for_staff_only(client: Client) -> None:
    user = get_user_model().objects.create_user("viewer", password="pw-viewer-123")
    client.force_login(user)
    assert client.get("/admin/").status_code == 302
    user.is_staff = user.is_superuser = True
    user.save()
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/profile/").status_code == 200


def test_the_dashboard_is_for_staff_and_draws_the_sampled_counters(
    client: Client, redis_client: redis.Redis, run: Any
) -> None:
    from playstate.metrics import sample

    assert client.get("/admin/dashboard/").status_code == 302  # to the login
    assert client.get("/admin/dashboard/samples").status_code == 302
    viewer = get_user_model().objects.create_user("viewer3", password="pw-viewer-345")
    client.force_login(viewer)
    assert client.get("/admin/dashboard/samples").status_code == 302
    staff = get_user_model().objects.create_user("ops", password="pw-ops-1234", is_staff=True)
    client.force_login(staff)
    redis_client.hset("v1:metrics", mapping={"heartbeats_applied": 10, "rejected:invalid": 2})
    run(sample(now_ms=1_000))
    redis_client.hset("v1:metrics", mapping={"heartbeats_applied": 60, "rejected:invalid": 3})
    run(sample(now_ms=6_000))
    page = client.get("/admin/dashboard/")
    assert page.status_code == 200
    assert 'id="dashboard-link"' in page.content.decode()
    points = client.get("/admin/dashboard/samples").json()["samples"]
    assert [(p["t"], p["accepted"], p["rejected"]) for p in points] == [
        (1_000, 10, 2),
        (6_000, 60, 3),
    ]
    assert "playstate_sockets_open 0.0" in client.get("/metrics").content.decode()


def test_the_grafana_dashboard_and_alert_rules_use_only_metrics_the_service_exports(
    client: Client, redis_client: redis.Redis
) -> None:
    import json
    import re
    from pathlib import Path

    import yaml

    exported = {
        line.split()[2]
        for line in client.get("/metrics").content.decode().splitlines()
        if line.startswith("# TYPE")
    }
    # Counters are exported as <name>_total.
    names = exported | {f"{n}_total" for n in exported}
    monitoring = Path(__file__).resolve().parents[1] / "ops" / "monitoring"
    dashboard = json.loads((monitoring / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = yaml.safe_load((monitoring / "alerts.yml").read_text())["groups"][0]["rules"]
    exprs += [r["expr"] for r in rules]
    used = {m for e in exprs for m in re.findall(r"\bplaystate_\w+", e)}
    assert used
    assert used <= names, used - names
    charted = {m.removesuffix("_total") for m in used}
    assert {"playstate_heartbeats_accepted", "playstate_pending_titles"} <= charted
    assert "playstate_sockets_open" in charted


@pytest.mark.parametrize(
    ("value", "errors"), [(180_000, []), (0, []), (400_000, ["playstate.E001"])]
)
def test_the_ignore_start_setting_is_at_most_three_minutes(
    settings: Any, value: int, errors: list[str]
) -> None:
    settings.PLAYSTATE_IGNORE_START_MS = value
    assert [m.id for m in checks.ignore_start_is_at_most_three_minutes()] == errors
