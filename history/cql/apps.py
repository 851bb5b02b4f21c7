from __future__ import annotations

from django.apps import AppConfig


class CqlConfig(AppConfig):
    name = "history.cql"
    label = "history_cql"
    verbose_name = "Viewing history (Cassandra tables)"
