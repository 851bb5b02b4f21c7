from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from redis.exceptions import RedisError
from tqdm import tqdm

from core.clock import now_ms
from history.compaction import compact_history
from history.store import StoreUnavailable


class Command(BaseCommand):
    help = "Roll LiveVH rows older than N days into each profile's CompressedVH."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-days", type=int, default=settings.PLAYSTATE_COMPACT_OLDER_THAN_DAYS
        )

    def handle(self, *args: Any, older_than_days: int, **options: Any) -> None:
        if older_than_days < 0:
            raise CommandError("--older-than-days must be 0 or more")
        try:
            done = compact_history(
                older_than_days=older_than_days,
                now_ms=now_ms(),
                # A bar per profile on a terminal (stderr), nothing otherwise.
                progress=lambda profiles: tqdm(
                    profiles, unit=" profiles", disable=None, file=sys.stderr
                ),
            )
        except RedisError as error:  # (its lock, and the hot layer of the titles it rolls)
            raise CommandError(
                f"Redis is unreachable ({error}); run it again once it answers (the next"
                " rollup finishes one that stopped midway)"
            ) from None
        except StoreUnavailable as error:
            raise CommandError(f"the store is unreachable ({error}); try again later") from None
        if done is None:
            raise CommandError("another rollup is running; try again when it is done")
        ratio = (
            f" ({done.live_bytes / done.compressed_bytes:.1f}x smaller)"
            if done.compressed_bytes
            else ""
        )
        self.stdout.write(
            f"rolled up {done.rows} rows of {done.profiles} profiles older than {older_than_days}"
            f" days: {done.live_bytes} bytes as LiveVH rows, {done.compressed_bytes} bytes"
            f" as CompressedVH{ratio}"
        )
