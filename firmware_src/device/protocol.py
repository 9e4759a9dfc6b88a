"""Strings of the device <-> console protocol (v1), named once so no literal is scattered around."""

DEFAULT_TOPIC_PREFIX = "acuvim"
PROTOCOL_VERSION = 1
MAX_PAYLOAD_BYTES = 16384
GSM_BATCH_MAX = 6


class Leaf:
    STATUS = "status"
    HEARTBEAT = "heartbeat"
    TELEMETRY = "telemetry"
    ALERTS = "alerts"
    RESP = "resp"
    CMD = "cmd"


class Status:
    ACK = "ack"
    PROGRESS = "progress"
    SUCCESS = "success"
    ERROR = "error"


class ErrorCode:
    EXPIRED = "expired"
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_PARAM = "invalid_param"
    BUSY = "busy"
    FAILED = "failed"
    NO_MODEM = "no_modem"
    MODBUS_ERROR = "modbus_error"
    DOWNLOAD_FAILED = "download_failed"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    INVALID_IMAGE = "invalid_image"
    NO_PREVIOUS_IMAGE = "no_previous_image"
    ROLLED_BACK = "rolled_back"
    # ota_update refusals (our extension, docs/mqtt-protocol.md): not our image, nothing to change, older
    WRONG_PROJECT = "wrong_project"
    SAME_VERSION = "same_version"
    DOWNGRADE = "downgrade"


class TransportMode:
    WIFI_ONLY = "wifi_only"
    GSM_ONLY = "gsm_only"
    WIFI_PREFERRED = "wifi_preferred"
    GSM_PREFERRED = "gsm_preferred"
    ALL = (WIFI_ONLY, GSM_ONLY, WIFI_PREFERRED, GSM_PREFERRED)


class Conn:
    WIFI = "wifi"
    GSM = "gsm"


class ResetReason:
    POWERON = "poweron"
    SW = "sw"
    PANIC = "panic"
    WDT = "wdt"
    BROWNOUT = "brownout"
    DEEPSLEEP = "deepsleep"
    UNKNOWN = "unknown"
    ALL = (POWERON, SW, PANIC, WDT, BROWNOUT, DEEPSLEEP, UNKNOWN)
    CRASHES = (PANIC, WDT)


class OtaState:
    VALID = "valid"
    PENDING_VERIFY = "pending_verify"
    ROLLED_BACK = "rolled_back"


class OtaStage:
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    WRITING = "writing"
    REBOOTING = "rebooting"


class DeviceMode:
    NORMAL = "normal"
    AP = "ap"


class AlertSeverity:
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertState:
    RAISED = "raised"
    CLEARED = "cleared"


class Src:
    LIVE = "live"
    SD = "sd"


COMMANDS = (
    "ping", "get_status", "get_config", "set_config", "restart", "factory_reset", "wifi_scan",
    "gsm_status", "set_transport", "ota_update", "ota_rollback", "modbus_read", "set_meter",
    "sd_status", "sd_clear", "sync_time", "get_logs", "set_log_level", "set_intervals", "clear_energy",
)


def device_topic(prefix, device_id, leaf):
    return prefix + "/" + device_id + "/" + leaf


def register_topic(device_id):
    return "devices/register/" + device_id


def is_valid_device_id(device_id):
    """`ACV-` + 12 upper-case hex digits: the only ids this firmware puts into a topic."""
    if not isinstance(device_id, str) or len(device_id) != 16 or not device_id.startswith("ACV-"):
        return False
    return all(ch in "0123456789ABCDEF" for ch in device_id[4:])
