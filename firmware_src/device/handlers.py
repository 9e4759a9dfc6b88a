"""The 20 commands of protocol v1, each a method `cmd_<name>(params, context)` on the running app."""

from . import config as config_mod
from . import modbus
from .commands import DEFERRED, CommandError, int_param, require_confirm
from .logbuf import LEVELS
from .protocol import ErrorCode, TransportMode

BAUD_RATES = config_mod.BAUD_RATES
PARITIES = config_mod.PARITIES


class CommandHandlers:
    def __init__(self, app):
        self.app = app

    def _apply(self, changes):
        try:
            return self.app.apply_config(changes)
        except config_mod.ConfigError as error:
            raise CommandError(ErrorCode.INVALID_PARAM, str(error)) from error

    def cmd_ping(self, params, context):
        return {"uptime": int(self.app.hal.clock.uptime())}

    def cmd_get_status(self, params, context):
        return self.app.status_snapshot()

    def cmd_get_config(self, params, context):
        return config_mod.redact(self.app.config.current)

    def cmd_set_config(self, params, context):
        restart = self._apply(params)
        if restart:
            self.app.schedule_reboot(2.0, "sw")
        return {"cfg": self.app.config.hash(), "restart": restart}

    def cmd_restart(self, params, context):
        delay = int_param(params, "delay_s", 0, 3600, 5)
        self.app.schedule_reboot(float(delay), "sw")
        return None

    def cmd_factory_reset(self, params, context):
        require_confirm(params)
        self.app.schedule_factory_reset(1.0)
        return None

    def cmd_wifi_scan(self, params, context):
        return {"networks": self.app.hal.wifi_scan()}

    def cmd_gsm_status(self, params, context):
        return self.app.hal.gsm_info()

    def cmd_set_transport(self, params, context):
        mode = params.get("mode")
        if mode not in TransportMode.ALL:
            raise CommandError(ErrorCode.INVALID_PARAM, "mode must be one of " + ", ".join(TransportMode.ALL))
        if mode != TransportMode.WIFI_ONLY and not self.app.has_modem():
            raise CommandError(ErrorCode.NO_MODEM, "no GSM modem on this device")
        self._apply({"transport": {"mode": mode}})
        return {"mode": mode}

    def cmd_ota_update(self, params, context):
        self.app.ota.start(params, context, self.app.opts.get("token"))
        return DEFERRED

    def cmd_ota_rollback(self, params, context):
        version = self.app.ota.rollback()
        return {"fw": version}

    def cmd_modbus_read(self, params, context):
        start = int_param(params, "addr", 0, 0xFFFF)
        count = int_param(params, "count", 1, modbus.MAX_READ_COUNT, 1)
        function = int_param(params, "fc", 3, 4, 3)
        try:
            regs = self.app.modbus.read_registers(self.app.reader.slave, start, count, function)
        except modbus.ModbusError as error:
            raise CommandError(ErrorCode.MODBUS_ERROR, str(error)) from error
        return {"regs": regs}

    def cmd_set_meter(self, params, context):
        changes = {}
        if "addr" in params:
            changes["addr"] = int_param(params, "addr", 1, 247)
        if "baud" in params:
            if params["baud"] not in BAUD_RATES:
                choices = ", ".join([str(b) for b in BAUD_RATES])
                raise CommandError(ErrorCode.INVALID_PARAM, "baud must be one of " + choices)
            changes["baud"] = params["baud"]
        if "parity" in params:
            if params["parity"] not in PARITIES:
                raise CommandError(ErrorCode.INVALID_PARAM, "parity must be one of " + ", ".join(PARITIES))
            changes["parity"] = params["parity"]
        if not changes:
            raise CommandError(ErrorCode.INVALID_PARAM, "give at least one of addr, baud, parity")
        self._apply({"modbus": changes})
        return None

    def cmd_sd_status(self, params, context):
        return self.app.sd_status()

    def cmd_sd_clear(self, params, context):
        require_confirm(params)
        if self.app.sd is None:
            raise CommandError(ErrorCode.FAILED, "no SD card")
        return {"deleted": self.app.sd.clear()}

    def cmd_sync_time(self, params, context):
        ts = params.get("ts")
        if ts is not None and (isinstance(ts, bool) or not isinstance(ts, (int, float)) or ts < 1.0e9):
            raise CommandError(ErrorCode.INVALID_PARAM, "ts must be Unix seconds")
        self.app.hal.clock.set_time(ts)
        return {"ts": self.app.hal.clock.now()}

    def cmd_get_logs(self, params, context):
        return {"lines": self.app.logs.tail(int_param(params, "lines", 1, 500, 50))}

    def cmd_set_log_level(self, params, context):
        if params.get("level") not in LEVELS:
            raise CommandError(ErrorCode.INVALID_PARAM, "level must be one of " + ", ".join(sorted(LEVELS.keys())))
        self._apply({"log_level": params["level"]})
        return None

    def cmd_set_intervals(self, params, context):
        changes = {}
        for key in ("telemetry_s", "telemetry_gsm_s", "heartbeat_s"):
            if key in params:
                changes.setdefault("intervals", {})[key] = int_param(params, key, 1, 86400)
        if "poll_s" in params:
            changes["modbus"] = {"poll_s": int_param(params, "poll_s", 1, 86400)}
        if not changes:
            raise CommandError(ErrorCode.INVALID_PARAM, "give at least one interval")
        self._apply(changes)
        return None

    def cmd_clear_energy(self, params, context):
        require_confirm(params)
        try:
            self.app.reader.clear_energy()
        except modbus.ModbusError as error:
            raise CommandError(ErrorCode.MODBUS_ERROR, str(error)) from error
        return None
