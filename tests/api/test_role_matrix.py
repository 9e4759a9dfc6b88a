"""Who may call what: every endpoint and method of the URL conf, for anonymous users and each role.

The table is checked against the URL conf itself, so an endpoint added without a row here fails
`test_every_endpoint_has_a_row` until someone decides who may call it.
"""

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from acuvim_console.operators.roles import ADMIN, OPERATOR, VIEWER
from acuvim_console.protocol.enums import Severity
from alerts.models import Alert, AlertRule, AlertType, NotificationChannel, Silence
from tests.api.conftest import client_for
from tests.factories import make_device, make_group

OK = "ok"  # allowed: anything but 401/403 (a 400 for the empty body still proves the permission passed)
OPEN = "open"  # no authentication at all
ANY = (OPEN, OPEN, OPEN, OPEN)
READ = (401, OK, OK, OK)
OPERATE = (401, 403, OK, OK)
ADMIN_ONLY = (401, 403, 403, OK)

# (url name, method) -> expected for (anonymous, Viewer, Operator, Admin)
MATRIX = {
    ("auth-login", "POST"): ANY,
    ("auth-refresh", "POST"): ANY,
    ("auth-logout", "POST"): ANY,  # the refresh token in the body is the credential
    ("auth-ws-ticket", "POST"): READ,
    ("auth-register", "POST"): ADMIN_ONLY,
    ("auth-me", "GET"): READ,
    ("dashboard-summary", "GET"): READ,
    ("dashboard-stats", "GET"): READ,
    ("api-schema", "GET"): READ,
    ("api-docs", "GET"): READ,
    ("health", "GET"): ANY,
    ("device-list", "GET"): READ,
    ("device-detail", "GET"): READ,
    ("device-detail", "PUT"): OPERATE,
    ("device-detail", "PATCH"): OPERATE,
    ("device-detail", "DELETE"): ADMIN_ONLY,
    ("device-status", "GET"): READ,
    ("device-command", "POST"): OPERATE,
    ("device-commands", "GET"): READ,
    ("device-config", "GET"): READ,
    ("device-config", "POST"): OPERATE,
    ("device-wifi-scan", "POST"): OPERATE,
    ("device-alerts", "GET"): READ,
    ("telemetry-latest", "GET"): READ,
    ("telemetry-history", "GET"): READ,
    ("telemetry-export", "GET"): READ,
    ("telemetry-energy", "GET"): READ,
    ("telemetry-energy-export", "GET"): READ,
    ("group-energy", "GET"): READ,
    ("group-energy-export", "GET"): READ,
    ("alert-list", "GET"): READ,
    ("alert-acknowledge", "PUT"): OPERATE,
    # Alert rules and silences: Operator+; notification channels (where alert data goes): Admin.
    ("alert-rule-list", "GET"): READ,
    ("alert-rule-list", "POST"): OPERATE,
    ("alert-rule-dry-run", "POST"): OPERATE,
    ("alert-rule-detail", "GET"): READ,
    ("alert-rule-detail", "PUT"): OPERATE,
    ("alert-rule-detail", "PATCH"): OPERATE,
    ("alert-rule-detail", "DELETE"): OPERATE,
    ("silence-list", "GET"): READ,
    ("silence-list", "POST"): OPERATE,
    ("silence-detail", "GET"): READ,
    ("silence-detail", "PUT"): OPERATE,
    ("silence-detail", "PATCH"): OPERATE,
    ("silence-detail", "DELETE"): OPERATE,
    ("notification-channel-list", "GET"): READ,
    ("notification-channel-list", "POST"): ADMIN_ONLY,
    ("notification-channel-detail", "GET"): READ,
    ("notification-channel-detail", "PUT"): ADMIN_ONLY,
    ("notification-channel-detail", "PATCH"): ADMIN_ONLY,
    ("notification-channel-detail", "DELETE"): ADMIN_ONLY,
    ("group-list", "GET"): READ,
    ("group-list", "POST"): OPERATE,
    ("group-detail", "GET"): READ,
    ("group-detail", "PUT"): OPERATE,
    ("group-detail", "PATCH"): OPERATE,
    ("group-detail", "DELETE"): ADMIN_ONLY,
    ("group-command", "POST"): OPERATE,
    ("group-deploy", "POST"): OPERATE,
    # Firmware (H6): gateways use a device token on check/download; people need the same roles as the admin.
    ("firmware-list", "GET"): READ,
    ("firmware-list", "POST"): ADMIN_ONLY,
    ("firmware-detail", "GET"): READ,
    ("firmware-detail", "PUT"): ADMIN_ONLY,
    ("firmware-detail", "PATCH"): ADMIN_ONLY,
    ("firmware-detail", "DELETE"): ADMIN_ONLY,
    ("firmware-check", "GET"): READ,
    ("firmware-download", "GET"): READ,
    ("firmware-deploy", "POST"): OPERATE,
    ("rollout-list", "GET"): READ,
    ("rollout-detail", "GET"): READ,
    ("rollout-pause", "POST"): OPERATE,
    ("rollout-resume", "POST"): OPERATE,
    ("rollout-cancel", "POST"): OPERATE,
    ("rollout-retry", "POST"): OPERATE,
    ("audit-list", "GET"): ADMIN_ONLY,
}
ROLES = (None, VIEWER, OPERATOR, ADMIN)
_HANDLED = ("get", "post", "put", "patch", "delete")


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def api_endpoints() -> list[tuple[str, str, str]]:
    """(url name, method, route) for every method a view handles under /api/ and /health."""
    found = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if not (route.startswith("api/") or route == "health"):
            continue
        if pattern.name == "api-not-found":
            continue
        view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
        assert view is not None, f"{route}: a function view; make it a class so its methods can be listed"
        found.extend((pattern.name, method.upper(), route) for method in _HANDLED if hasattr(view, method))
    return found


def test_every_endpoint_has_a_row():
    routed = {(name, method) for name, method, _route in api_endpoints()}
    assert routed - set(MATRIX) == set(), "endpoints without a row in MATRIX"
    assert set(MATRIX) - routed == set(), "rows for endpoints that no longer exist"


@pytest.fixture
def world(db, settings, mqtt_broker):
    settings.MQTT_URL = mqtt_broker.url  # commands really get published; /health finds its broker
    group = make_group()
    device = make_device(group=group)
    alert = Alert.objects.create(
        device=device,
        alert_type=AlertType.OVERVOLTAGE,
        severity=Severity.WARNING,
        message="V1 260 V",
        last_seen_at=timezone.now(),
    )
    rule = AlertRule.objects.create(name="V1 high", field="v1", op=">", threshold=250)
    silence = Silence.objects.create(device=device, reason="maintenance", ends_at=timezone.now())
    channel = NotificationChannel.objects.create(name="ops", kind="email", to=["ops@example.com"])
    return {
        "device_id": device.device_id,
        "pk": {
            "group": group.pk,
            "alert-rule": rule.pk,
            "silence": silence.pk,
            "notification-channel": channel.pk,
            "alert": alert.pk,
            "rollout": uuid.uuid4(),
        },
        "version": "9.9.9",
    }


def _url(name: str, route: str, world) -> str:
    kwargs = {}
    if ":device_id>" in route:
        kwargs["device_id"] = world["device_id"]
    if ":version>" in route:
        kwargs["version"] = world["version"]
    if "pk>" in route:
        kind = next((kind for kind in world["pk"] if name.startswith(kind)), "rollout")
        kwargs["pk"] = world["pk"][kind]
    from django.urls import reverse

    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize(("name", "method", "route"), api_endpoints(), ids=lambda value: str(value))
def test_role_matrix(name, method, route, world, users):
    expected = MATRIX[(name, method)]
    url = _url(name, route, world)
    for role, want in zip(ROLES, expected, strict=True):
        client = client_for(users[role] if role else None)
        response = getattr(client, method.lower())(url, {}, format="json") if method != "GET" else client.get(url)
        got = response.status_code
        label = f"{method} {url} as {role or 'anonymous'}: {got}"
        assert got < 500, label
        if want in (OK, OPEN):
            assert got not in (401, 403), label
        else:
            assert got == want, label
