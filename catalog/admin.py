from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from catalog.models import Movie


@admin.register(Movie)
class MovieAdmin(admin.ModelAdmin[Movie]):
    list_display = ["movie_id", "title", "series_id", "season", "episode", "available"]
    list_filter = ["available"]
    search_fields = ["movie_id", "title", "series_id"]
    actions = ["take_out_of_the_library", "put_back_in_the_library"]

    def has_delete_permission(self, request: HttpRequest, obj: Movie | None = None) -> bool:
        # Viewers' history refers to titles: take one out of the library instead. An episode
        # taken out keeps its place in its series, so Next Up goes on after it.
        return False

    @admin.action(description="Take out of the library (history and Next Up keep them)")
    def take_out_of_the_library(self, request: HttpRequest, queryset: QuerySet[Movie]) -> None:
        count = queryset.update(available=False)
        messages.success(request, f"{count} title{'s' if count != 1 else ''} taken out.")

    @admin.action(description="Put back in the library")
    def put_back_in_the_library(self, request: HttpRequest, queryset: QuerySet[Movie]) -> None:
        count = queryset.update(available=True)
        messages.success(request, f"{count} title{'s' if count != 1 else ''} put back.")
