"""Schemathesis against the live stack's OpenAPI document: every operation, every check,
schema-valid and schema-breaking examples drawn from the document (a fixed seed, so CI is
stable). Requests carry Alice's token, and the valid examples name her profile and a
plausible client time, so they reach the 2xx paths too."""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.schemas import APIOperation

from tests.e2e.conftest import Running

pytestmark = pytest.mark.e2e

EXAMPLES = 25
PASSWORD = "schemathesis-logs-in-here"
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            # A well-formed login with a wrong password is refused with a 400, as DRF's token
            # view does; the schema cannot tell good credentials from bad.
            {
                "include-path": "/api/v1/auth/token",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["200", "400", "429"]}
                },
            },
            # A batch is judged item by item: its invalid items are listed in the `rejected`
            # of a 202 (an invalid single heartbeat is a 400).
            {
                "include-path": "/api/v1/heartbeats",
                "checks": {
                    "negative_data_rejection": {
                        "expected-statuses": ["202", "400", "401", "403", "413", "415", "429"]
                    }
                },
            },
        ]
    }
)


def as_own(case: Case[Any]) -> Case[Any]:
    """A schema-valid example, made to name the caller's own profile, account and a client
    time the service takes (the schema cannot say "not ahead of the server's clock", nor
    which cursors this API made, nor which passwords are right, nor which titles are in the
    catalog)."""
    if case.operation.path == "/api/v1/auth/token":
        case.body = {"username": "schema", "password": PASSWORD}
        return case
    if case.path_parameters and "profile_id" in case.path_parameters:
        case.path_parameters["profile_id"] = "alice-tv"
    if "/watched/" in case.operation.path:
        case.path_parameters["movie_id"] = "m1"  # a title in the catalog: it has an end
    if case.query and "cursor" in case.query:
        del case.query["cursor"]
    body: Any = case.body
    if isinstance(body, dict) and body.get("watched_at") is not None:
        body["watched_at"] = int(time.time() * 1000)
    if case.operation.path != "/api/v1/heartbeats" or not isinstance(body, dict):
        return case
    for heartbeat in body.get("heartbeats", [body]):
        if isinstance(heartbeat, dict):
            heartbeat["profile_id"] = "alice-tv"
            heartbeat["client_request_time"] = int(time.time() * 1000)
    return case


@pytest.fixture(scope="module")
def account(running: Running) -> None:
    running.stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model;"
        f"get_user_model().objects.create_user('schema', password='{PASSWORD}')",
    )


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_keeps_its_documented_contract(
    running: Running, account: None, mode: GenerationMode, subtests: Any
) -> None:
    schema = schemathesis.openapi.from_url(
        f"{running.stack.url}/api/schema/?format=json", config=CONFIG
    )
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 6
    for operation in operations:
        with subtests.test(operation=operation.label):
            statuses = exercise(operation, mode, running)
            if mode.is_positive:  # the valid examples got through, not only refusals
                assert any(200 <= status < 300 for status in statuses), statuses


def exercise(
    operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode, running: Running
) -> set[int]:
    """Draw EXAMPLES requests for the operation, send each, check each answer; the statuses."""
    strategy = operation.as_strategy(generation_mode=mode)
    if mode.is_positive:
        strategy = strategy.map(as_own)
    headers = running.auth(running.alice)
    statuses: set[int] = set()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: Case[Any]) -> None:
        response = case.call_and_validate(base_url=running.stack.url, headers=headers)
        statuses.add(response.status_code)

    check()
    return statuses
