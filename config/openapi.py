"""Postprocessing of the OpenAPI document drf-spectacular builds."""

from __future__ import annotations

from typing import Any

from core.payloads import OPTIONAL_BODY


def bodies_are_required(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Every operation here that takes a body needs one (drf-spectacular infers it only from
    a model's required fields, which a one-or-a-batch body has none of), unless it says
    otherwise (OPTIONAL_BODY)."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                operation["requestBody"]["required"] = not operation.pop(OPTIONAL_BODY, False)
    return result
