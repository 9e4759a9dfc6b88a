"""A bad request is never a 500: hostile path parameters, query strings and JSON bodies on every route.

The routes come from the URL conf itself (tests/support/urlconf.py) and the write endpoints from the
OpenAPI schema, so nothing added later escapes. Requests are made as a superuser with a session (the API
accepts it too), so every permission check passes and the lookups and parsers really run; a 500 is
reported with the exception the view raised.
"""

import logging

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from acuvim_console.core.json_limits import MAX_DEPTH, MAX_OBJECT_KEYS
from alerts.models import Alert, AlertRule, AlertType, NotificationChannel, Silence
from devices.control.commands import send_command
from firmware.uploads import upload_firmware
from tests.factories import make_device, make_group, make_user
from tests.support.firmware_images import build_app_image
from tests.support.urlconf import fill, routes

pytestmark = pytest.mark.django_db

HOSTILE_VALUES = {
    "nul": "\x00",
    "nul inside": "ACV-\x00AABBCCDDEE",
    "control characters": "\x01\r\n\x7f",
    "very long": "A" * 5000,
    "unicode, emoji, right-to-left": "Ωμέγα-設備-\U0001d518\U0001d52b\U0001d526-🔥🛰️-\u202eelbat\u200f",
    "lone surrogate": "\ud800",
    "dot-dot-slash": "../../etc/passwd",
    "sql": "' OR '1'='1'; DROP TABLE devices_device;--",
    "negative": "-1",
    "beyond int64": str(2**63),
}


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


HOSTILE_BODIES = {
    "nested 1,200 levels": (deep(1200), "nested deeper"),
    "nested 100,000 levels": (deep(100_000), "nested deeper"),
    "nested just past the bound": ('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), "nested deeper"),
    "too many keys": ("{" + ",".join(f'"k{i}":1' for i in range(MAX_OBJECT_KEYS + 1)) + "}", "more than"),
    "NUL in a value": ('{"name": "a\\u0000b", "command": "ping"}', "NUL"),
    "NUL in a key": ('{"a\\u0000": 1}', "NUL"),
    "lone surrogate": ('{"name": "\\ud800", "command": "ping"}', "surrogate"),
    "not JSON": ("{'single': quotes}", "not valid JSON"),
    "NaN": ('{"value": NaN}', "not valid JSON"),
    "invalid UTF-8": (b'{"name": "\xff\xfe"}', "not valid JSON"),
}


@pytest.fixture
def superuser_client(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "firmware": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    user = make_user()
    user.is_superuser = user.is_staff = True
    user.save()
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def known_objects(superuser_client):
    """One existing object per kind, so path values can name real ones and bodies reach the parsers."""
    device = make_device(group=make_group())
    Alert.objects.create(device=device, alert_type=AlertType.OVERVOLTAGE, message="V1 high")
    send_command(device, "ping", {})
    firmware = upload_firmware(SimpleUploadedFile("gw.bin", build_app_image("1.3.0")), version="1.3.0")
    rule = AlertRule.objects.create(name="V1 high", field="v1", op=">", threshold=250, clear_threshold=245)
    ids = {
        "api/groups/": device.group_id,
        "api/alert-rules/": rule.pk,
        "api/silences/": Silence.objects.create(rule=rule, reason="maintenance", ends_at=timezone.now()).pk,
        "api/notification-channels/": NotificationChannel.objects.create(name="ops", kind="webhook").pk,
    }
    return {"device_id": device.device_id, "version": firmware.version, "device": device, "ids": ids}


# /health answers 503 while a dependency is down (no broker runs for these tests): an answer, not a fault.
SERVICE_UNAVAILABLE = 503


@pytest.fixture(autouse=True)
def _quiet_request_log(caplog):
    """Thousands of expected 404s would otherwise be logged, and formatting them costs more than the requests."""
    caplog.set_level(logging.ERROR, logger="django.request")


def request(client: Client, method: str, path: str, **extra) -> tuple[int, list[str]]:
    """The status, and a description of the failure when it was a server error."""
    response = getattr(client, method)(path, **extra)
    if response.status_code < 500 or response.status_code == SERVICE_UNAVAILABLE:
        return response.status_code, []
    error = response.exc_info[1] if getattr(response, "exc_info", None) else None
    return response.status_code, [f"{method.upper()} {path[:160]!r} -> {response.status_code}: {error!r}"[:400]]


def server_errors(client: Client, method: str, path: str, **extra) -> list[str]:
    return request(client, method, path, **extra)[1]


def test_every_route_with_parameters_survives_hostile_values(superuser_client, known_objects):
    parameterised = [(template, params) for template, params in routes() if params]
    assert len(parameterised) >= 60, "the URL conf walk found too few routes"
    failures = []
    for template, params in parameterised:
        for value in HOSTILE_VALUES.values():
            path = fill(template, dict.fromkeys(params, value))
            status, errors = request(superuser_client, "get", path)
            failures += errors
            if status != 404:  # the route matched and a view ran; see what it does with a body too
                failures += server_errors(superuser_client, "post", path, data="{}", content_type="application/json")
    assert not failures, "\n".join(failures[:30])


def existing_values(template: str, params: tuple[str, ...], known: dict) -> dict | None:
    """Path values naming existing objects, or None when this test cannot name one for every parameter."""
    values = {}
    for name in params:
        if name in known:
            values[name] = known[name]
        elif name in ("object_id", "pk", "id") and template.startswith("admin/"):
            app_label, model_name = template.split("/")[1:3]
            try:
                model = apps.get_model(app_label, model_name)
            except (LookupError, ValueError):
                return None
            obj = model._default_manager.first()
            if obj is None:
                return None
            values[name] = str(obj.pk)
        elif name in ("object_id", "pk") and template.startswith("api/groups/"):
            values[name] = str(known["device"].group_id)
        else:
            return None
    return values


def reachable_paths(known: dict) -> list[str]:
    paths = []
    for template, params in routes():
        values = existing_values(template, params, known) if params else {}
        if values is not None:
            paths.append(fill(template, values))
    return paths


QUERY_NAMES = (
    "q", "o", "p", "e", "all", "_changelist_filters", "_to_field", "_popup",  # the admin's own
    "search", "ordering", "page", "page_size", "status", "device_id", "group", "tags", "start", "end",
    "bucket", "range", "severity", "alert_type", "acknowledged", "resolved", "command", "version", "sig",
    "current_version", "hardware", "status__exact", "device__device_id", "source__exact",
)  # fmt: skip


QUERY_VALUES = ("\x00", "\ud800", "A" * 5000, HOSTILE_VALUES["sql"], str(2**63), "-1")


def test_hostile_query_strings_on_every_route_that_reads_them(superuser_client, known_objects):
    """Lists and searches read the query string: every route without path parameters, and the device's API routes."""
    from urllib.parse import quote

    device_api = f"/api/devices/{known_objects['device_id']}"
    paths = [fill(template, {}) for template, params in routes() if not params]
    paths += [path for path in reachable_paths(known_objects) if path.startswith(device_api)]
    assert len(paths) >= 40
    failures = []
    for path in paths:
        for value in QUERY_VALUES:
            encoded = quote(value, safe="", errors="surrogatepass")
            query = "&".join(f"{name}={encoded}" for name in QUERY_NAMES) + f"&{encoded}=1"
            failures += server_errors(superuser_client, "get", f"{path}?{query}")
        for name in QUERY_NAMES:  # NUL in each name alone too, so no earlier parameter shields a later one
            status, errors = request(superuser_client, "get", f"{path}?{name}=%00")
            failures += errors + ([f"{path}?{name}=%00 -> {status}"] if status != 400 else [])
    assert not failures, "\n".join(failures[:30])


def json_write_operations() -> list[tuple[str, str]]:
    """(method, path template) of every API operation the schema says takes a JSON body."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                operations.append((method, path))
    return operations


def test_every_json_write_endpoint_answers_400_with_the_reason_for_a_hostile_body(superuser_client, known_objects):
    operations = json_write_operations()
    assert len(operations) >= 13
    failures = []
    for method, template in operations:
        path = template.replace("{device_id}", known_objects["device_id"]).replace("{version}", "1.3.0")
        owner = next((prefix for prefix in known_objects["ids"] if path.startswith("/" + prefix)), "api/groups/")
        path = path.replace("{id}", str(known_objects["ids"][owner]))
        for label, (body, reason) in HOSTILE_BODIES.items():
            response = getattr(superuser_client, method)(path, data=body, content_type="application/json")
            text = response.content.decode(errors="replace")
            if response.status_code != 400 or reason not in text:
                failures.append(f"{method.upper()} {path} with {label}: {response.status_code} {text[:200]}")
    assert not failures, "\n".join(failures[:30])


def test_login_refuses_a_deep_body_anonymously():
    response = Client().post("/api/auth/login", data=deep(1200), content_type="application/json")
    assert response.status_code == 400
    assert f"nested deeper than {MAX_DEPTH} levels" in response.json()["detail"]


def test_admin_json_views_and_forms_refuse_hostile_bodies_with_400(superuser_client, known_objects):
    """Every admin route is POSTed a deep body: never a 500. Those answering JSON (the cockpit's live command and
    config views) then get every hostile body and must answer 400 with the reason."""
    failures, json_views = [], []
    for path in reachable_paths(known_objects):
        if not path.startswith("/admin/") or path.endswith("/logout/"):  # logging out would end the test's session
            continue
        response = superuser_client.post(path, data=deep(100_000), content_type="application/json")
        if response.status_code >= 500:
            failures.append(f"POST {path}: {response.status_code} {response.exc_info[1]!r}")
        elif response.headers.get("Content-Type", "").startswith("application/json"):
            json_views.append(path)
    for path in json_views:
        for label, (body, reason) in HOSTILE_BODIES.items():
            response = superuser_client.post(path, data=body, content_type="application/json")
            if response.status_code != 400 or reason not in response.content.decode():
                failures.append(f"POST {path} with {label}: {response.status_code} {response.content[:200]}")
    assert not failures, "\n".join(failures[:30])
    assert len(json_views) >= 2, "the live command and config views were not reached"


def test_admin_actions_refuse_selected_rows_that_are_not_ids(superuser_client, known_objects):
    """Every registered model admin, Django's and third-party ones too: an action on selected rows that are not
    ids of the model answers 400 (it was a 500 from the `pk__in` lookup), never a 500."""
    sendable = [value for value in HOSTILE_VALUES.values() if value != "\ud800"]  # a form cannot encode it
    failures, refused = [], 0
    for model in admin.site._registry:
        changelist = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for value in sendable:
            form = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [value], "index": "0"}
            status, errors = request(superuser_client, "post", changelist, data=form)
            failures += errors
            refused += status == 400
    assert not failures, "\n".join(failures[:30])
    assert refused >= len(admin.site._registry) * 2


FORM_TEXT_BODIES = [(label, body) for label, (body, _) in HOSTILE_BODIES.items() if isinstance(body, str)]


@pytest.mark.parametrize(("label", "params"), FORM_TEXT_BODIES)
def test_the_admin_command_action_shows_hostile_params_as_a_form_error(superuser_client, known_objects, label, params):
    """The "send a command to selected devices" page: its params box goes through the same bounded decoding."""
    device = known_objects["device"]
    form = {
        "action": "send_command",
        ACTION_CHECKBOX_NAME: [str(device.pk)],
        "index": "0",
        "apply": "1",
        "command": "get_logs",
        "params": params,
    }
    response = superuser_client.post("/admin/devices/device/", data=form)
    assert response.status_code == 200, label  # the page again, with the error
    assert "params refused" in response.content.decode(), label
