"""The support admin (staff users only, as every Django admin page).

A profile's page shows its whole viewing history, read through the store interface from
whichever store is configured (LiveVH and CompressedVH, decoded), the hot layer's positions
beside the stored ones, its recent heartbeats and rate limit; and four support actions
(clear a position, restore one, remove from the row, reset the rate limit), each recorded
in the admin log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from accounts.models import Profile
from core.clock import now_ms
from playstate import hotlayer, ratelimit, selectors, services
from playstate.models import RateLimit, describe

logger = logging.getLogger(__name__)

CLOCK = re.compile(r"\A\s*(?:(\d{1,3}):)?(\d{1,2}):(\d{2})\s*\Z")


def clock_to_ms(text: str) -> int | None:
    """'20:00' or '1:20:00' as milliseconds; None for anything else."""
    found = CLOCK.match(text)
    if found is None or int(found[3]) > 59:
        return None
    hours, minutes, seconds = int(found[1] or 0), int(found[2]), int(found[3])
    if found[1] is not None and minutes > 59:
        return None
    return ((hours * 60 + minutes) * 60 + seconds) * 1000


class RateLimitInline(admin.StackedInline[RateLimit, Profile]):
    model = RateLimit
    extra = 0
    max_num = 1
    verbose_name = "rate limit of this profile (overrides the default)"


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin[Profile]):
    search_fields = ["profile_id", "account__username", "account__email"]
    # Set, so Django does not call get_list_display (and read the default) twice a page.
    sortable_by = ["profile_id", "account", "created_at"]
    raw_id_fields = ["account"]
    inlines = [RateLimitInline]
    change_form_template = "admin/accounts/profile/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Profile | None = None) -> list[str]:
        # Devices, tokens and the history's keys name a profile by this id: it never changes.
        return ["profile_id"] if obj is not None else []

    def get_queryset(self, request: HttpRequest) -> QuerySet[Profile]:
        return super().get_queryset(request).select_related("account", "rate_limit")

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        # The default limit is read once per page, not once per row.
        default = ratelimit.stored().default

        @admin.display(description="rate limit in force")
        def limit_in_force(profile: Profile) -> str:
            try:
                own = profile.rate_limit
            except RateLimit.DoesNotExist:
                return f"{describe(default)} (default)"
            return describe(own)

        return ["profile_id", "account", limit_in_force, "created_at"]

    def get_urls(self) -> list[URLPattern]:
        actions = [
            path(
                "<path:object_id>/clear-position/<str:movie_id>/",
                self.admin_site.admin_view(require_POST(self.clear_position)),
                name="accounts_profile_clear_position",
            ),
            path(
                "<path:object_id>/restore-position/<str:movie_id>/",
                self.admin_site.admin_view(require_POST(self.restore_position)),
                name="accounts_profile_restore_position",
            ),
            path(
                "<path:object_id>/remove-from-row/<str:movie_id>/",
                self.admin_site.admin_view(require_POST(self.remove_from_row)),
                name="accounts_profile_remove_from_row",
            ),
            path(
                "<path:object_id>/reset-rate-limit/",
                self.admin_site.admin_view(require_POST(self.reset_rate_limit)),
                name="accounts_profile_reset_rate_limit",
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
        rows, problems = async_to_sync(selectors.support_history)(profile.profile_id)
        try:
            recent = async_to_sync(hotlayer.profile_stats)(profile.profile_id, now_ms=now_ms())
        except RedisError:
            recent = None
        context = {
            "history": rows,
            "history_problems": problems,
            "recent": recent,
            "limit_text": describe(ratelimit.limit_for(ratelimit.stored(), profile.profile_id)),
            "has_override": RateLimit.objects.filter(profile=profile).exists(),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def _act(
        self,
        request: HttpRequest,
        object_id: str,
        done: str,
        action: Callable[[Profile], object],
    ) -> HttpResponse:
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
        return HttpResponseRedirect(reverse("admin:accounts_profile_change", args=[profile.pk]))

    def clear_position(self, request: HttpRequest, object_id: str, movie_id: str) -> HttpResponse:
        return self._act(
            request,
            object_id,
            f"Cleared the position of {movie_id}: it resumes from the start.",
            lambda p: async_to_sync(services.position_clear)(
                account_id=p.account_id, profile_id=p.profile_id, movie_id=movie_id
            ),
        )

    def restore_position(self, request: HttpRequest, object_id: str, movie_id: str) -> HttpResponse:
        raw = request.POST.get("position", "")
        position = clock_to_ms(raw)
        if position is None:
            messages.error(request, f"{raw!r} is not a position: write it as 20:00 or 1:20:00.")
            return HttpResponseRedirect(reverse("admin:accounts_profile_change", args=[object_id]))
        return self._act(
            request,
            object_id,
            f"Restored {movie_id} to {raw.strip()}: every device resumes there.",
            lambda p: async_to_sync(services.position_restore)(
                account_id=p.account_id,
                profile_id=p.profile_id,
                movie_id=movie_id,
                position_ms=position,
            ),
        )

    def remove_from_row(self, request: HttpRequest, object_id: str, movie_id: str) -> HttpResponse:
        return self._act(
            request,
            object_id,
            f"Removed {movie_id} from Continue Watching.",
            lambda p: async_to_sync(services.continue_watching_remove)(
                profile_id=p.profile_id, movie_id=movie_id
            ),
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
    list_display = ["__str__", "burst", "per_minute", "applies_to", "updated_at"]
    list_select_related = ["profile"]
    search_fields = ["profile__profile_id", "profile__account__username"]
    raw_id_fields = ["profile"]

    @admin.display(description="applies to")
    def applies_to(self, row: RateLimit) -> str:
        if row.profile is None:
            return "every profile without a limit of its own"
        return f"{row.profile.profile_id} only"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        default = ratelimit.stored().default
        messages.info(
            request,
            f"Default in force: {describe(default)} for plain heartbeats"
            " (a row without a profile sets it). Changes apply within seconds.",
        )
        return super().changelist_view(request, extra_context)
