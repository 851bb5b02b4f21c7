"""The admin site, with its login throttled like the token endpoint's."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse

from accounts.throttling import LoginUnavailable, login_allowed


class SupportAdminSite(admin.AdminSite):
    site_header = "Playstate support"
    site_title = "Playstate support"

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method == "POST":
            try:
                allowed, wait = login_allowed(request)
            except LoginUnavailable as error:
                return HttpResponse(str(error.detail), status=503, headers={"Retry-After": "1"})
            if not allowed:
                return HttpResponse(
                    f"Too many login attempts; try again in {wait} seconds.",
                    status=429,
                    headers={"Retry-After": str(wait)},
                    content_type="text/plain",
                )
        return super().login(request, extra_context)


class SupportAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.SupportAdminSite"
