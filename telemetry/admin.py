"""Telemetry in the admin: the readings list (telemetry.admin_views), under Telemetry in the app list.

Django's admin refuses to register a model with a composite primary key (readings are keyed by
`(device, ts)`, rollups by `(device, bucket)`), so there is no ModelAdmin to give the readings a
changelist. The admin site gets the page's URL and its entry in the app list here instead, through the
two hooks AdminSite offers for it (`get_urls`, `get_app_list`), extended on the site instance so the
project keeps Django's default site. Rollups are reached from the device page and the REST API.
"""

from django.contrib import admin
from django.urls import path, reverse

from telemetry.admin_views import PERMISSION, readings_view

site = admin.site
_site_urls, _site_app_list = site.get_urls, site.get_app_list


def _get_urls():
    return [path("telemetry/readings/", site.admin_view(readings_view), name="telemetry_readings"), *_site_urls()]


def _get_app_list(request, app_label=None):
    apps = _site_app_list(request, app_label)
    if app_label is None and request.user.has_perm(PERMISSION):
        url = reverse("admin:telemetry_readings", current_app=site.name)
        readings = {
            "model": None,
            "name": "Readings",
            "object_name": "TelemetryRecord",
            "perms": {"add": False, "change": False, "delete": False, "view": True},
            "admin_url": url,
            "add_url": None,
            "view_only": True,
        }
        apps.append({"name": "Telemetry", "app_label": "telemetry", "app_url": url, "has_module_perms": True,
                     "models": [readings]})  # fmt: skip
        apps.sort(key=lambda app: app["name"].lower())
    return apps


site.get_urls, site.get_app_list = _get_urls, _get_app_list
