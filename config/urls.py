from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ops import views

urlpatterns = [
    path("", include("ops.urls")),
    path("api/v1/", include("accounts.urls")),
    path("api/v1/", include("playstate.urls")),
    path("demo/", include("sync.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # The operator's dashboard, behind the admin's login (staff only).
    path("admin/dashboard/", admin.site.admin_view(views.dashboard), name="dashboard"),
    path(
        "admin/dashboard/samples",
        admin.site.admin_view(views.dashboard_samples),
        name="dashboard-samples",
    ),
    path("admin/", admin.site.urls),
]

handler400 = "ops.views.bad_request"
handler404 = "ops.views.not_found"
