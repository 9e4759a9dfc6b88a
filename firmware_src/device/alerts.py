"""Device-raised alerts: thresholds on measured values plus device health conditions.

Only transitions are published (raised once, cleared once), so a voltage sitting above the limit does
not flood the console.
"""
# ruff: noqa: UP031 - MicroPython code: no contextlib, %-formatting is its lightest formatter

from .protocol import AlertSeverity, AlertState

PHASE_LOSS_V = 50.0
_PHASES = ("v1", "v2", "v3")


class AlertMonitor:
    def __init__(self, thresholds):
        self.thresholds = thresholds
        self.active = {}

    def _transition(self, out, ts, kind, condition, sev, msg, val=None, thr=None):
        if condition and kind not in self.active:
            self.active[kind] = True
            alert = {"ts": ts, "type": kind, "sev": sev, "state": AlertState.RAISED, "msg": msg}
            if val is not None:
                alert["val"] = val
            if thr is not None:
                alert["thr"] = thr
            out.append(alert)
        elif not condition and kind in self.active:
            del self.active[kind]
            out.append({"ts": ts, "type": kind, "sev": AlertSeverity.INFO, "state": AlertState.CLEARED,
                        "msg": kind + " cleared"})

    def check_record(self, record, ts):
        out = []
        limits = self.thresholds
        volts = [record.get(name) for name in _PHASES if record.get(name) is not None]
        if volts:
            high = max(volts)
            low = min(volts)
            self._transition(out, ts, "overvoltage", high > limits["v_max"], AlertSeverity.WARNING,
                             "phase voltage %.1f V above %.1f V" % (high, limits["v_max"]), high, limits["v_max"])
            self._transition(out, ts, "phase_loss", low < PHASE_LOSS_V, AlertSeverity.CRITICAL,
                             "phase voltage %.1f V: phase lost" % low, low, PHASE_LOSS_V)
            self._transition(out, ts, "undervoltage", PHASE_LOSS_V <= low < limits["v_min"], AlertSeverity.WARNING,
                             "phase voltage %.1f V below %.1f V" % (low, limits["v_min"]), low, limits["v_min"])
        amps = [record.get(name) for name in ("i1", "i2", "i3") if record.get(name) is not None]
        if amps:
            top = max(amps)
            self._transition(out, ts, "overcurrent", top > limits["i_max"], AlertSeverity.WARNING,
                             "current %.1f A above %.1f A" % (top, limits["i_max"]), top, limits["i_max"])
        freq = record.get("f")
        if freq is not None:
            self._transition(out, ts, "frequency_deviation", abs(freq - 50.0) > limits["f_dev"], AlertSeverity.WARNING,
                             "frequency %.2f Hz" % freq, freq, limits["f_dev"])
        pft = record.get("pft")
        if pft is not None and record.get("pt", 0) > 0:
            self._transition(out, ts, "low_power_factor", abs(pft) < limits["pf_min"], AlertSeverity.INFO,
                             "power factor %.2f below %.2f" % (pft, limits["pf_min"]), pft, limits["pf_min"])
        return out

    def condition(self, ts, kind, active, sev, msg):
        """A health condition (modbus_loss, sd_full, ...) that is on or off."""
        out = []
        self._transition(out, ts, kind, active, sev, msg)
        return out

    @staticmethod
    def event(ts, kind, sev, msg):
        """A one-off event (crash_loop, ota_failed) that has no cleared counterpart."""
        return {"ts": ts, "type": kind, "sev": sev, "state": AlertState.RAISED, "msg": msg}
