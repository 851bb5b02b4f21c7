"""The URL converter of an identifier (a profile or a movie id, `core.domain.ID_REGEX`):
any other text in its place is a 404. Registered as `id` once imported."""

from __future__ import annotations

from django.urls import register_converter

from core.domain import ID_REGEX


class IdConverter:
    regex = ID_REGEX

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(IdConverter, "id")
