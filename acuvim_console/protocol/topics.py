"""Topic names of the device protocol (docs/mqtt-protocol.md, "Topics"): building them and reading them back.

Every topic the console touches is spelled here once, so the bridge's subscriptions, its router and the
command publisher cannot drift apart. The prefix comes from settings.MQTT_TOPIC_PREFIX (default `acuvim`).
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import models

from acuvim_console.protocol.identity import is_valid_device_id
from acuvim_console.protocol.reasons import RejectReason

REGISTER_ROOT = "devices/register"


class TopicKind(models.TextChoices):
    """What a device publishes, named after the last topic segment."""

    REGISTER = "register"
    STATUS = "status"
    HEARTBEAT = "heartbeat"
    TELEMETRY = "telemetry"
    ALERTS = "alerts"
    RESP = "resp"


# Kinds that arrive as `{prefix}/{id}/{kind}`; registration has its own root.
DEVICE_TOPIC_KINDS = (TopicKind.STATUS, TopicKind.HEARTBEAT, TopicKind.TELEMETRY, TopicKind.ALERTS, TopicKind.RESP)
COMMAND_SEGMENT = "cmd"


class TopicError(ValueError):
    """A topic the console does not route; `reason` is a RejectReason."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class DeviceTopic:
    kind: TopicKind
    device_id: str | None  # None only for the bare `devices/register` (the id is then in the payload)


def prefix() -> str:
    return settings.MQTT_TOPIC_PREFIX


def device_topic(device_id: str, kind: str) -> str:
    return f"{prefix()}/{device_id}/{kind}"


def command_topic(device_id: str) -> str:
    return device_topic(device_id, COMMAND_SEGMENT)


def registration_topic(device_id: str | None = None) -> str:
    return f"{REGISTER_ROOT}/{device_id}" if device_id else REGISTER_ROOT


def bridge_status_topic(client_id: str) -> str:
    """Retained online/offline state of one bridge, so operators (and other bridges) can see it is alive."""
    return f"{prefix()}/_console/bridge/{client_id}"


def subscription_filters(shared_group: str = "") -> list[str]:
    """The filters the bridge subscribes to; with a group, MQTT v5 shared subscriptions split the load."""
    filters = [REGISTER_ROOT, f"{REGISTER_ROOT}/+"] + [f"{prefix()}/+/{kind}" for kind in DEVICE_TOPIC_KINDS]
    if shared_group:
        filters = [f"$share/{shared_group}/{topic_filter}" for topic_filter in filters]
    return filters


def parse_topic(topic: str) -> DeviceTopic:
    """Read a device topic, raising TopicError for anything the console does not accept."""
    parts = topic.split("/")
    if topic == REGISTER_ROOT:
        return DeviceTopic(TopicKind.REGISTER, None)
    if len(parts) == 3 and f"{parts[0]}/{parts[1]}" == REGISTER_ROOT:
        return DeviceTopic(TopicKind.REGISTER, _checked_id(parts[2], topic))
    if len(parts) == 3 and parts[0] == prefix() and parts[2] in DEVICE_TOPIC_KINDS:
        return DeviceTopic(TopicKind(parts[2]), _checked_id(parts[1], topic))
    raise TopicError(RejectReason.BAD_TOPIC, f"topic {topic!r} is not a device topic")


def _checked_id(device_id: str, topic: str) -> str:
    if not is_valid_device_id(device_id):
        raise TopicError(RejectReason.INVALID_DEVICE_ID, f"{device_id!r} in topic {topic!r} is not a device id")
    return device_id
