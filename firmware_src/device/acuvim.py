"""The Acuvim II register map and its translation into a telemetry record (field names of protocol v1)."""

from . import modbus

REALTIME_START = 0x4000
REALTIME_FIELDS = (
    "f", "v1", "v2", "v3", "vavg", "v12", "v23", "v31", "vlavg",
    "i1", "i2", "i3", "iavg", "in",
    "p1", "p2", "p3", "pt", "q1", "q2", "q3", "qt", "s1", "s2", "s3", "st",
    "pf1", "pf2", "pf3", "pft", "ub_v", "ub_i",
)
ENERGY_START = 0x4048
ENERGY_FIELDS = ("ep_imp", "ep_exp", "eq_imp", "eq_exp")
ENERGY_SCALE = 0.1  # counters are in 0.1 kWh / 0.1 kvarh
THD_START = 0x405A
THD_FIELDS = ("thd_v1", "thd_v2", "thd_v3", None, "thd_i1", "thd_i2", "thd_i3", None)
THD_SCALE = 0.01
ENERGY_CLEAR_REGISTER = 0x1016
ENERGY_CLEAR_VALUE = 0x000A
_DECIMALS = {"pf1": 3, "pf2": 3, "pf3": 3, "pft": 3, "f": 3}


def decode_realtime(regs):
    record = {}
    for index, name in enumerate(REALTIME_FIELDS):
        value = modbus.regs_to_float(regs[2 * index], regs[2 * index + 1])
        record[name] = round(value, _DECIMALS.get(name, 2))
    return record


def decode_energy(regs):
    record = {}
    for index, name in enumerate(ENERGY_FIELDS):
        record[name] = round(modbus.regs_to_uint32(regs[2 * index], regs[2 * index + 1]) * ENERGY_SCALE, 1)
    return record


def decode_thd(regs):
    record = {}
    for index, name in enumerate(THD_FIELDS):
        if name is not None:
            record[name] = round(regs[index] * THD_SCALE, 2)
    return record


class AcuvimReader:
    """Reads one snapshot of the meter in three transactions; THD can be skipped to save GSM bytes."""

    def __init__(self, master, slave=1):
        self.master = master
        self.slave = slave

    def read_snapshot(self, include_thd=True):
        record = decode_realtime(self.master.read_registers(self.slave, REALTIME_START, 2 * len(REALTIME_FIELDS)))
        record.update(decode_energy(self.master.read_registers(self.slave, ENERGY_START, 2 * len(ENERGY_FIELDS))))
        if include_thd:
            record.update(decode_thd(self.master.read_registers(self.slave, THD_START, len(THD_FIELDS))))
        return record

    def clear_energy(self):
        self.master.write_register(self.slave, ENERGY_CLEAR_REGISTER, ENERGY_CLEAR_VALUE)
