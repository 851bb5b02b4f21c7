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
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_POST
from redis.exceptions import RedisError

from accounts.models import Profile
from core.clock import now_ms
from playstate import (
    converters,  # noqa: F401  (an action's movie id: the `id` converter)
    hotlayer,
    ratelimit,
    selectors,
    services,
)
from playstate.models import RateLimit, describe
from playstate.templatetags.playstate_admin import clock

logger = logging.getLogger(__name__)

TIMELINE_HOURS = 48
TIMELINE_WIDTH, LANE_HEIGHT, LABEL_WIDTH, RIGHT_MARGIN = 900, 30, 110, 24
PALETTE = ("#0969da", "#1a7f37", "#cf222e", "#8250df", "#bf8700", "#1b7c83", "#bc4c00")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    color: str
    label: str
    movie_id: str
    device_id: str


def timeline(sessions: list[selectors.Session], *, now_ms: int) -> dict[str, Any]:
    """An SVG picture of the profile's recent activity: a lane per device, a bar per session
    (a title's colour is the same on every lane), the last TIMELINE_HOURS hours."""
    start = now_ms - TIMELINE_HOURS * 3_600_000
    scale = (TIMELINE_WIDTH - LABEL_WIDTH - RIGHT_MARGIN) / (now_ms - start)
    devices = sorted({s.device_id for s in sessions})
    movies = sorted({s.movie_id for s in sessions})
    colors = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(movies)}
    bars = []
    for s in sessions:
        x = LABEL_WIDTH + max(0, s.first.client_request_time - start) * scale
        end = LABEL_WIDTH + (s.last.client_request_time - start) * scale
        name = s.title or s.movie_id
        bars.append(
            Bar(
                x=round(x, 1),
                y=devices.index(s.device_id) * LANE_HEIGHT + 6,
                width=round(max(4.0, end - x), 1),
                color=colors[s.movie_id],
                label=f"{name}: {clock(s.first.position_ms)} → {clock(s.last.position_ms)}"
                f" on {s.device_id}",
                movie_id=s.movie_id,
                device_id=s.device_id,
            )
        )
    ticks = [
        (
            round(LABEL_WIDTH + h * 3_600_000 * scale, 1),
            f"{TIMELINE_HOURS - h} h ago" if h < TIMELINE_HOURS else "now",
        )
        for h in range(0, TIMELINE_HOURS + 1, 6)
    ]
    lanes = [(d, i * LANE_HEIGHT + LANE_HEIGHT / 2 + 4) for i, d in enumerate(devices)]
    return {
        "width": TIMELINE_WIDTH,
        "height": max(1, len(devices)) * LANE_HEIGHT + 24,
        "axis_y": max(1, len(devices)) * LANE_HEIGHT + 16,
        "lanes": lanes,
        "bars": bars,
        "ticks": ticks,
        "legend": [(m, colors[m]) for m in movies],
        "hours": TIMELINE_HOURS,
    }


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
                "<path:object_id>/clear-position/<id:movie_id>/",
                self.admin_site.admin_view(require_POST(self.clear_position)),
                name="accounts_profile_clear_position",
            ),
            path(
                "<path:object_id>/restore-position/<id:movie_id>/",
                self.admin_site.admin_view(require_POST(self.restore_position)),
                name="accounts_profile_restore_position",
            ),
            path(
                "<path:object_id>/remove-from-row/<id:movie_id>/",
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
        if not object_id.isdigit():
            # Support staff type the profile id into the address: its page.
            profile = get_object_or_404(Profile, profile_id=object_id)
            return HttpResponseRedirect(reverse("admin:accounts_profile_change", args=[profile.pk]))
        profile = get_object_or_404(Profile, pk=object_id)
        rows, problems = async_to_sync(selectors.support_history)(profile.profile_id)
        now = now_ms()
        try:
            recent = async_to_sync(hotlayer.profile_stats)(profile.profile_id, now_ms=now)
            sessions = async_to_sync(selectors.activity)(
                profile_id=profile.profile_id, since_ms=now - TIMELINE_HOURS * 3_600_000
            )
        except RedisError:
            recent, sessions = None, []
        context = {
            "timeline": timeline(sessions, now_ms=now),
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
        if not object_id.isdigit():
            raise Http404("No such profile.")
        profile = get_object_or_404(Profile, pk=object_id)
        if not self.has_change_permission(request, profile):
            raise PermissionDenied
        try:
            action(profile)
        except RedisError:
            messages.error(request, "Redis is unreachable; nothing was changed. Try again.")
        except services.RateLimited:
            messages.error(request, "Too many changes to this profile just now; try again soon.")
        except services.PastTheEnd as error:
            end = clock(error.duration_ms)
            messages.error(request, f"That is after the end of the title ({end}); nothing changed.")
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
