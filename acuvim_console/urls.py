from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from acuvim_console.api.service_status import HealthView
from acuvim_console.web_metrics import metrics_view

admin.site.site_header = "Acuvim Console"
admin.site.site_title = "Acuvim Console"
admin.site.index_title = "Fleet"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("acuvim_console.api.urls")),
    path("health", HealthView.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
]
