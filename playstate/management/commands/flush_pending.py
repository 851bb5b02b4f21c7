from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from history.store import StoreUnavailable
from playstate.flush import pending_flush_all


class Command(BaseCommand):
    help = (
        "Write every pending title's winning state to the store now, without waiting for its"
        " coalescing window (before Redis maintenance, or a backup of the store)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            flushed = async_to_sync(pending_flush_all)()
        except StoreUnavailable as error:
            raise CommandError(f"the store is unreachable ({error}); nothing was lost") from error
        except RedisError as error:
            raise CommandError(f"Redis is unreachable ({error})") from error
        self.stdout.write(
            f"wrote {flushed} pending title{'' if flushed == 1 else 's'} to the store"
        )
