"""Audit routes, relative to `api/` (see acuvim_console.api.urls)."""

from django.urls import path

from acuvim_console.audit.api import views

urlpatterns = [path("audit", views.AuditLogListView.as_view(), name="audit-list")]
