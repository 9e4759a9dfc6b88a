"""Why the console refuses a device message: one code per cause, used in logs, counters, dead letters and
docs/mqtt-protocol.md."""

from django.db import models


class RejectReason(models.TextChoices):
    BAD_TOPIC = "bad_topic", "Topic is not a device topic"
    INVALID_DEVICE_ID = "invalid_device_id", "Device id does not match the id pattern"
    PAYLOAD_TOO_LARGE = "payload_too_large", "Payload above MQTT_MAX_PAYLOAD_BYTES"
    INVALID_JSON = "invalid_json", "Payload is not UTF-8 JSON"
    NOT_AN_OBJECT = "not_an_object", "JSON is not an object (or, for telemetry, an array of objects)"
    MISSING_FIELD = "missing_field", "A required field is absent"
    INVALID_FIELD = "invalid_field", "A field has the wrong type, length or value"
    NON_FINITE_NUMBER = "non_finite_number", "NaN or Infinity where a number was expected"
    TS_IN_FUTURE = "ts_in_future", "Timestamp further ahead than MQTT_MAX_FUTURE_SECONDS"
    TS_TOO_OLD = "ts_too_old", "Timestamp before 2020"
    DEVICE_ID_MISMATCH = "device_id_mismatch", "Registration payload names another device than its topic"
    UNKNOWN_DEVICE = "unknown_device", "Data from a device that never registered"
    PAYLOAD_TOO_COMPLEX = "payload_too_complex", "JSON nested too deep or a container with too many members"
    INVALID_TEXT = "invalid_text", "A string holds a NUL character or a lone surrogate"
    HANDLER_ERROR = "handler_error", "The console failed on it repeatedly (a bug): kept for inspection"
