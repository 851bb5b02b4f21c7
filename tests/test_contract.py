"""The contract in the repository (docs/CONTRACT.md) and the OpenAPI document agree: every
REST endpoint the contract names is an operation of the document, and every operation of the
document is named in the contract."""

from __future__ import annotations

import re
from pathlib import Path

from django.test import Client

CONTRACT = Path(__file__).resolve().parents[1] / "docs" / "CONTRACT.md"
NAMED = re.compile(r"`(GET|POST|PUT|DELETE) (/api/v1/[^`?\s]+)")
# Served outside DRF (and so outside the document), on purpose: the contract's section 8.
NOT_IN_THE_DOCUMENT = {("GET", "/api/schema/")}


def named_in_the_contract() -> set[tuple[str, str]]:
    # Section 9 abbreviates the path parameters.
    text = CONTRACT.read_text().replace("{p}", "{profile_id}").replace("{m}", "{movie_id}")
    return set(NAMED.findall(text)) - NOT_IN_THE_DOCUMENT


def test_the_contract_and_the_openapi_document_name_the_same_operations(client: Client) -> None:
    paths = client.get("/api/schema/?format=json").json()["paths"]
    documented = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert named_in_the_contract() == documented


def test_the_readme_links_the_contract() -> None:
    readme = (CONTRACT.parents[1] / "README.md").read_text()
    assert "(docs/CONTRACT.md)" in readme
