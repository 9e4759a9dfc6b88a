"""The alert rule, silence and notification channel API, in the contract's shapes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import AlertRule, HealthQuantity, NotificationChannel
from alerts.rules import cache, evaluate_readings
from telemetry.ingest import store_readings
from tests.alerts.conftest import reading, series
from tests.factories import make_device, make_group

pytestmark = pytest.mark.django_db

CONTRACT_RULE = {"name": "V1 high", "field": "v1", "op": ">", "threshold": 250, "clear_threshold": 245,
                 "duration_s": 10, "clear_duration_s": 0, "severity": "warning", "device": None, "group": None,
                 "enabled": True}


def test_an_operator_creates_the_contract_rule_and_its_alerts_carry_the_rule(operator_client, viewer_client, users):
    response = operator_client.post("/api/alert-rules", CONTRACT_RULE, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["scope"] == "fleet" and body["created_by"] == users["Operator"].username
    assert viewer_client.get(f"/api/alert-rules/{body['id']}").json()["name"] == "V1 high"

    device, now = make_device(), timezone.now()
    cache.invalidate()
    evaluate_readings([reading(device, now, v1=260), reading(device, now + timedelta(seconds=10), v1=261)])
    for url in ("/api/alerts", f"/api/devices/{device.device_id}/alerts"):
        (alert,) = viewer_client.get(url).json()["results"]
        assert (alert["rule"], alert["rule_name"], alert["alert_type"]) == (body["id"], "V1 high", f"rule_{body['id']}")
    assert viewer_client.get(f"/api/alerts?rule={body['id']}").json()["count"] == 1
    assert viewer_client.get(f"/api/alerts?rule={body['id'] + 1}").json()["count"] == 0


def test_the_documented_sd_queue_growing_rule_is_accepted_and_its_quantity_is_in_the_schema(operator_client):
    rule = {"name": "SD queue growing", "field": "sd_queue_growth", "op": ">", "threshold": 0, "duration_s": 600,
            "severity": "warning"}
    response = operator_client.post("/api/alert-rules", rule, format="json")
    assert response.status_code == 201, response.content
    assert AlertRule.objects.get(pk=response.json()["id"]).watches_health
    schema = operator_client.get("/api/schema/?format=json").json()
    assert set(HealthQuantity.values) <= set(schema["components"]["schemas"]["FieldEnum"]["enum"])


def test_a_rule_scoped_to_a_device_or_a_group(operator_client):
    device, group = make_device(), make_group()
    by_device = operator_client.post("/api/alert-rules", {**CONTRACT_RULE, "device": device.device_id}, format="json")
    assert by_device.json()["scope"] == f"device {device}"
    by_group = operator_client.post("/api/alert-rules", {**CONTRACT_RULE, "group": str(group.pk)}, format="json")
    assert by_group.json()["scope"] == f"group {group}"
    both = operator_client.post(
        "/api/alert-rules", {**CONTRACT_RULE, "device": device.device_id, "group": str(group.pk)}, format="json"
    )
    assert both.status_code == 400 and "not both" in both.json()["group"][0]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"clear_threshold": 255}, "clear_threshold", "at or below the threshold"),
        ({"op": "<", "clear_threshold": 240}, "clear_threshold", "at or above the threshold"),
        ({"op": "outside"}, "threshold_high", "upper edge"),
        ({"op": "outside", "threshold_high": 260, "clear_threshold": 240}, "clear_threshold", "inside the alert band"),
        ({"escalate_after_s": 60, "escalate_to": "info"}, "escalate_to", "higher than"),
        ({"field": "v9"}, "field", "not a valid choice"),
        ({"threshold": "NaN"}, "threshold", ""),
    ],
)
def test_a_rule_that_cannot_work_is_refused_with_the_reason(operator_client, changes, field, words):
    response = operator_client.post("/api/alert-rules", {**CONTRACT_RULE, **changes}, format="json")
    assert response.status_code == 400
    assert words in " ".join(response.json()[field])
    assert not AlertRule.objects.exists()


def test_a_patch_is_checked_against_the_stored_rule(operator_client):
    rule = operator_client.post("/api/alert-rules", CONTRACT_RULE, format="json").json()
    response = operator_client.patch(f"/api/alert-rules/{rule['id']}", {"threshold": 240}, format="json")
    assert response.status_code == 400 and "clear_threshold" in response.json()
    assert operator_client.patch(f"/api/alert-rules/{rule['id']}", {"enabled": False}, format="json").status_code == 200


def test_channels_are_written_by_admins_and_never_show_their_secret(admin_client, operator_client, viewer_client):
    webhook = {"name": "ops", "kind": "webhook", "url": "https://hooks.example.com/x", "secret": "k3y",
               "min_severity": "info"}
    assert operator_client.post("/api/notification-channels", webhook, format="json").status_code == 403
    created = admin_client.post("/api/notification-channels", webhook, format="json")
    assert created.status_code == 201, created.content
    assert "secret" not in created.json() and created.json()["has_secret"] is True
    mail = {"name": "ops mail", "kind": "email", "to": ["ops@example.com"], "min_severity": "warning"}
    assert admin_client.post("/api/notification-channels", mail, format="json").status_code == 201
    listed = viewer_client.get("/api/notification-channels").json()["results"]
    assert {c["name"] for c in listed} == {"ops", "ops mail"} and all("secret" not in c for c in listed)
    assert NotificationChannel.objects.get(name="ops").secret == "k3y"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "webhook", "url": ""}, "url"),
        ({"kind": "webhook", "url": "ftp://example.com/x"}, "url"),
        ({"kind": "email", "to": []}, "to"),
        ({"kind": "email", "to": ["not an address"]}, "to"),
        ({"kind": "email", "to": ["a@example.com"], "alert_types": ["nonsense"]}, "alert_types"),
    ],
)
def test_a_channel_that_cannot_deliver_is_refused(admin_client, body, field):
    response = admin_client.post("/api/notification-channels", {"name": "x", **body}, format="json")
    assert response.status_code == 400 and field in response.json()


def test_operators_silence_a_group_for_maintenance(operator_client):
    group = make_group()
    ends = (timezone.now() + timedelta(hours=4)).isoformat()
    response = operator_client.post("/api/silences", {"group": str(group.pk), "reason": "switchgear", "ends_at": ends},
                                    format="json")
    assert response.status_code == 201, response.content
    nothing = operator_client.post("/api/silences", {"reason": "what?", "ends_at": ends}, format="json")
    assert nothing.status_code == 400
    backwards = operator_client.post(
        "/api/silences",
        {"group": str(group.pk), "reason": "x", "ends_at": (timezone.now() - timedelta(hours=1)).isoformat()},
        format="json",
    )
    assert backwards.status_code == 400 and "ends_at" in backwards.json()


@pytest.mark.parametrize("device", ["ACV-NOPE", 12, "x" * 100_000])
def test_a_device_that_cannot_exist_is_a_400_not_a_database_error(operator_client, device):
    ends = (timezone.now() + timedelta(hours=1)).isoformat()
    response = operator_client.post("/api/silences", {"device": device, "reason": "x", "ends_at": ends}, format="json")
    assert response.status_code == 400 and "not a device id" in response.json()["device"][0]


def test_a_device_id_with_a_nul_is_refused_by_the_parser_before_any_lookup(operator_client):
    ends = (timezone.now() + timedelta(hours=1)).isoformat()
    body = {"device": "\u0000\u00df", "reason": "x", "ends_at": ends}
    response = operator_client.post("/api/silences", body, format="json")
    assert response.status_code == 400 and "NUL" in response.json()["detail"]


def test_a_huge_rule_id_is_a_404(viewer_client):
    assert viewer_client.get(f"/api/alert-rules/{2**70}").status_code == 404


def test_the_api_dry_run_saves_nothing(operator_client):
    device = make_device()
    store_readings(series(device, timezone.now() - timedelta(hours=1), "v1", [260, 260, 260]))
    body = {"name": "V1 high", "field": "v1", "op": ">", "threshold": 250, "duration_s": 10,
            "device": device.device_id}
    response = operator_client.post("/api/alert-rules/dry-run", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["would_open"] == 1 and not AlertRule.objects.exists()
    health = operator_client.post("/api/alert-rules/dry-run", {**body, "field": "heap_free"}, format="json")
    assert health.status_code == 400 and "health" in health.json()["field"][0]
