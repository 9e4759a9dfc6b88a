"""Dashboard figures, /health against real and missing dependencies, and the security headers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from acuvim_console.protocol.enums import CommandName, Severity
from alerts.models import Alert, AlertType
from devices.choices import CommandStatus, DeviceStatus
from devices.models import Command
from telemetry.models import TelemetryRecord
from tests.factories import make_device
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.django_db


def test_summary_counts_devices_by_status_and_open_alerts_by_severity(viewer_client):
    devices = [make_device(status=s) for s in ("online", "online", "degraded", "offline", "pending")]
    for alert_type, severity, resolved in (
        (AlertType.OVERVOLTAGE, Severity.CRITICAL, None),
        (AlertType.LOW_HEAP, Severity.WARNING, None),
        (AlertType.SD_FULL, Severity.WARNING, timezone.now()),
    ):
        Alert.objects.create(
            device=devices[0], alert_type=alert_type, severity=severity, message="m", resolved_at=resolved
        )
    body = viewer_client.get("/api/dashboard/summary").json()
    assert {k: body[k] for k in ("total", "online", "degraded", "offline", "pending")} == {
        "total": 5,
        "online": 2,
        "degraded": 1,
        "offline": 1,
        "pending": 1,
    }
    assert body["alerts"] == {"info": 0, "warning": 1, "critical": 1, "active": 2, "unacknowledged": 2}


def test_stats_rate_commands_and_firmware_versions(viewer_client):
    now = timezone.now()
    device = make_device(firmware_version="1.2.0")
    make_device(firmware_version="1.2.0")
    make_device(firmware_version="1.1.0")
    make_device(firmware_version="0.9.0", status=DeviceStatus.PENDING)
    TelemetryRecord.objects.bulk_create(
        TelemetryRecord(device=device, ts=now - timedelta(seconds=10 * n), received_at=now) for n in range(20)
    )
    TelemetryRecord.objects.create(device=device, ts=now - timedelta(hours=2), received_at=now)
    for status in (CommandStatus.SUCCESS, CommandStatus.SUCCESS, CommandStatus.TIMEOUT):
        Command.objects.create(
            device=device,
            request_id=f"r-{status}-{Command.objects.count()}",
            command=CommandName.PING,
            status=status,
            expires_at=now,
        )
    body = viewer_client.get("/api/dashboard/stats").json()
    assert body["telemetry_rows_last_hour"] == 20
    assert body["messages_per_minute"] == 20 / 5  # all 20 fall in the last 5 minutes
    assert body["commands_last_24h"]["success"] == 2 and body["commands_last_24h"]["timeout"] == 1
    assert body["firmware_versions"] == [{"version": "1.2.0", "count": 2}, {"version": "1.1.0", "count": 1}]


def test_health_is_200_with_every_dependency_up(anon_client, settings, mqtt_broker):
    settings.MQTT_URL = mqtt_broker.url
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    response = anon_client.get("/health")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ok"
    assert set(response.json()["checks"]) == {"database", "broker", "redis"}


def test_health_is_503_naming_the_dead_dependency(anon_client, settings):
    settings.MQTT_URL = f"mqtt://user:hunter2@127.0.0.1:{free_port()}"
    settings.REDIS_URL = ""
    response = anon_client.get("/health")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True and checks["broker"]["ok"] is False and "redis" not in checks
    assert "hunter2" not in response.content.decode()


def test_security_headers_on_api_admin_and_docs(admin_client, client, users):
    for response in (admin_client.get("/api/devices"), client.get("/admin/login/")):
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert "default-src 'self'" in response["Content-Security-Policy"]
        assert "script-src 'self'" in response["Content-Security-Policy"]


def test_swagger_ui_is_self_hosted_so_the_csp_can_stay_self(client, users):
    client.force_login(users["Viewer"])
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn" not in html.lower() and "/static/drf_spectacular_sidecar/" in html
    assert "<script>" not in html  # no inline script: the split view loads it from a URL
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js").status_code == 200


def test_cors_allows_only_configured_origins(viewer_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://ops.example.com"]
    allowed = viewer_client.get("/api/devices", HTTP_ORIGIN="https://ops.example.com")
    other = viewer_client.get("/api/devices", HTTP_ORIGIN="https://evil.example.com")
    assert allowed["Access-Control-Allow-Origin"] == "https://ops.example.com"
    assert "Access-Control-Allow-Origin" not in other


def test_hsts_when_https(viewer_client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    response = viewer_client.get("/api/devices", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
