"""A simulated Acuvim II behind Modbus RTU: three-phase values that drift like a real feeder.

Per device (seeded): nominal voltage, rated current, power factor and phase of the slow wobbles, so a
fleet does not move in lockstep. Frequency wanders 50 Hz +- ~0.03, phase voltages ~230 V +- 1 %, load
follows a day profile (low at night, peak in the afternoon, in UTC), power factor stays 0.90-0.99, and
energy counters integrate the power actually shown.
"""

import math
import random
import struct
import time

from firmware_src.device import acuvim, modbus

_FUNCTION_READS = (modbus.READ_HOLDING, modbus.READ_INPUT)
_READABLE = (acuvim.REALTIME_START, acuvim.THD_START + len(acuvim.THD_FIELDS))


def _day_load(ts):
    hour = (ts % 86400) / 3600.0
    daytime = max(0.0, math.sin(math.pi * (hour - 6.0) / 14.0)) if 6.0 <= hour <= 20.0 else 0.0
    return 0.3 + 0.7 * daytime + 0.05 * math.sin(2 * math.pi * ts / 900.0)


class SimulatedAcuvim:
    def __init__(self, seed, slave=1, serial_settings=(19200, "8N1")):
        rng = random.Random(seed)
        self.slave = slave
        self.serial_settings = serial_settings
        self._rng = rng
        self.v_nominal = 230.0 + rng.uniform(-3.0, 3.0)
        self.i_rated = rng.uniform(8.0, 60.0)
        self.pf_base = rng.uniform(0.91, 0.97)
        self.phase = [rng.uniform(0, 2 * math.pi) for _ in range(6)]
        self.unbalance = [1.0 + rng.uniform(-0.04, 0.04) for _ in range(3)]
        self.voltage_scale = 1.0
        self.energy = [rng.uniform(1000.0, 50000.0), 0.0, rng.uniform(100.0, 8000.0), 0.0]  # kWh, kvarh
        self._last_ts = None
        self._cache_ts = None
        self._regs = {}

    # -- physics ------------------------------------------------------------------------------
    def values(self, ts):
        rng = self._rng
        f = 50.0 + 0.025 * math.sin(2 * math.pi * ts / 137.0 + self.phase[0]) + rng.gauss(0, 0.004)
        volts = [self.voltage_scale * self.v_nominal * (1 + 0.01 * math.sin(2 * math.pi * ts / 600.0 + self.phase[k]))
                 + rng.gauss(0, 0.2) for k in range(3)]
        load = _day_load(ts + self.phase[4] * 600)
        amps = [max(0.0, self.i_rated * load * self.unbalance[k] * (1 + rng.gauss(0, 0.01))) for k in range(3)]
        pfs = [min(0.99, max(0.9, self.pf_base + 0.02 * math.sin(2 * math.pi * ts / 1800.0 + self.phase[k + 3])))
               for k in range(3)]
        p = [volts[k] * amps[k] * pfs[k] for k in range(3)]
        s = [volts[k] * amps[k] for k in range(3)]
        q = [s[k] * math.sqrt(max(0.0, 1 - pfs[k] ** 2)) for k in range(3)]
        angles = [0.0, -2 * math.pi / 3, 2 * math.pi / 3]
        line = [math.sqrt(volts[a] ** 2 + volts[b] ** 2 + volts[a] * volts[b]) for a, b in ((0, 1), (1, 2), (2, 0))]
        i_re = sum(amps[k] * math.cos(angles[k] - math.acos(pfs[k])) for k in range(3))
        i_im = sum(amps[k] * math.sin(angles[k] - math.acos(pfs[k])) for k in range(3))
        vavg = sum(volts) / 3
        iavg = sum(amps) / 3
        ub_v = max(abs(v - vavg) for v in volts) / vavg * 100
        ub_i = max(abs(i - iavg) for i in amps) / iavg * 100 if iavg > 0.01 else 0.0
        pt, qt, st = sum(p), sum(q), sum(s)
        realtime = [f, *volts, vavg, *line, sum(line) / 3, *amps, iavg, math.hypot(i_re, i_im),
                    *p, pt, *q, qt, *s, st, *pfs, pt / st if st else 1.0, ub_v, ub_i]
        thd = [2.0 + 0.3 * math.sin(ts / 300.0 + self.phase[k]) for k in range(3)]
        thd_i = [5.0 + 1.0 * math.sin(ts / 200.0 + self.phase[k]) for k in range(3)]
        return realtime, [*thd, sum(thd) / 3, *thd_i, sum(thd_i) / 3], pt, qt

    def _refresh(self, ts):
        if self._cache_ts is not None and ts - self._cache_ts < 0.5:
            return
        realtime, thd, pt, qt = self.values(ts)
        if self._last_ts is not None:
            hours = max(0.0, ts - self._last_ts) / 3600.0
            self.energy[0] += max(pt, 0.0) / 1000.0 * hours
            self.energy[2] += max(qt, 0.0) / 1000.0 * hours
        self._last_ts = ts
        self._cache_ts = ts
        regs = []
        for value in realtime:
            regs.extend(modbus.float_to_regs(value))
        regs.extend([0] * (acuvim.ENERGY_START - acuvim.REALTIME_START - len(regs)))
        for value in self.energy:
            regs.extend(modbus.uint32_to_regs(round(value / acuvim.ENERGY_SCALE)))
        regs.extend([0] * (acuvim.THD_START - acuvim.REALTIME_START - len(regs)))
        regs.extend(round(value / acuvim.THD_SCALE) for value in thd)
        self._regs = regs

    def clear_energy(self):
        self.energy = [0.0, 0.0, 0.0, 0.0]
        self._cache_ts = None

    # -- Modbus slave -------------------------------------------------------------------------
    def handle(self, frame):
        """The answer frame to a request, or None when a real meter would stay silent."""
        if len(frame) < 8 or not modbus.crc_ok(frame) or frame[0] != self.slave:
            return None
        function = frame[1]
        first, value = struct.unpack(">HH", bytes(frame[2:6]))
        if function in _FUNCTION_READS:
            if first < _READABLE[0] or first + value > _READABLE[1] or not 1 <= value <= modbus.MAX_READ_COUNT:
                return self._exception(function, 2)
            self._refresh(time.time())
            regs = self._regs[first - _READABLE[0]:first - _READABLE[0] + value]
            header = struct.pack(">BBB", self.slave, function, 2 * value)
            return modbus.with_crc(header + struct.pack(f">{value}H", *regs))
        if function == modbus.WRITE_SINGLE:
            if first == acuvim.ENERGY_CLEAR_REGISTER and value == acuvim.ENERGY_CLEAR_VALUE:
                self.clear_energy()
                return modbus.with_crc(bytes(frame[:6]))
            return self._exception(function, 2)
        return self._exception(function, 1)

    def _exception(self, function, code):
        return modbus.with_crc(bytes([self.slave, function | 0x80, code]))
