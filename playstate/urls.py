from __future__ import annotations

from django.urls import path

from playstate import (
    api,
    converters,  # noqa: F401  (registers the `id` converter)
)

urlpatterns = [
    path("heartbeats", api.HeartbeatCreateApi.as_view(), name="heartbeats"),
    path(
        "profiles/<id:profile_id>/positions/<id:movie_id>",
        api.PositionApi.as_view(),
        name="position",
    ),
    path(
        "profiles/<id:profile_id>/continue-watching",
        api.ContinueWatchingApi.as_view(),
        name="continue-watching",
    ),
    path(
        "profiles/<id:profile_id>/positions/<id:movie_id>/versions",
        api.PositionVersionsApi.as_view(),
        name="position-versions",
    ),
    path(
        "profiles/<id:profile_id>/positions/<id:movie_id>/restore",
        api.PositionRestoreApi.as_view(),
        name="position-restore",
    ),
    path(
        "profiles/<id:profile_id>/watched/<id:movie_id>", api.WatchedApi.as_view(), name="watched"
    ),
    path("profiles/<id:profile_id>/history", api.HistoryApi.as_view(), name="history"),
    # Before the title path: "export" is a valid movie id, and this path takes it.
    path(
        "profiles/<id:profile_id>/history/export",
        api.HistoryExportApi.as_view(),
        name="history-export",
    ),
    path(
        "profiles/<id:profile_id>/history/<id:movie_id>",
        api.HistoryHideApi.as_view(),
        name="history-hide",
    ),
    path("profiles/<id:profile_id>/next-up", api.NextUpApi.as_view(), name="next-up"),
    path(
        "profiles/<id:profile_id>/continue-watching/<id:movie_id>",
        api.ContinueWatchingRemoveApi.as_view(),
        name="continue-watching-remove",
    ),
]
