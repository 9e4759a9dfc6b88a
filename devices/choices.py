"""Status sets of the device protocol (shared/protocol.md), named once for the whole console."""

from django.db import models


class DeviceStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    ONLINE = "online", "Online"
    DEGRADED = "degraded", "Degraded"
    OFFLINE = "offline", "Offline"
    DECOMMISSIONED = "decommissioned", "Decommissioned"


# Devices in these states may not have their data stored (registration policy).
UNACCEPTED_STATUSES = (DeviceStatus.PENDING, DeviceStatus.DECOMMISSIONED)


class ConnectionType(models.TextChoices):
    WIFI = "wifi", "WiFi"
    GSM = "gsm", "GSM"


class ResetReason(models.TextChoices):
    POWERON = "poweron", "Power on"
    SOFTWARE = "sw", "Software"
    PANIC = "panic", "Panic"
    WATCHDOG = "wdt", "Watchdog"
    BROWNOUT = "brownout", "Brownout"
    DEEPSLEEP = "deepsleep", "Deep sleep"
    UNKNOWN = "unknown", "Unknown"


# Resets that mean the device crashed rather than being restarted on purpose.
CRASH_RESET_REASONS = (ResetReason.PANIC, ResetReason.WATCHDOG, ResetReason.BROWNOUT)


class DeviceOtaState(models.TextChoices):
    VALID = "valid", "Valid"
    PENDING_VERIFY = "pending_verify", "Pending verify"
    ROLLED_BACK = "rolled_back", "Rolled back"


class TransportMode(models.TextChoices):
    WIFI_ONLY = "wifi_only", "WiFi only"
    GSM_ONLY = "gsm_only", "GSM only"
    WIFI_PREFERRED = "wifi_preferred", "WiFi preferred"
    GSM_PREFERRED = "gsm_preferred", "GSM preferred"


class CommandStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    ACK = "ack", "Acknowledged"
    SUCCESS = "success", "Success"
    ERROR = "error", "Error"
    TIMEOUT = "timeout", "Timed out"
    EXPIRED = "expired", "Expired"


OPEN_COMMAND_STATUSES = (CommandStatus.PENDING, CommandStatus.SENT, CommandStatus.ACK)
FINAL_COMMAND_STATUSES = (
    CommandStatus.SUCCESS,
    CommandStatus.ERROR,
    CommandStatus.TIMEOUT,
    CommandStatus.EXPIRED,
)


class CommandName(models.TextChoices):
    """The 20 commands a gateway understands."""

    PING = "ping"
    GET_STATUS = "get_status"
    GET_CONFIG = "get_config"
    SET_CONFIG = "set_config"
    RESTART = "restart"
    FACTORY_RESET = "factory_reset"
    WIFI_SCAN = "wifi_scan"
    GSM_STATUS = "gsm_status"
    SET_TRANSPORT = "set_transport"
    OTA_UPDATE = "ota_update"
    OTA_ROLLBACK = "ota_rollback"
    MODBUS_READ = "modbus_read"
    SET_METER = "set_meter"
    SD_STATUS = "sd_status"
    SD_CLEAR = "sd_clear"
    SYNC_TIME = "sync_time"
    GET_LOGS = "get_logs"
    SET_LOG_LEVEL = "set_log_level"
    SET_INTERVALS = "set_intervals"
    CLEAR_ENERGY = "clear_energy"
