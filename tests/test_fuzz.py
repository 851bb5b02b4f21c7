"""Any JSON value anywhere in a heartbeat request (hypothesis), against the real ASGI
application in-process: the answer is a 202 or a 4xx in the contract's shapes, never a 5xx,
and what is refused changes nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.asgi import build
from core.domain import PlayerEvent
from playstate import ratelimit
from tests.cases import FIELDS, heartbeat
from tests.stack import GENEROUS_LIMITS

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def heartbeats(draw: st.DrawFn) -> Any:
    """A valid heartbeat of any event (a PAUSE is pushed at once) with any fields replaced
    by any JSON, dropped, or added to."""
    body: dict[str, Any] = heartbeat(
        event_id=draw(st.text(min_size=1, max_size=8)),
        event_type=draw(st.sampled_from([e.value for e in PlayerEvent])),
    )
    for field in draw(st.sets(st.sampled_from(FIELDS))):
        if draw(st.booleans()):
            body[field] = draw(json_values)
        else:
            del body[field]
    body.update(draw(st.dictionaries(st.text(max_size=10), json_values, max_size=2)))
    return body


requests = st.one_of(
    heartbeats(),
    st.builds(lambda items: {"heartbeats": items}, st.lists(heartbeats(), max_size=5)),
    st.builds(lambda items: {"heartbeats": items}, json_values),
    json_values,
)


@dataclass
class Client:
    run: Any
    http: httpx.AsyncClient
    token: str

    def post(self, body: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        response: httpx.Response = self.run(
            self.http.post("/api/v1/heartbeats", content=json.dumps(body), headers=headers)
        )
        return response


@pytest.fixture(params=["fast path", "django"])
def client(
    request: pytest.FixtureRequest,
    redis_client: redis.Redis,
    alice: str,
    transactional_db: None,
    settings: Any,
) -> Iterator[Client]:
    for name, value in GENEROUS_LIMITS.items():
        setattr(settings, name, int(value))
    ratelimit.clear_cache()
    app = build(fast_path=request.param == "fast path")
    with asyncio.Runner() as runner:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        http = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")
        yield Client(runner.run, http, alice)
        runner.run(http.aclose())


def is_field_errors(body: object) -> bool:
    return isinstance(body, dict) and all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(m, str) for m in v)
        for k, v in body.items()
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=requests)
def test_any_json_anywhere_is_a_202_or_a_4xx_and_refusals_change_nothing(
    client: Client, redis_client: redis.Redis, body: Any
) -> None:
    before = set(redis_client.scan_iter("v1:playstats:*"))
    response = client.post(body)
    after = set(redis_client.scan_iter("v1:playstats:*"))
    assert response.status_code in {202, 400, 403}, response.text
    answer = response.json()
    if response.status_code == 202:
        assert set(answer) == {"accepted", "rejected", "rate_limited"}
        assert all(set(item) == {"index", "errors"} for item in answer["rejected"])
        assert all(is_field_errors(item["errors"]) for item in answer["rejected"])
        assert len(after - before) <= answer["accepted"]
    else:
        assert after == before
        detail = answer.get("detail")
        assert isinstance(detail, str) or is_field_errors(answer)
