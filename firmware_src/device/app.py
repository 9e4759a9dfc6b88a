"""The gateway application: one boot of the firmware, driven by `tick()` from a main loop.

It owns no hardware; everything physical comes from the HAL (`hal/esp32.py` on the board,
`hal/host.py` in the simulator). `tick()` does whatever is due and returns how long the caller may
sleep, so the ESP32 main loop and the simulator's shared scheduler run the same code.
"""
# ruff: noqa: UP031 - MicroPython code: no contextlib, %-formatting is its lightest formatter

from . import acuvim, alerts, bootguard, commands, config, handlers, modbus, ota, sdbuffer, session, transport
from .backoff import Backoff
from .logbuf import LogBuffer
from .protocol import (
    GSM_BATCH_MAX,
    AlertSeverity,
    Conn,
    DeviceMode,
    Leaf,
    ResetReason,
    Src,
    register_topic,
)

DEFAULT_OPTIONS = {
    "topic_prefix": "acuvim",
    "hw": "TTGO T-Call v1.4",
    "token": None,
    "selftest_s": 60.0,
    "stable_s": 60.0,
    "link_check_s": 5.0,
    "link_fail_threshold": 2,
    "switchback_s": 30.0,
    "backoff_base_s": 1.0,
    "backoff_cap_s": 60.0,
    "sd_segment_bytes": 65536,
    "sd_cap_bytes": 64 * 1024 * 1024,
    "max_inflight": 100,
    "drain_batches": 4,
    "modbus_timeout_ms": 300,
    "keepalive_s": session.KEEPALIVE_S,
    "low_heap_bytes": 32768,
    "sd_reserve_bytes": 1536 * 1024,  # kept free on the card for an OTA download: an image fills at most its slot
    "gsm_fail_threshold": 3,
}
MAX_PENDING_ALERTS = 50
PENDING_ALERTS_KEY = "alerts"
# A full card: ENOSPC from a write, EACCES (FatFs FR_DENIED) when a new file or directory cluster has no room.
CARD_FULL_ERRNOS = (28, 13)
# Internal fields of a record sampled before the clock was set; replaced by `ts` once it is known.
UNDATED_UPTIME = "_up"
UNDATED_BOOT = "_boot"


class GatewayApp:
    def __init__(self, hal, options=None):
        self.hal = hal
        self.opts = dict(DEFAULT_OPTIONS)
        if options:
            self.opts.update(options)
        self.device_id = hal.device_id()
        self.reset_reason = hal.reset_cause()
        self.logs = LogBuffer(100, "info", hal.log_sink)
        self.guard = bootguard.BootGuard(hal.nvs, self.reset_reason, self.opts["stable_s"])
        self.config = config.ConfigStore(hal.nvs)
        if self.guard.crash_loop:
            self._wipe_config()
            self._queue_persistent_alert(alerts.AlertMonitor.event(
                self.now(), "crash_loop", AlertSeverity.CRITICAL,
                "%d quick crashes in a row: factory reset into AP mode" % bootguard.CRASH_LOOP_LIMIT))
        self.logs.level = self.config.current["log_level"]
        self.mode = DeviceMode.NORMAL if config.is_provisioned(self.config.current) else DeviceMode.AP
        self.sd = None
        if hal.sd_root is not None:
            self.sd = self._open_sd()
        self.modbus = modbus.ModbusMaster(hal.rs485, self.opts["modbus_timeout_ms"])
        self._apply_meter_settings()
        self.transport = transport.TransportManager(
            hal.links, self._transport_mode(), self.opts["link_check_s"], self.opts["link_fail_threshold"],
            self.opts["switchback_s"], self._on_transport_change)
        self.session = session.MqttSession(
            hal.mqtt_client(self.device_id), self.device_id, self.opts["topic_prefix"], hal.clock,
            Backoff(self.opts["backoff_base_s"], self.opts["backoff_cap_s"], hal.random), self.log, self,
            self.opts["keepalive_s"])
        download_path = hal.sd_root + "/ota_download.bin" if hal.sd_root is not None else None
        self.ota = ota.OtaManager(hal.nvs, hal.partitions, hal.downloader, download_path, self.log,
                                  self.opts["selftest_s"], hal.wdt_feed)
        self.ota.boot(hal.clock.uptime())
        self.processor = commands.CommandProcessor(handlers.CommandHandlers(self), self._publish_resp, hal.clock,
                                                   self.log, store=hal.nvs)
        self.alerts = alerts.AlertMonitor(self.config.current["thresholds"])
        self.seq = 0
        self.last_record = None
        self.modbus_ok = False
        self.modbus_last_ok = None
        self.lost_records = 0
        self._alerts_out = []
        self._gsm_batch = []
        self._unacked_live = {}
        self._drain_inflight = []
        self._next_poll = 0.0
        self._next_telemetry = float(self.config.current["intervals"]["telemetry_s"])
        self._next_gsm_flush = 0.0
        self._next_heartbeat = None
        self._reboot_at = None
        self._reboot_reason = ResetReason.SW
        self._factory_reset_at = None
        self.log("info", "boot %d (%s), fw %s, mode %s" % (
            self.guard.boot_count, self.reset_reason, self.fw_version(), self.mode))
        panic = hal.last_panic() if self.reset_reason == ResetReason.PANIC else None
        if panic:  # kept in NVS by main.py before the reset, so get_logs can say what crashed
            self.log("error", "the previous boot ended in an uncaught exception: %s" % panic)
        if self.reset_reason == ResetReason.BROWNOUT:
            self._queue_alerts([alerts.AlertMonitor.event(
                self.now(), "brownout", AlertSeverity.WARNING, "the supply voltage dipped and reset the gateway")])
        if self.mode == DeviceMode.AP:
            hal.start_portal(self)

    # -- small helpers ------------------------------------------------------------------------
    def now(self):
        return self.hal.clock.now()

    def log(self, level, message):
        self.logs.log(level, self.now(), self.device_id + ": " + message)

    def fw_version(self):
        return self.hal.partitions.running_version()

    def has_modem(self):
        gsm = self.hal.links.get(Conn.GSM)
        return gsm is not None and gsm.present()

    def conn(self):
        return self.transport.active

    def _transport_mode(self):
        return self.config.current["transport"]["mode"]

    def _apply_meter_settings(self):
        meter = self.config.current["modbus"]
        self.hal.rs485.configure(meter["baud"], meter["parity"])
        self.reader = acuvim.AcuvimReader(self.modbus, meter["addr"])

    def _wipe_config(self):
        self.config.reset()
        self.hal.nvs.delete("ota_sha")

    def _open_sd(self):
        """The SD buffer, capped below the card's real free space (minus a reserve for the OTA file)."""
        try:
            buffer = sdbuffer.SdBuffer(self.hal.sd_root + "/buffer", self.opts["sd_segment_bytes"],
                                       self.opts["sd_cap_bytes"], self.hal.wdt_feed)
        except OSError as error:
            self.log("error", "SD card unusable: %r" % (error,))
            self._sd_failed(error)
            return None
        room = buffer.total_bytes() + self.hal.sd_free_kb() * 1024 - self.opts["sd_reserve_bytes"]
        buffer.cap_bytes = max(self.opts["sd_segment_bytes"], min(self.opts["sd_cap_bytes"], room))
        return buffer

    def _sd_failed(self, error):
        self._queue_alerts(self.alerts.condition(self.now(), "sd_fail", True, AlertSeverity.CRITICAL,
                                                 "SD card failed: %r; buffering is off" % (error,)))

    def _queue_persistent_alert(self, alert):
        pending = self.hal.nvs.get(PENDING_ALERTS_KEY, [])
        pending.append(alert)
        self.hal.nvs.set(PENDING_ALERTS_KEY, pending[-MAX_PENDING_ALERTS:])

    def apply_config(self, changes):
        """Validate + persist a partial config and apply what can change at run time; returns restart flag."""
        _, restart = self.config.apply(changes)
        current = self.config.current
        self.logs.level = current["log_level"]
        self.alerts.thresholds = current["thresholds"]
        self._apply_meter_settings()
        if self._transport_mode() != self.transport.mode:
            self.transport.set_mode(self._transport_mode(), self.hal.clock.uptime())
        self._next_heartbeat = min(self._next_heartbeat or 0.0, self.hal.clock.uptime() + 1.0)
        return restart

    # -- scheduling ---------------------------------------------------------------------------
    def schedule_reboot(self, delay_s, reason):
        self._reboot_at = self.hal.clock.uptime() + delay_s
        self._reboot_reason = reason

    def schedule_factory_reset(self, delay_s):
        self._factory_reset_at = self.hal.clock.uptime() + delay_s

    def tick(self):
        """Run everything that is due; returns the seconds until the next call is needed."""
        hal = self.hal
        up = hal.clock.uptime()
        hal.wdt_feed()
        self.guard.tick(up)
        if self._factory_reset_at is not None and up >= self._factory_reset_at:
            self.factory_reset()
            return 1.0
        if self._reboot_at is not None and up >= self._reboot_at:
            self.reboot(self._reboot_reason)
            return 1.0
        if self.ota.tick_selftest(up):
            self.reboot(ResetReason.SW)
            return 1.0
        if self.mode == DeviceMode.NORMAL:
            self.transport.tick(up)
            hal.clock.maintain(up, self.transport.is_up())
            self.session.tick(up, self.transport.is_up(), self.config.current["mqtt"], self.conn(),
                              allowed=not hal.firmware_broken())
        if up >= self._next_poll:
            self._next_poll = up + self.config.current["modbus"]["poll_s"]
            self._poll_meter()
        if up >= self._next_telemetry and self.last_record is not None:
            self._next_telemetry = up + self.config.current["intervals"]["telemetry_s"]
            self._emit_telemetry()
        if self._gsm_batch and (up >= self._next_gsm_flush or len(self._gsm_batch) >= GSM_BATCH_MAX):
            self._flush_gsm_batch()
        if self.session.connected:
            if self._next_heartbeat is not None and up >= self._next_heartbeat:
                self._next_heartbeat = up + self.config.current["intervals"]["heartbeat_s"]
                snapshot = self.status_snapshot()
                self._check_health(snapshot)
                self.session.publish(Leaf.HEARTBEAT, snapshot)
            self._flush_alerts()
            self._drain_sd()
        self.ota.tick(up, self.session.connected)
        if self.ota.reboot_requested:
            self.ota.reboot_requested = False
            self.schedule_reboot(1.0, ResetReason.SW)
        if self._draining() or self.ota.job is not None:
            return 0.1
        due = [self._next_poll, self._next_telemetry]
        if self._next_heartbeat is not None and self.session.connected:
            due.append(self._next_heartbeat)
        return max(0.05, min(1.0, min(due) - up))

    # -- meter and telemetry ------------------------------------------------------------------
    def _poll_meter(self):
        include_thd = self.conn() != Conn.GSM
        try:
            snapshot = self.reader.read_snapshot(include_thd)
        except modbus.ModbusError as error:
            if self.modbus_ok or self.modbus_last_ok is None:
                self.log("warning", "meter read failed: %s" % error)
            self.modbus_ok = False
            self.last_record = None
            self._queue_alerts(self.alerts.condition(self.now(), "modbus_loss", True, AlertSeverity.CRITICAL,
                                                     "no answer from the meter: %s" % error))
            return
        self.modbus_ok = True
        self.modbus_last_ok = self.now()
        self.last_record = snapshot
        self._queue_alerts(self.alerts.condition(self.now(), "modbus_loss", False, AlertSeverity.CRITICAL, ""))
        self._queue_alerts(self.alerts.check_record(snapshot, self.now()))

    def _emit_telemetry(self):
        self.seq += 1
        now = self.now()
        record = {"ts": now, "seq": self.seq, "src": Src.LIVE}
        if self.conn() is not None:
            record["conn"] = self.conn()
        record.update(self.last_record)
        if now is None:
            # No wall time yet: keep the sample with its uptime; the drain dates it once the clock is set.
            record[UNDATED_UPTIME] = self.hal.clock.uptime()
            record[UNDATED_BOOT] = self.guard.boot_count
            self._buffer([record])
        elif not self.session.connected or self.session.inflight() >= self.opts["max_inflight"]:
            self._buffer([record])
        elif self.conn() == Conn.GSM:
            if not self._gsm_batch:
                self._next_gsm_flush = self.hal.clock.uptime() + self.config.current["intervals"]["telemetry_gsm_s"]
            self._gsm_batch.append(record)
        else:
            self._send_live([record], record)

    def _send_live(self, records, payload):
        mid = self.session.publish(Leaf.TELEMETRY, payload)
        if mid is None:
            self._buffer(records)
        else:
            self._unacked_live[mid] = records

    def _flush_gsm_batch(self):
        batch = self._gsm_batch[:GSM_BATCH_MAX]
        self._gsm_batch = self._gsm_batch[GSM_BATCH_MAX:]
        if self.session.connected:
            self._send_live(batch, batch)
        else:
            self._buffer(batch)

    def _buffer(self, records):
        for index, record in enumerate(records):
            if self.sd is None:
                self.lost_records += len(records) - index
                return
            record["src"] = Src.SD
            self._append_sd(record)

    def _append_sd(self, record):
        """A full card gives up its oldest segment (sd_full); any other SD error turns buffering off (sd_fail)."""
        dropped = self.sd.dropped
        try:
            while True:
                try:
                    self.sd.append(record)
                    break
                except OSError as error:
                    if error.args[0] not in CARD_FULL_ERRNOS or not self.sd.drop_oldest():
                        raise
                    self.sd.cap_bytes = max(self.opts["sd_segment_bytes"], self.sd.total_bytes())
        except OSError as error:
            self.log("error", "SD write failed: %r" % (error,))
            self.lost_records += 1
            self.sd = None
            self._sd_failed(error)
            return
        if self.sd.dropped > dropped:
            self._queue_alerts(self.alerts.condition(
                self.now(), "sd_full", True, AlertSeverity.WARNING,
                "SD buffer full: oldest records dropped (%d so far)" % self.sd.dropped))

    def _date(self, record):
        """Give a record sampled before the clock was set its `ts`; False if it cannot be dated any more."""
        uptime = record.pop(UNDATED_UPTIME, None)
        boot = record.pop(UNDATED_BOOT, None)
        if uptime is None:
            return True
        if boot != self.guard.boot_count:
            return False  # sampled in an earlier boot: its uptime says nothing about the wall time
        record["ts"] = self.now() - (self.hal.clock.uptime() - uptime)
        return True

    def _draining(self):
        return self.session.connected and self.sd is not None and self.sd.queued > 0

    def _drain_sd(self):
        """Replay buffered records oldest first, a few batches in flight, without holding up live data."""
        if self.sd is None or self.now() is None:
            return
        limit = self.opts["max_inflight"] // 2
        while len(self._drain_inflight) < self.opts["drain_batches"] and self.session.inflight() < limit:
            records, token = self.sd.peek(GSM_BATCH_MAX)
            if token is None:
                self._queue_alerts(self.alerts.condition(self.now(), "sd_full", False, AlertSeverity.WARNING, ""))
                return
            dated = []
            for record in records:
                record["src"] = Src.SD
                if self._date(record):
                    dated.append(record)
                else:
                    self.lost_records += 1
            if not dated:
                self._drain_inflight.append([None, token, True])
                self._commit_acked_batches()
                continue
            mid = self.session.publish(Leaf.TELEMETRY, dated)
            if mid is None:
                self.sd.rewind()
                return
            self._drain_inflight.append([mid, token, False])

    def on_published(self, mid):
        if self._unacked_live.pop(mid, None) is not None:
            return
        for entry in self._drain_inflight:
            if entry[0] == mid:
                entry[2] = True
        self._commit_acked_batches()

    def _commit_acked_batches(self):
        """Move the SD cursor over the acknowledged batches at the head, so it never skips one in flight."""
        while self.sd is not None and self._drain_inflight and self._drain_inflight[0][2]:
            self.sd.commit(self._drain_inflight.pop(0)[1])

    # -- MQTT session callbacks ---------------------------------------------------------------
    def on_connected(self):
        # On every connection: the console treats a repeat as an inventory update, and a registration
        # lost with a connection that dropped before its PUBACK would otherwise never come back.
        self.session.publish(None, self.registration(), topic=register_topic(self.device_id))
        self._next_heartbeat = self.hal.clock.uptime()
        failure = self.ota.on_mqtt_connected(self.processor)
        if failure:
            self._queue_alerts([alerts.AlertMonitor.event(self.now(), "ota_failed", AlertSeverity.WARNING, failure)])
        pending = self.hal.nvs.get(PENDING_ALERTS_KEY, [])
        if pending:
            self._queue_alerts(pending)
            self.hal.nvs.delete(PENDING_ALERTS_KEY)

    def on_disconnected(self):
        """Whatever the broker had not acknowledged goes (back) to the SD buffer: nothing is lost."""
        unacked = []
        for mid in sorted(self._unacked_live.keys()):
            unacked.extend(self._unacked_live[mid])
        self._unacked_live = {}
        unacked.extend(self._gsm_batch)
        self._gsm_batch = []
        if unacked:
            self._buffer(unacked)
        self._drain_inflight = []
        if self.sd is not None:
            self.sd.rewind()

    def on_command(self, payload):
        self.processor.handle(payload)

    def _publish_resp(self, message):
        self.session.publish(Leaf.RESP, message)

    def _queue_alerts(self, new_alerts):
        self._alerts_out.extend(new_alerts)
        if len(self._alerts_out) > MAX_PENDING_ALERTS:
            self._alerts_out = self._alerts_out[-MAX_PENDING_ALERTS:]

    def _flush_alerts(self):
        while self._alerts_out:
            if self.session.publish(Leaf.ALERTS, self._alerts_out[0]) is None:
                return
            self._alerts_out.pop(0)

    def _check_health(self, snapshot):
        """Conditions seen in the heartbeat: a heap running low, a modem that keeps failing to dial."""
        now = self.now()
        self._queue_alerts(self.alerts.condition(
            now, "low_heap", snapshot["heap"] < self.opts["low_heap_bytes"], AlertSeverity.WARNING,
            "free heap %d bytes (lowest %d)" % (snapshot["heap"], snapshot["heap_min"])))
        if self.has_modem():
            failures = self.hal.gsm_failures()
            self._queue_alerts(self.alerts.condition(
                now, "gsm_fail", failures >= self.opts["gsm_fail_threshold"], AlertSeverity.WARNING,
                "GSM dial failed %d times in a row" % failures))

    def _on_transport_change(self, old, new):
        self.log("info", "transport %s -> %s" % (old, new))
        self.session.drop()

    # -- snapshots ----------------------------------------------------------------------------
    def registration(self):
        meter = self.config.current["modbus"]
        caps = ["wifi"]
        if self.has_modem():
            caps.append("gsm")
        if self.sd is not None:
            caps.append("sd")
        caps.append("modbus")
        payload = {
            "device_id": self.device_id, "mac": self.hal.mac(), "hw": self.opts["hw"], "fw": self.fw_version(),
            "caps": caps, "boot": self.guard.boot_count, "reset": self.reset_reason,
            "meter": {"model": "Acuvim II", "addr": meter["addr"], "baud": meter["baud"], "parity": meter["parity"]},
            "hb_s": self.config.current["intervals"]["heartbeat_s"], "cfg": self.config.hash(), "ts": self.now(),
        }
        if self.has_modem():
            payload["imei"] = self.hal.imei()
            payload["iccid"] = self.hal.iccid()
        return payload

    def sd_status(self):
        if self.sd is None:
            return {"ok": False, "queued": 0, "files": 0, "free_kb": 0}
        return {"ok": True, "queued": self.sd.queued, "files": self.sd.file_count(), "free_kb": self.hal.sd_free_kb(),
                "dropped": self.sd.dropped}

    def status_snapshot(self):
        heap, heap_min = self.hal.heap()
        conn = self.conn()
        link = self.hal.links.get(conn) if conn else None
        sd = self.sd_status()
        gsm = {"ok": False}
        if self.has_modem():
            gsm = {"ok": self.hal.links[Conn.GSM].is_up()}
        return {
            "ts": self.now(), "fw": self.fw_version(), "uptime": int(self.hal.clock.uptime()),
            "boot": self.guard.boot_count, "reset": self.reset_reason, "heap": heap, "heap_min": heap_min,
            "conn": conn, "rssi": link.rssi() if link else None, "ip": link.ip() if link else None,
            "hb_s": self.config.current["intervals"]["heartbeat_s"], "cfg": self.config.hash(),
            "sd": {"ok": sd["ok"], "queued": sd["queued"], "free_kb": sd["free_kb"]},
            "modbus": {"ok": self.modbus_ok, "errors": self.modbus.errors, "last_ok": self.modbus_last_ok},
            "gsm": gsm, "mqtt_reconnects": self.session.reconnects, "ota": self.ota.heartbeat_info(),
            "mode": self.mode, "seq": self.seq,
        }

    # -- lifecycle ----------------------------------------------------------------------------
    def reboot(self, reason):
        self.log("info", "rebooting (%s)" % reason)
        self.session.close("reboot")
        self.hal.reboot(reason)

    def factory_reset(self):
        """Forget the config (the SD buffer keeps its measurements) and come back in AP mode."""
        self.log("warning", "factory reset")
        self._wipe_config()
        self.reboot(ResetReason.SW)

    def provision(self, changes):
        """Captive-portal submit: apply the settings and reboot into normal mode when complete."""
        restart = self.apply_config(changes)
        if config.is_provisioned(self.config.current):
            self.schedule_reboot(1.0, ResetReason.SW)
        return restart
