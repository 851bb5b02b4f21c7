"""A database made before the apps were split (Profile, ApiToken and Movie in `playstate`)
migrates with its data: the tables stay, the models and their admin history move."""

from __future__ import annotations

import pytest
from django_test_migrations.migrator import Migrator

from accounts.auth import principal_for_token
from accounts.models import hash_token
from tests.cases import Run

# Back to before the split (every other app stays migrated, as on a deployed database).
BEFORE: list[tuple[str, str | None]] = [
    ("accounts", None),
    ("catalog", None),
    ("playstate", "0002_ratelimit"),
]
AFTER: list[tuple[str, str | None]] = [("playstate", "0003_profile_apitoken_movie_moved")]


@pytest.mark.django_db(transaction=True)
def test_accounts_titles_limits_and_admin_history_survive_the_split(
    migrator: Migrator, run: Run
) -> None:
    old = migrator.apply_tested_migration(BEFORE)
    content_types = old.apps.get_model("contenttypes", "ContentType").objects
    profile_type = content_types.get(app_label="playstate", model="profile")
    user = old.apps.get_model("auth", "User").objects.create(username="alice", is_staff=True)
    profile = old.apps.get_model("playstate", "Profile").objects.create(
        profile_id="alice-tv", account=user
    )
    old.apps.get_model("playstate", "ApiToken").objects.create(
        key_hash=hash_token("the-token"), account=user
    )
    old.apps.get_model("playstate", "Movie").objects.create(
        movie_id="m1", title="Film One", duration_ms=600_000
    )
    old.apps.get_model("playstate", "RateLimit").objects.create(
        profile=profile, burst=2, per_minute=3
    )
    old.apps.get_model("admin", "LogEntry").objects.create(
        user=user, content_type=profile_type, object_id=str(profile.pk), object_repr="alice-tv",
        action_flag=2, change_message="Cleared the position of m1.",
    )  # fmt: skip

    new = migrator.apply_tested_migration(AFTER)

    moved = new.apps.get_model("accounts", "Profile").objects.get()
    assert (moved.pk, moved.profile_id, moved.account_id) == (profile.pk, "alice-tv", user.pk)
    movie = new.apps.get_model("catalog", "Movie").objects.get()
    assert (movie.movie_id, movie.title, movie.duration_ms) == ("m1", "Film One", 600_000)
    limit = new.apps.get_model("playstate", "RateLimit").objects.get()
    assert (limit.profile.profile_id, limit.burst, limit.per_minute) == ("alice-tv", 2, 3)
    entry = new.apps.get_model("admin", "LogEntry").objects.get()
    assert (entry.content_type.app_label, entry.content_type.model) == ("accounts", "profile")
    moved_types = new.apps.get_model("contenttypes", "ContentType").objects
    assert not moved_types.filter(app_label="playstate", model__in=["profile", "movie"]).exists()
    # The token issued before the split still acts for its account's profiles.
    principal = run(principal_for_token("the-token"))
    assert principal is not None
    assert principal.profile_ids == {"alice-tv"}
