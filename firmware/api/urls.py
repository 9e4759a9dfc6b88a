"""Firmware API routes; acuvim_console.api includes them under `api/`.

Fixed paths come before `firmware/<version>` so that no version can shadow them.
"""

from django.urls import path

from acuvim_console.core.url_converters import KEY
from firmware.api import views

urlpatterns = [
    path("firmware", views.FirmwareListView.as_view(), name="firmware-list"),
    path("firmware/check", views.FirmwareCheckView.as_view(), name="firmware-check"),
    path("firmware/deploy", views.DeployView.as_view(), name="firmware-deploy"),
    path(f"firmware/download/<{KEY}:version>", views.FirmwareDownloadView.as_view(), name="firmware-download"),
    path("firmware/rollouts", views.RolloutListView.as_view(), name="rollout-list"),
    path("firmware/rollouts/<uuid:pk>", views.RolloutDetailView.as_view(), name="rollout-detail"),
    *(
        path(
            f"firmware/rollouts/<uuid:pk>/{action}",
            views.RolloutActionView.as_view(action=action),
            name=f"rollout-{action}",
        )
        for action in ("pause", "resume", "cancel")
    ),
    path("firmware/rollouts/<uuid:pk>/retry", views.RolloutRetryView.as_view(), name="rollout-retry"),
    path(f"firmware/<{KEY}:version>", views.FirmwareDetailView.as_view(), name="firmware-detail"),
]
