"""The measured quantities of the protocol's telemetry record (docs/mqtt-protocol.md), each with its column.

Every quantity is stored in a typed column of its own: the Acuvim II reports IEEE-754 single precision,
so `real` (float4) keeps an instantaneous value exactly as the meter measured it; the four energy
counters grow for years and need `double precision`. Columns carry the protocol's field names, except
the neutral current `in`, a reserved word in SQL and in Python, stored as `i_n`. Everything in this app
that names a quantity (ingest, rollups, history, CSV) takes the list from here.
"""

from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True, slots=True)
class Quantity:
    field: str  # the protocol's name, used on the wire, in the API and in CSV headers
    column: str  # the model field and database column
    unit: str
    label: str
    counter: bool = False  # an energy register: monotonic, double precision, energy per bucket

    @property
    def sql_type(self) -> str:
        return "double precision" if self.counter else "real"

    @property
    def aggregates(self) -> tuple[str, ...]:
        """What the rollups keep of it: every aggregate, but only `last` of an energy counter.

        A counter only grows, so its minimum and maximum over a bucket are its first and last value
        and its average says nothing; what a bucket says about it is its energy (telemetry.rollups).
        Dropping the three saves 96 bytes of every rollup row (a tenth of it).
        """
        return (Aggregate.LAST,) if self.counter else tuple(Aggregate.values)


def _phases(prefix: str, unit: str, label: str, total: str, total_label: str) -> list[Quantity]:
    return [Quantity(f"{prefix}{n}", f"{prefix}{n}", unit, f"{label} L{n}") for n in (1, 2, 3)] + [
        Quantity(total, total, unit, total_label)
    ]


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("f", "f", "Hz", "Frequency"),
    *_phases("v", "V", "Voltage", "vavg", "Voltage (phase average)"),
    Quantity("v12", "v12", "V", "Voltage L1-L2"),
    Quantity("v23", "v23", "V", "Voltage L2-L3"),
    Quantity("v31", "v31", "V", "Voltage L3-L1"),
    Quantity("vlavg", "vlavg", "V", "Line voltage (average)"),
    *_phases("i", "A", "Current", "iavg", "Current (average)"),
    Quantity("in", "i_n", "A", "Neutral current"),
    *_phases("p", "W", "Active power", "pt", "Active power (total)"),
    *_phases("q", "var", "Reactive power", "qt", "Reactive power (total)"),
    *_phases("s", "VA", "Apparent power", "st", "Apparent power (total)"),
    *_phases("pf", "", "Power factor", "pft", "Power factor (total)"),
    Quantity("ep_imp", "ep_imp", "kWh", "Active energy imported", counter=True),
    Quantity("ep_exp", "ep_exp", "kWh", "Active energy exported", counter=True),
    Quantity("eq_imp", "eq_imp", "kvarh", "Reactive energy imported", counter=True),
    Quantity("eq_exp", "eq_exp", "kvarh", "Reactive energy exported", counter=True),
    *(Quantity(f"thd_v{n}", f"thd_v{n}", "%", f"Voltage THD L{n}") for n in (1, 2, 3)),
    *(Quantity(f"thd_i{n}", f"thd_i{n}", "%", f"Current THD L{n}") for n in (1, 2, 3)),
    Quantity("ub_v", "ub_v", "%", "Voltage unbalance"),
    Quantity("ub_i", "ub_i", "%", "Current unbalance"),
)
BY_FIELD = {quantity.field: quantity for quantity in QUANTITIES}
COUNTERS = tuple(quantity for quantity in QUANTITIES if quantity.counter)

# Energy per bucket, as the energy endpoints name it: counter field -> key with its unit.
ENERGY_KEYS = {"ep_imp": "ep_imp_kwh", "ep_exp": "ep_exp_kwh", "eq_imp": "eq_imp_kvarh", "eq_exp": "eq_exp_kvarh"}

# Record keys that are columns of their own rather than quantities.
ENVELOPE_FIELDS = frozenset({"ts", "seq", "src", "conn"})
# Everything a record may carry that has a column; other keys are kept in the `extra` JSON column.
KNOWN_FIELDS = frozenset({*BY_FIELD, *ENVELOPE_FIELDS})

# The five chart quantities of the first history API, under the names its clients know.
LEGACY_CHART_NAMES = {
    "f": "frequency",
    "vavg": "voltage_avg",
    "iavg": "current_avg",
    "pt": "power_total",
    "pft": "power_factor",
}


class Aggregate(models.TextChoices):
    """What a history point can say about a quantity over its bucket."""

    AVG = "avg"
    MIN = "min"
    MAX = "max"
    LAST = "last"


# The device page's chart picker: a set of quantities drawn together, each with its min/max band.
CHART_SETS = {
    "voltages": ("Phase voltages", ("v1", "v2", "v3")),
    "line_voltages": ("Line voltages", ("v12", "v23", "v31")),
    "currents": ("Currents", ("i1", "i2", "i3", "in")),
    "power": ("Active power per phase", ("p1", "p2", "p3")),
    "power_factor": ("Power factor per phase", ("pf1", "pf2", "pf3")),
    "thd_voltage": ("Voltage THD", ("thd_v1", "thd_v2", "thd_v3")),
    "thd_current": ("Current THD", ("thd_i1", "thd_i2", "thd_i3")),
    "unbalance": ("Unbalance", ("ub_v", "ub_i")),
}


def chart_sets() -> dict:
    """CHART_SETS as the page's script reads them: label and, per quantity, field, label and unit."""
    def described(field: str) -> dict:
        return {"field": field, "label": BY_FIELD[field].label, "unit": BY_FIELD[field].unit}

    return {
        key: {"label": label, "fields": [described(field) for field in fields]}
        for key, (label, fields) in CHART_SETS.items()
    }
