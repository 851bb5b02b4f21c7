from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ["key_hash", "account", "created_at"]
    search_fields = ["account__username"]
    readonly_fields = ["key_hash", "created_at"]
    raw_id_fields = ["account"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        return super().get_queryset(request).select_related("account")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Tokens are shown once, when issued: by `issue_token` or POST /api/v1/auth/token.
        return False
