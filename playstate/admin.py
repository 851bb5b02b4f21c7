from __future__ import annotations

from django.contrib import admin

from playstate.models import ApiToken, Movie, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin[Profile]):
    list_display = ["profile_id", "account", "created_at"]
    search_fields = ["profile_id", "account__username"]
    raw_id_fields = ["account"]


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

    def has_add_permission(self, request: object) -> bool:
        # Tokens are shown once, when issued: by `issue_token` or POST /api/v1/auth/token.
        return False
