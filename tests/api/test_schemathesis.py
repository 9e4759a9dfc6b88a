"""Property-based run of the published OpenAPI schema against a live server: no input may cause a 5xx,
and the console's operations answer as documented.

Every operation gets a bounded number of generated requests (valid and invalid bodies, query strings
and path values) with an Admin token, so every permission check passes and the handlers really run.
"""

import time
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from acuvim_console.operators.roles import ADMIN
from alerts.models import Alert, AlertType
from tests.factories import make_device, make_group, make_user

# Besides "no 5xx" everywhere, the console's own operations must answer exactly as documented: only
# documented status codes and content types, bodies matching their schemas. (The firmware app's
# operations are held to "no 5xx" here; their documentation is the firmware app's.)
CONFORMANCE_CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
FIRMWARE_PATHS = ("/api/firmware",)
EXAMPLES_PER_OPERATION = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}
BUDGET_S = 120  # ~30 s on an idle 2-core machine; the bound only catches a runaway run


@pytest.fixture
def served_schema(live_server, transactional_db, settings, mqtt_broker):
    settings.MQTT_URL = mqtt_broker.url
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    admin = make_user(ADMIN)
    device = make_device(group=make_group())
    alert = Alert.objects.create(device=device, alert_type=AlertType.OVERVOLTAGE, message="V1 high")
    known = {"device_id": device.device_id, "/api/groups/": device.group_id, "/api/alerts/": alert.pk}
    headers = {"Authorization": f"Bearer {RefreshToken.for_user(admin).access_token}"}
    document = requests.get(f"{live_server.url}/api/schema/?format=json", headers=headers, timeout=30).json()
    return schemathesis.openapi.from_dict(document), live_server.url, headers, known


def existing_objects(operation, known: dict) -> dict | None:
    """Path values naming objects that exist, so generated bodies reach the handlers, not just a 404."""
    if operation.method.upper() == "DELETE":  # keep them for the operations that follow
        return None
    names = {parameter.name for parameter in operation.path_parameters}
    values = {}
    if "device_id" in names:
        values["device_id"] = known["device_id"]
    if "pk" in names:
        prefix = next((p for p in ("/api/groups/", "/api/alerts/") if operation.path.startswith(p)), None)
        if prefix is None:
            return None
        values["pk"] = str(known[prefix])
    return values if values and set(values) == names else None


def exercise(operation, base_url: str, headers: dict, mode, statuses: Counter, path_values=None) -> list[str]:
    failures = []

    @settings(
        max_examples=EXAMPLES_PER_OPERATION[mode],
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_values))
    def run(case):
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {case.as_curl_command(headers=headers)}")
        elif not operation.path.startswith(FIRMWARE_PATHS):
            try:
                case.validate_response(response, checks=CONFORMANCE_CHECKS)
            except Exception as failure:  # schemathesis reports every failed check at once (a FailureGroup)
                failures.append(f"{case.method} {case.path} -> {response.status_code}: {str(failure)[:400]}")

    try:
        run()
    except Unsatisfiable:  # negative mode on an operation with nothing to get wrong (no parameters, no body)
        assert mode == GenerationMode.NEGATIVE
    return failures


def test_no_generated_request_causes_a_server_error(served_schema):
    schema, base_url, headers, known = served_schema
    started = time.monotonic()
    failures, operations, statuses = [], 0, Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += exercise(operation, base_url, headers, mode, statuses)
        path_values = existing_objects(operation, known)
        if path_values:
            failures += exercise(operation, base_url, headers, GenerationMode.POSITIVE, statuses, path_values)
    print(f"{operations} operations, responses by status: {dict(sorted(statuses.items()))}")
    assert operations >= 45
    assert sum(statuses.values()) >= operations * EXAMPLES_PER_OPERATION[GenerationMode.POSITIVE]
    assert statuses[200] + statuses[201] + statuses[202] > 0 and statuses[400] > 0  # both kinds really ran
    assert not failures, "\n".join(failures[:20])
    assert time.monotonic() - started < BUDGET_S
