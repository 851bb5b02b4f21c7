from __future__ import annotations

from django.apps import AppConfig


class PlaystateConfig(AppConfig):
    name = "playstate"
    verbose_name = "Playstate"
