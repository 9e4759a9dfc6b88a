"""URLconf for the firmware tests: the firmware API under api/ and the admin, as the project mounts them."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("api/", include("firmware.api.urls")),
    path("admin/", admin.site.urls),
]
