from __future__ import annotations

from django.urls import path

from accounts import api

urlpatterns = [path("auth/token", api.TokenCreateApi.as_view(), name="token-create")]
