from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Acuvim Console"
admin.site.site_title = "Acuvim Console"
admin.site.index_title = "Fleet"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
