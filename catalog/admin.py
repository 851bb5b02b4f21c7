from __future__ import annotations

from django.contrib import admin

from catalog.models import Movie


@admin.register(Movie)
class MovieAdmin(admin.ModelAdmin[Movie]):
    list_display = ["movie_id", "title", "duration_ms"]
    search_fields = ["movie_id", "title"]
