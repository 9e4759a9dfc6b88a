"""A rule's alert over the production channel layer: its websocket events name the rule, and who handled it."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.utils import timezone

from acuvim_console.core import events
from acuvim_console.operators.roles import OPERATOR, VIEWER
from alerts.models import Alert, AlertRule
from alerts.rules import evaluate_readings
from alerts.services import acknowledge_alerts
from tests.alerts.conftest import reading
from tests.cockpit.test_consumers import communicator, connect_and_snapshot, next_event, tickets_for
from tests.factories import make_device, make_user
from tests.support.channel_layer import redis_channel_layer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def production_channel_layer(live_channel_prefix):
    with redis_channel_layer(live_channel_prefix) as layer:
        yield layer


def test_the_alert_a_rule_opens_reaches_the_sockets_with_the_rules_id_and_name():
    device = make_device()
    rule = AlertRule.objects.create(name="V1 high", field="v1", op=">", threshold=250, severity="warning")
    operator = make_user(OPERATOR)
    tickets = tickets_for(make_user(VIEWER))

    def breach_then_acknowledge():
        evaluate_readings([reading(device, timezone.now(), v1=262)])
        acknowledge_alerts(Alert.objects.filter(rule=rule), operator)

    async def scenario():
        fleet = communicator(f"/ws/fleet/?ticket={next(tickets)}", headers=())
        one = communicator(f"/ws/devices/{device.device_id}/?ticket={next(tickets)}", headers=())
        await connect_and_snapshot(fleet)
        await connect_and_snapshot(one)
        await sync_to_async(breach_then_acknowledge)()
        created = [await next_event(sock, events.ALERT_CREATED) for sock in (fleet, one)]
        updated = await next_event(one, events.ALERT_UPDATED)
        await fleet.disconnect()
        await one.disconnect()
        return created, updated

    created, updated = async_to_sync(scenario)()
    for event in created:
        assert (event["data"]["rule"], event["data"]["rule_name"]) == (rule.pk, "V1 high")
        assert event["data"]["alert_type"] == rule.alert_type and event["data"]["occurrences"] == 1
        assert event["data"]["last_seen_at"] and event["data"]["acknowledged_by"] is None
    assert (updated["data"]["rule_name"], updated["data"]["acknowledged_by"]) == ("V1 high", operator.username)
