from __future__ import annotations

from django.apps import AppConfig


class PlaystateConfig(AppConfig):
    name = "playstate"
    verbose_name = "Playstate"

    def ready(self) -> None:
        from playstate import schema  # noqa: F401  (registers the OpenAPI auth extension)
