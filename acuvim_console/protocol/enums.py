"""Every enumerated value of the device protocol (docs/mqtt-protocol.md), defined once for the console.

Labels are what the admin shows. Models store these values in their fields (migrations carry the choices
inline), payload validation accepts exactly them, and the API documents them.
"""

from django.db import models


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


class DeviceOtaState(models.TextChoices):
    VALID = "valid", "Valid"
    PENDING_VERIFY = "pending_verify", "Pending verify"
    ROLLED_BACK = "rolled_back", "Rolled back"


class TransportMode(models.TextChoices):
    WIFI_ONLY = "wifi_only", "WiFi only"
    GSM_ONLY = "gsm_only", "GSM only"
    WIFI_PREFERRED = "wifi_preferred", "WiFi preferred"
    GSM_PREFERRED = "gsm_preferred", "GSM preferred"


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



class OtaStage(models.TextChoices):
    """The `stage` of an `ota_update` command's progress answers, in the order a gateway reports them."""

    DOWNLOADING = "downloading", "Downloading"
    VERIFYING = "verifying", "Verifying"
    WRITING = "writing", "Writing"
    REBOOTING = "rebooting", "Rebooting"


class PresenceState(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"


class AlertState(models.TextChoices):
    RAISED = "raised", "Raised"
    CLEARED = "cleared", "Cleared"


class ResponseStatus(models.TextChoices):
    ACK = "ack", "Ack"
    PROGRESS = "progress", "Progress"
    SUCCESS = "success", "Success"
    ERROR = "error", "Error"


class Severity(models.TextChoices):
    """Of a device's alert on the wire and of every alert the console keeps (rules, health, the device)."""

    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class TelemetrySource(models.TextChoices):
    LIVE = "live", "Live"
    SD = "sd", "SD replay"
