"""Hostile requests against the real ASGI application in-process, on the fast path and on
Django's: wrong hosts, HTTP where HTTPS is required, oversized headers and bodies, deeply
nested JSON, password guessing from behind a forged X-Forwarded-For."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from django.contrib.auth import get_user_model

from accounts.models import ApiToken, hash_token
from config.asgi import build
from tests.cases import heartbeat

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

FAST = "/api/v1/heartbeats"  # served before Django
DJANGO = "/api/v1/auth/token"  # served by DRF
NESTED = b"[" * 100_000 + b"]" * 100_000


def client(
    fast_path: bool = True, base_url: str = "http://127.0.0.1", address: str = "127.0.0.1"
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=build(fast_path=fast_path), client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=base_url)


@pytest.fixture
async def http(redis_client: redis.Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with client() as api:
        yield api


@pytest.mark.parametrize("path", [FAST, DJANGO, "/api/v1/profiles/p/positions/m"])
async def test_a_host_not_allowed_is_refused_on_every_path(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.post(path, json={}, headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert "evil" not in response.text


async def test_fast_path_answers_carry_the_headers_django_answers_carry(
    http: httpx.AsyncClient, alice: str
) -> None:
    auth = {"Authorization": f"Bearer {alice}"}
    fast = await http.get("/api/v1/profiles/alice-tv/positions/m1", headers=auth)
    async with client(fast_path=False) as django_only:
        slow = await django_only.get("/api/v1/profiles/alice-tv/positions/m1", headers=auth)
    names = {"x-frame-options", "x-content-type-options", "referrer-policy"}
    names.add("cross-origin-opener-policy")
    assert {n: fast.headers[n] for n in names} == {n: slow.headers[n] for n in names}
    assert fast.json() == slow.json()


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast path", "django"])
async def test_behind_a_tls_proxy_http_is_redirected_and_https_gets_hsts(
    redis_client: redis.Redis, settings: Any, alice: str, fast_path: bool
) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    path = "/api/v1/profiles/alice-tv/positions/m1"
    async with client(fast_path=fast_path) as http:
        plain = await http.get(path, headers={"X-Forwarded-Proto": "http"})
        assert plain.status_code == 301
        assert plain.headers["location"] == f"https://127.0.0.1{path}"
        secure = await http.get(
            path, headers={"X-Forwarded-Proto": "https", "Authorization": f"Bearer {alice}"}
        )
        assert secure.status_code == 200
        assert secure.headers["strict-transport-security"].startswith("max-age=31536000")


@pytest.mark.parametrize("path", [FAST, DJANGO, "/admin/login/", "/healthz"])
async def test_headers_past_the_limit_are_a_431_on_every_path(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.post(path, json={}, headers={"X-Padding": "a" * 20_000})
    assert response.status_code == 431


@pytest.mark.parametrize("path", [FAST, DJANGO, "/admin/login/"])
async def test_a_body_past_the_limit_is_a_413_on_every_path(
    http: httpx.AsyncClient, path: str
) -> None:
    big = {"heartbeats": [heartbeat(device_id="x" * 100)] * 2_000}
    assert (await http.post(path, json=big)).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(300):
            yield b"x" * 1024

    streamed = await http.post(path, content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413


@pytest.mark.parametrize("path", [FAST, DJANGO])
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast path", "django"])
async def test_deeply_nested_json_is_a_400(
    redis_client: redis.Redis, alice: str, path: str, fast_path: bool
) -> None:
    async with client(fast_path=fast_path) as http:
        response = await http.post(
            path,
            content=NESTED[:100_000] + NESTED[-100_000:],
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {alice}"},
        )
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


async def guesses(http: httpx.AsyncClient, count: int, **headers: str) -> list[int]:
    wrong = {"username": "alice", "password": "wrong"}
    return [
        (await http.post(DJANGO, json=wrong, headers=headers)).status_code for _ in range(count)
    ]


async def test_a_forged_forwarded_for_does_not_lift_the_login_throttle(
    http: httpx.AsyncClient, alice: str
) -> None:
    assert await guesses(http, 10) == [400] * 10
    forged = [await guesses(http, 1, **{"X-Forwarded-For": f"10.0.0.{i}"}) for i in range(3)]
    assert forged == [[429]] * 3


async def test_behind_a_trusted_proxy_each_client_has_its_own_login_throttle(
    redis_client: redis.Redis, settings: Any, alice: str
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    async with client() as http:
        assert await guesses(http, 11, **{"X-Forwarded-For": "spoofed, 10.0.0.1"}) == [400] * 10 + [
            429
        ]
        assert await guesses(http, 1, **{"X-Forwarded-For": "spoofed, 10.0.0.2"}) == [400]


async def test_the_admin_login_is_throttled_too(http: httpx.AsyncClient, alice: str) -> None:
    page = await http.get("/admin/login/")
    token = page.cookies["csrftoken"]
    answers = []
    for _ in range(11):
        response = await http.post(
            "/admin/login/",
            data={"username": "alice", "password": "wrong", "csrfmiddlewaretoken": token},
        )
        answers.append(response.status_code)
    assert answers == [200] * 10 + [429]
    assert (await guesses(http, 1)) == [429]  # the same counter as the token endpoint


def test_the_production_profile_passes_the_deployment_checks() -> None:
    profile = {
        "SECRET_KEY": "a-production-secret-of-fifty-or-more-characters-0123456789-xyz",
        "ALLOWED_HOSTS": "playstate.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://playstate.example.com",
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
        "SECURE_COOKIES": "true",
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto=https",
        "PLAYSTATE_TRUSTED_PROXIES": "1",
    }
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG"}} | profile
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    del env["SECRET_KEY"]  # each host would make its own
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "playstate.W001" in result.stderr


async def test_every_profile_operation_refuses_another_accounts_token(
    http: httpx.AsyncClient, alice: str, bob: str
) -> None:
    """Every operation of the OpenAPI document with a profile in its path, every method:
    Bob's token on Alice's profile is a 403 that shows nothing of hers."""
    auth = {"Authorization": f"Bearer {alice}"}
    body = heartbeat(movie_id="m1", video_timestamp_ms=4_321_000, event_type="PAUSE")
    assert (await http.post(FAST, json=body, headers=auth)).status_code == 202
    paths = (await http.get("/api/schema/?format=json")).json()["paths"]
    checked = []
    for template, operations in paths.items():
        if "{profile_id}" not in template:
            continue
        path = template.replace("{profile_id}", "alice-tv").replace("{movie_id}", "m1")
        for method in operations:
            response = await http.request(
                method.upper(), path, json={}, headers={"Authorization": f"Bearer {bob}"}
            )
            assert response.status_code == 403, (method, path)
            assert "4321000" not in response.text
            checked.append((method, template))
    assert len(checked) >= 4


async def until_refused(http: httpx.AsyncClient, url: str, auth: dict[str, str]) -> list[int]:
    """The statuses of `url` until it is not a 200: a token's change shows once its cache
    entry reloads (half a second with PLAYSTATE_AUTH_CACHE_SECONDS at 0), answered from the
    cache meanwhile."""
    statuses = []
    for _ in range(60):
        statuses.append((await http.get(url, headers=auth)).status_code)
        if statuses[-1] != 200:
            break
        await asyncio.sleep(0.05)
    return statuses


@pytest.mark.parametrize("path", ["positions/m1", "history", "continue-watching", "next-up"])
async def test_a_revoked_token_is_refused_on_every_endpoint_once_reloaded(
    http: httpx.AsyncClient, alice: str, settings: Any, path: str
) -> None:
    """Django's views too: the reload a view started ran in that request's thread, which had
    gone by then, so a revoked token went on working there (until a heartbeat or a resume
    read with it reached the process)."""
    settings.PLAYSTATE_AUTH_CACHE_SECONDS = 0  # every entry is past its time at once
    url, auth = f"/api/v1/profiles/alice-tv/{path}", {"Authorization": f"Bearer {alice}"}
    assert (await http.get(url, headers=auth)).status_code == 200
    await ApiToken.objects.filter(key_hash=hash_token(alice)).adelete()
    statuses = await until_refused(http, url, auth)
    assert statuses[-1] == 401, statuses


@pytest.mark.parametrize("path", ["positions/m1", "history"])
async def test_a_deactivated_accounts_token_is_refused_once_reloaded(
    http: httpx.AsyncClient, alice: str, settings: Any, path: str
) -> None:
    """Support deactivates an account (the admin's "active" box): its tokens stop working
    as its password does, on the fast path and Django's views alike."""
    settings.PLAYSTATE_AUTH_CACHE_SECONDS = 0  # every entry is past its time at once
    url, auth = f"/api/v1/profiles/alice-tv/{path}", {"Authorization": f"Bearer {alice}"}
    assert (await http.get(url, headers=auth)).status_code == 200
    token = await ApiToken.objects.aget(key_hash=hash_token(alice))
    await get_user_model().objects.filter(pk=token.account_id).aupdate(is_active=False)
    statuses = await until_refused(http, url, auth)
    assert statuses[-1] == 401, statuses


@pytest.mark.parametrize("version", ["%00", "%0d%0aX-Injected:%201", "9.9"])
async def test_the_schemas_version_is_not_taken_from_the_query(
    http: httpx.AsyncClient, version: str
) -> None:
    answer = await http.get(f"/api/schema/?format=json&version={version}")
    assert answer.status_code == 200
    assert answer.json()["info"]["version"] == "1.0.0"
    assert "x-injected" not in answer.headers


async def test_the_probes_answer_any_host_over_plain_http(
    redis_client: redis.Redis, settings: Any
) -> None:
    """A load balancer (and `make run`'s ready check) probes by address, over HTTP inside the
    TLS proxy: `/healthz` and `/readyz` answer it, where every other path refuses that host
    or redirects."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    async with client() as http:
        for path in ("/healthz", "/readyz"):
            answer = await http.get(path, headers={"Host": "10.0.0.7:8000"})
            assert (answer.status_code, answer.json()["status"]) == (200, "ok"), path
        assert (await http.get("/api/schema/", headers={"Host": "10.0.0.7"})).status_code == 400


def test_a_generated_secret_key_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env["PLAYSTATE_DATA_DIR"] = str(tmp_path)
    subprocess.run([sys.executable, "-c", "import config.settings"], env=env, check=True)
    key = tmp_path / "secret_key"
    assert len(key.read_text().strip()) >= 50
    assert key.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/"])
async def test_the_probes_refuse_other_methods_with_405(http: httpx.AsyncClient, path: str) -> None:
    for method in ("POST", "PUT", "DELETE"):
        assert (await http.request(method, path)).status_code == 405, method


@pytest.mark.parametrize("path", ["/api/v1/profiles/alice-tv/history", FAST])
async def test_a_host_not_allowed_is_a_json_400_on_every_api_path(
    http: httpx.AsyncClient, alice: str, path: str
) -> None:
    headers = {"Authorization": f"Bearer {alice}", "Host": "evil.example"}
    answer = await http.request("GET" if "history" in path else "POST", path, headers=headers)
    assert answer.status_code == 400
    assert answer.json() == {"detail": "Invalid HTTP_HOST header."}
