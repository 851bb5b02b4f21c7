from __future__ import annotations

from django.urls import path

from sync import views

urlpatterns = [
    path("tv", views.tv, name="demo-tv"),
    path("phone", views.phone, name="demo-phone"),
]
