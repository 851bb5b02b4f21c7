"""The benchmark's population, written straight into the stack's database (and store):

- ACCOUNTS accounts of PER_ACCOUNT profiles each, profile `p<i>` in account `i // PER_ACCOUNT`,
  one API token per account (written one per line, in account order, to the file named);
- a catalog title `s<i>` (three hours) per profile: the title it watches in steady viewing;
- HISTORY titles `h0..` per profile in the store and not in Redis, for resume reads that miss
  the cache (each served by the store once, then from the repaired cache).

`python -m bench.seed TOKENS_FILE` with the stack's environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "6000"))
PER_ACCOUNT = 5
PROFILES = ACCOUNTS * PER_ACCOUNT
HISTORY = int(os.environ.get("BENCH_HISTORY_TITLES", "4"))
DURATION_MS = 3 * 3600 * 1000
CHUNK = 5000


def main(tokens_file: Path) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from accounts.models import ApiToken, Profile, hash_token
    from catalog.models import Movie
    from core.clock import now_ms
    from core.domain import EventType, PlayState
    from history.store import get_store

    user = get_user_model()
    with transaction.atomic():
        user.objects.bulk_create(
            [user(username=f"bench-{a}") for a in range(ACCOUNTS)], batch_size=CHUNK
        )
        ids = dict(user.objects.filter(username__startswith="bench-").values_list("username", "pk"))
        accounts = [ids[f"bench-{a}"] for a in range(ACCOUNTS)]
        Profile.objects.bulk_create(
            [
                Profile(profile_id=f"p{i}", account_id=accounts[i // PER_ACCOUNT])
                for i in range(PROFILES)
            ],
            batch_size=CHUNK,
        )
        Movie.objects.bulk_create(
            [
                Movie(movie_id=f"s{i}", title=f"Bench {i}", duration_ms=DURATION_MS)
                for i in range(PROFILES)
            ],
            batch_size=CHUNK,
        )
        tokens = [os.urandom(24).hex() for _ in accounts]
        ApiToken.objects.bulk_create(
            [
                ApiToken(key_hash=hash_token(t), account_id=a)
                for t, a in zip(tokens, accounts, strict=True)
            ],
            batch_size=CHUNK,
        )
    tokens_file.write_text("\n".join(tokens) + "\n")
    store = get_store()
    # Watched a day ago; positions in the middle of each title.
    then = now_ms() - 86_400_000
    states = [
        PlayState(f"p{i}", f"h{h}", 600_000, then + h, "tv", EventType.PAUSE)
        for h in range(HISTORY)
        for i in range(PROFILES)
    ]
    for start in range(0, len(states), CHUNK):
        store.write(states[start : start + CHUNK])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
