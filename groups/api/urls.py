"""Group routes, relative to `api/` (see acuvim_console.api.urls)."""

from django.urls import path

from groups.api import views

urlpatterns = [
    path("groups", views.GroupListView.as_view(), name="group-list"),
    path("groups/<uuid:pk>", views.GroupDetailView.as_view(), name="group-detail"),
    path("groups/<uuid:pk>/command", views.GroupCommandView.as_view(), name="group-command"),
    path("groups/<uuid:pk>/deploy", views.GroupDeployView.as_view(), name="group-deploy"),
]
