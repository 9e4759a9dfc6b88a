"""Every REST endpoint, under `/api/`, in the seed's paths (no trailing slashes).

Each app's `api/urls.py` lists its own paths relative to `api/`; this module only adds the auth and
dashboard endpoints and the OpenAPI schema and Swagger UI, and answers any other path below `/api/` with
a JSON 404 (an id of the wrong shape must not get Django's HTML error page).
"""

from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from acuvim_console.api import auth, dashboard


@csrf_exempt  # a 404 changes nothing; without this an unmatched PUT would get the CSRF failure page
def api_not_found(request, *args, **kwargs):
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns = [
    path("auth/login", auth.LoginView.as_view(), name="auth-login"),
    path("auth/refresh", auth.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout", auth.LogoutView.as_view(), name="auth-logout"),
    path("auth/ws-ticket", auth.WebsocketTicketView.as_view(), name="auth-ws-ticket"),
    path("auth/register", auth.RegisterView.as_view(), name="auth-register"),
    path("auth/me", auth.MeView.as_view(), name="auth-me"),
    path("dashboard/summary", dashboard.DashboardSummaryView.as_view(), name="dashboard-summary"),
    path("dashboard/stats", dashboard.DashboardStatsView.as_view(), name="dashboard-stats"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("devices.api.urls")),
    path("", include("telemetry.api.urls")),
    path("", include("alerts.api.urls")),
    path("", include("groups.api.urls")),
    path("", include("firmware.api.urls")),
    path("", include("acuvim_console.audit.api.urls")),
    re_path(r"", api_not_found, name="api-not-found"),
]
