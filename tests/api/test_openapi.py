"""The published OpenAPI document: valid, complete, and with examples where clients start."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

METHODS = ("get", "post", "put", "patch", "delete")
WITH_EXAMPLES = {
    ("/api/auth/login", "post"),
    ("/api/devices/{device_id}/command", "post"),
    ("/api/devices/{device_id}/config", "post"),
    ("/api/devices/{device_id}/telemetry/history", "get"),
    ("/api/groups/{id}/command", "post"),
    ("/api/dashboard/summary", "get"),
}

# Actions whose URL says everything: they take no request body.
BODILESS_ACTIONS = ("/acknowledge", "/wifi/scan", "/auth/ws-ticket")


@pytest.fixture(scope="module")
def schema():
    document = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(document)  # raises on anything that is not valid OpenAPI 3
    return document


def operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_paths_are_the_seeds_without_trailing_slashes(schema):
    paths = set(schema["paths"])
    for expected in (
        "/api/devices",
        "/api/devices/{device_id}",
        "/api/devices/{device_id}/status",
        "/api/devices/{device_id}/command",
        "/api/devices/{device_id}/commands",
        "/api/devices/{device_id}/telemetry",
        "/api/devices/{device_id}/telemetry/history",
        "/api/devices/{device_id}/telemetry/export",
        "/api/devices/{device_id}/alerts",
        "/api/devices/{device_id}/config",
        "/api/devices/{device_id}/config/wifi/scan",
        "/api/alerts",
        "/api/alerts/{id}/acknowledge",
        "/api/groups",
        "/api/groups/{id}",
        "/api/groups/{id}/command",
        "/api/groups/{id}/deploy",
        "/api/auth/login",
        "/api/auth/register",
        "/api/auth/refresh",
        "/api/auth/me",
        "/api/dashboard/summary",
        "/api/dashboard/stats",
    ):
        assert expected in paths, expected
    assert not [path for path in paths if path.endswith("/") and not path.endswith(("/schema/", "/docs/"))]


def test_every_operation_documents_its_success_response_and_its_body(schema):
    for path, method, operation in operations(schema):
        if not path.startswith(("/api/devices", "/api/alerts", "/api/groups", "/api/auth", "/api/dashboard")):
            continue  # firmware operations are documented by their own app
        success = {code: body for code, body in operation["responses"].items() if code.startswith("2")}
        assert success, f"{method.upper()} {path}: no success response"
        for code, body in success.items():
            assert code == "204" or body.get("content"), f"{method.upper()} {path}: {code} without a schema"
        assert operation.get("summary"), f"{method.upper()} {path}: no summary"
        if method in ("post", "put", "patch") and not path.endswith(BODILESS_ACTIONS):
            assert "requestBody" in operation, f"{method.upper()} {path}: no request body"
        if path not in ("/api/auth/login", "/api/auth/refresh"):
            assert "401" in operation["responses"] or path.endswith("/schema/"), f"{method.upper()} {path}: no 401"


def test_main_operations_carry_examples(schema):
    for path, method, operation in operations(schema):
        if (path, method) not in WITH_EXAMPLES:
            continue
        bodies = [*operation.get("requestBody", {}).get("content", {}).values()]
        bodies += [
            content for response in operation["responses"].values() for content in response.get("content", {}).values()
        ]
        assert any(body.get("examples") for body in bodies), f"{method.upper()} {path}: no example"


def test_jwt_is_the_documented_security_scheme(schema):
    schemes = schema["components"]["securitySchemes"]
    assert any(scheme.get("bearerFormat") == "JWT" for scheme in schemes.values())
