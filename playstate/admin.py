"""The Django admin for support staff (staff users only, as every Django admin page).

A profile's page shows its whole viewing history, read through the store interface from
whichever store is configured (LiveVH and CompressedVH, decoded), the hot layer's positions
beside the stored ones, its recent heartbeats and rate limit; and three support actions,
each recorded in the admin log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from history.compaction import merged_records
from history.store import get_store
from playstate import hotlayer, ratelimit, services
from playstate.domain import PlayState, is_completed
from playstate.models import ApiToken, Movie, Profile, RateLimit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryRow:
    stored: PlayState | None
    cached: PlayState | None
    compacted: bool

    @property
    def state(self) -> PlayState:
        candidates = [s for s in (self.stored, self.cached) if s is not None]
        return max(candidates, key=lambda s: s.ordering_key)

    @property
    def last_watched(self) -> datetime:
        return datetime.fromtimestamp(self.state.client_request_time / 1000, tz=UTC)

    @property
    def completed(self) -> bool:
        s = self.state
        return is_completed(s.position_ms, s.duration_ms, settings.PLAYSTATE_COMPLETION_RATIO)


def profile_history(profile_id: str) -> tuple[list[HistoryRow], list[str]]:
    """Every title of the profile, newest first, with what went wrong reading it."""
    problems: list[str] = []
    store = get_store()
    live: list[PlayState] = []
    records: dict[str, PlayState] = {}
    try:
        live = store.changed_since(profile_id, -1)
        records = merged_records(store, profile_id, live)
    except store.errors as error:
        problems.append(f"The store is unreachable ({type(error).__name__}).")
    cached: dict[str, PlayState] = {}
    try:
        cached = {s.movie_id: s for s in hotlayer.recent_states(profile_id)}
    except RedisError as error:
        problems.append(f"Redis is unreachable ({type(error).__name__}).")
    in_live = {s.movie_id for s in live}
    rows = [
        HistoryRow(records.get(m), cached.get(m), m in records and m not in in_live)
        for m in records.keys() | cached.keys()
    ]
    rows.sort(key=lambda r: r.state.client_request_time, reverse=True)
    return rows, problems


class RateLimitInline(admin.StackedInline[RateLimit, Profile]):
    model = RateLimit
    extra = 0
    max_num = 1
    verbose_name = "rate limit of this profile (overrides the default)"


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin[Profile]):
    list_display = ["profile_id", "account", "limit_in_force", "created_at"]
    search_fields = ["profile_id", "account__username", "account__email"]
    raw_id_fields = ["account"]
    inlines = [RateLimitInline]
    change_form_template = "admin/playstate/profile/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Profile]:
        return super().get_queryset(request).select_related("account", "rate_limit")

    @admin.display(description="rate limit in force")
    def limit_in_force(self, profile: Profile) -> str:
        try:
            own = profile.rate_limit
        except RateLimit.DoesNotExist:
            default = ratelimit.in_force().default
            return f"{default.burst} burst, {default.per_minute}/min (default)"
        return f"{own.burst} burst, {own.per_minute}/min"

    def get_urls(self) -> list[URLPattern]:
        actions = [
            path(
                "<path:object_id>/clear-position/<str:movie_id>/",
                self.admin_site.admin_view(require_POST(self.clear_position)),
                name="playstate_profile_clear_position",
            ),
            path(
                "<path:object_id>/remove-from-row/<str:movie_id>/",
                self.admin_site.admin_view(require_POST(self.remove_from_row)),
                name="playstate_profile_remove_from_row",
            ),
            path(
                "<path:object_id>/reset-rate-limit/",
                self.admin_site.admin_view(require_POST(self.reset_rate_limit)),
                name="playstate_profile_reset_rate_limit",
            ),
        ]
        return actions + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        profile = get_object_or_404(Profile, pk=object_id)
        rows, problems = profile_history(profile.profile_id)
        try:
            recent = hotlayer.profile_stats(profile.profile_id, now_ms=services.now_ms())
        except RedisError:
            recent = None
        context = {
            "history": rows,
            "history_problems": problems,
            "recent": recent,
            "limit": ratelimit.limit_for(ratelimit.stored(), profile.profile_id),
            "has_override": RateLimit.objects.filter(profile=profile).exists(),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def _act(self, request: HttpRequest, object_id: str, done: str, action: Any) -> HttpResponse:
        profile = get_object_or_404(Profile, pk=object_id)
        if not self.has_change_permission(request, profile):
            raise PermissionDenied
        try:
            action(profile)
        except RedisError:
            messages.error(request, "Redis is unreachable; nothing was changed. Try again.")
        else:
            self.log_change(request, profile, done)
            messages.success(request, done)
        return HttpResponseRedirect(reverse("admin:playstate_profile_change", args=[profile.pk]))

    def clear_position(self, request: HttpRequest, object_id: str, movie_id: str) -> HttpResponse:
        return self._act(
            request,
            object_id,
            f"Cleared the position of {movie_id}: it resumes from the start.",
            lambda p: services.position_clear(
                account_id=p.account_id, profile_id=p.profile_id, movie_id=movie_id
            ),
        )

    def remove_from_row(self, request: HttpRequest, object_id: str, movie_id: str) -> HttpResponse:
        return self._act(
            request,
            object_id,
            f"Removed {movie_id} from Continue Watching.",
            lambda p: services.continue_watching_remove(profile_id=p.profile_id, movie_id=movie_id),
        )

    def reset_rate_limit(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._act(
            request,
            object_id,
            "Reset the rate limit to the default.",
            lambda p: RateLimit.objects.filter(profile=p).delete(),
        )


@admin.register(RateLimit)
class RateLimitAdmin(admin.ModelAdmin[RateLimit]):
    list_display = ["__str__", "burst", "per_minute", "in_force", "updated_at"]
    search_fields = ["profile__profile_id", "profile__account__username"]
    raw_id_fields = ["profile"]

    @admin.display(description="in force now")
    def in_force(self, row: RateLimit) -> str:
        snapshot = ratelimit.stored()
        if row.profile is None:
            return "the default for every other profile"
        limit = ratelimit.limit_for(snapshot, row.profile.profile_id)
        return f"{limit.burst} burst, {limit.per_minute}/min"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        default = ratelimit.stored().default
        messages.info(
            request,
            f"Default in force: {default.burst} burst, {default.per_minute}/min for plain"
            " heartbeats (a row without a profile sets it). Changes apply within seconds.",
        )
        return super().changelist_view(request, extra_context)


@admin.register(Movie)
class MovieAdmin(admin.ModelAdmin[Movie]):
    list_display = ["movie_id", "title", "duration_ms"]
    search_fields = ["movie_id", "title"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ["key_hash", "account", "created_at"]
    search_fields = ["account__username"]
    readonly_fields = ["key_hash", "created_at"]
    raw_id_fields = ["account"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Tokens are shown once, when issued: by `issue_token` or POST /api/v1/auth/token.
        return False
