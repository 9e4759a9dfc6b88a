"""Reading telemetry back: the latest record and bucketed history for charts.

History is averaged per time bucket inside the database so a month of 5-second readings comes back
as a few thousand points. PostgreSQL buckets with `date_bin` (14+, also on TimescaleDB); SQLite, used
by the embedded mode, buckets on the Unix epoch, which gives the same bucket edges for the same origin.
"""

from datetime import UTC, datetime

from django.db.models import Avg, Count, DateTimeField, Func

from telemetry.models import TelemetryRecord

QUANTITIES = ("frequency", "voltage_avg", "current_avg", "power_total", "power_factor")
# Buckets are aligned to this instant, so the same range always gives the same bucket edges.
BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


class TimeBucket(Func):
    """The start of the `bucket_seconds`-long bucket holding an expression's timestamp."""

    output_field = DateTimeField()

    def __init__(self, expression, bucket_seconds: int):
        self.bucket_seconds = int(bucket_seconds)
        super().__init__(expression)

    def as_postgresql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        sql = f"date_bin(%s::interval, {column}, %s::timestamptz)"
        return sql, (f"{self.bucket_seconds} seconds", *params, BUCKET_ORIGIN)

    def as_sql(self, compiler, connection, **extra_context):
        # Portable path (SQLite): whole seconds since the origin, floored to the bucket, back to a datetime.
        column, params = compiler.compile(self.source_expressions[0])
        origin = int(BUCKET_ORIGIN.timestamp())
        sql = (
            f"strftime('%%Y-%%m-%%d %%H:%%M:%%S', "
            f"((CAST(strftime('%%s', {column}) AS INTEGER) - {origin}) / {self.bucket_seconds}) * {self.bucket_seconds}"
            f" + {origin}, 'unixepoch')"
        )
        return sql, params


def latest(device) -> TelemetryRecord | None:
    return TelemetryRecord.objects.filter(device=device).order_by("-ts").first()


def history(device, start: datetime, end: datetime, bucket_seconds: int) -> list[dict]:
    """Averages of the five chart quantities per bucket in [start, end), oldest first, empty buckets omitted.

    Each point also says how many readings it averages (`samples`), so a chart can show sparse buckets.
    """
    rows = (
        TelemetryRecord.objects.filter(device=device, ts__gte=start, ts__lt=end)
        .order_by()
        .annotate(t=TimeBucket("ts", bucket_seconds))
        .values("t")
        .annotate(samples=Count("id"), **{name: Avg(name) for name in QUANTITIES})
        .order_by("t")
    )
    return [
        {"t": _aware(row["t"]), "samples": row["samples"], **{name: row[name] for name in QUANTITIES}} for row in rows
    ]


def _aware(value):
    if isinstance(value, str):  # SQLite returns the bucket as text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
