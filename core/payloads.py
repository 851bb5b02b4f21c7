"""What every declaration of a payload or a model field shares: the identifier type, and
errors in DRF's shape.

Payloads are pydantic models: one declaration validates a request (every field's JSON type
and range), documents it in the OpenAPI schema (drf-spectacular reads pydantic models) and
describes the WebSocket messages (their JSON schemas come from the same models).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Annotated, Any, TypeVar

import orjson
from django.core.validators import RegexValidator
from pydantic import BaseModel, RootModel, StringConstraints, ValidationError
from rest_framework import exceptions, parsers

from core.domain import ID_PATTERN, ID_REGEX

# pydantic's regex engine anchors `$` at the very end, so "m1\n" is refused.
Identifier = Annotated[str, StringConstraints(pattern=f"^{ID_REGEX}$")]
IDENTIFIER_HELP = "1-64 characters of letters, digits, '_', '.', ':', '-'."
id_validator = RegexValidator(ID_PATTERN, IDENTIFIER_HELP)

NON_FIELD = "non_field_errors"


class Detail(BaseModel):
    """What went wrong, in a sentence."""

    detail: str


class FieldErrors(RootModel[dict[str, list[str]]]):
    """Field name (or `non_field_errors`) → what is wrong with it."""


class BadRequest(RootModel[Detail | dict[str, list[str]]]):
    """A body that is not JSON, or not the right kind of JSON (`detail`); or field errors."""


M = TypeVar("M", bound=BaseModel)
# An OpenAPI operation's `extensions` key: true when its body may be left out (config/openapi.py).
OPTIONAL_BODY = "x-optional-body"


class ServiceUnavailable(exceptions.APIException):
    """A `503` from a DRF view, with `Retry-After: 1` (DRF's handler sends `wait`)."""

    status_code = 503
    wait = 1


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


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser on orjson, as the fast path parses: any nesting depth, size or
    encoding it cannot take is a 400 (the standard library's parser recursed into a 500)."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return orjson.loads(stream.read())
        except orjson.JSONDecodeError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None
