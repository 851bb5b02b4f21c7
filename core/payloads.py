"""What every declaration of a payload or a model field shares: the identifier type, and
errors in DRF's shape.

Payloads are pydantic models: one declaration validates a request (every field's JSON type
and range), documents it in the OpenAPI schema (drf-spectacular reads pydantic models) and
describes the WebSocket messages (their JSON schemas come from the same models).
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from django.core.validators import RegexValidator
from pydantic import BaseModel, StringConstraints, ValidationError
from rest_framework import exceptions

from core.domain import ID_PATTERN, ID_REGEX

# pydantic's regex engine anchors `$` at the very end, so "m1\n" is refused.
Identifier = Annotated[str, StringConstraints(pattern=f"^{ID_REGEX}$")]
IDENTIFIER_HELP = "1-64 characters of letters, digits, '_', '.', ':', '-'."
id_validator = RegexValidator(ID_PATTERN, IDENTIFIER_HELP)

NON_FIELD = "non_field_errors"
M = TypeVar("M", bound=BaseModel)


def field_errors(error: ValidationError) -> dict[str, list[str]]:
    """pydantic's errors in DRF's shape: `{"field": ["message", ...]}`."""
    errors: dict[str, list[str]] = {}
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        field = str(item["loc"][0]) if item["loc"] else NON_FIELD
        errors.setdefault(field, []).append(item["msg"])
    return errors


def parse(model: type[M], data: object) -> M:
    """`data` as `model`, or DRF's 400 with the field errors."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise exceptions.ValidationError(field_errors(error)) from None
