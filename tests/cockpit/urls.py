"""Only the admin: the live tests must not depend on the state of the other apps' URLconfs."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
