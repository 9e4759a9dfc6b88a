"""Time buckets in SQL, the same edges on every database: counted from BUCKET_ORIGIN in whole seconds.

PostgreSQL buckets with `date_bin` (14+, also on TimescaleDB). SQLite, used by the embedded mode,
floors the Unix epoch and writes the result in the text form Django stores datetimes in there, so a
bucket compares equal to a stored timestamp of the same instant. Rollups (raw SQL) and history (ORM)
both bucket through here.
"""

from datetime import UTC, datetime

from django.db.models import DateTimeField, Func

from telemetry.partitions import BUCKET_ORIGIN

__all__ = ["BUCKET_ORIGIN", "TimeBucket", "add_seconds_sql", "as_aware", "bucket_sql", "month_sql"]

_SQLITE_FORMAT = "'%%Y-%%m-%%d %%H:%%M:%%S'"  # doubled: the statements run with parameters


def bucket_sql(vendor: str, column: str, seconds: int) -> str:
    """SQL for the start of the `seconds`-long bucket holding the timestamp expression `column`."""
    seconds = int(seconds)
    if vendor == "postgresql":
        return f"date_bin('{seconds} seconds'::interval, {column}, '{_iso(BUCKET_ORIGIN)}'::timestamptz)"
    origin = int(BUCKET_ORIGIN.timestamp())
    epoch = f"CAST(strftime('%%s', {column}) AS INTEGER)"
    return f"strftime({_SQLITE_FORMAT}, (({epoch} - {origin}) / {seconds}) * {seconds} + {origin}, 'unixepoch')"


def month_sql(vendor: str, column: str) -> str:
    """SQL for the first instant (UTC) of the calendar month holding the timestamp expression `column`."""
    if vendor == "postgresql":
        return f"(date_trunc('month', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
    return f"strftime('%%Y-%%m-01 00:00:00', {column})"


def add_seconds_sql(vendor: str, column: str, seconds: int) -> str:
    seconds = int(seconds)
    if vendor == "postgresql":
        return f"({column} + interval '{seconds} seconds')"
    return f"strftime({_SQLITE_FORMAT}, {column}, '+{seconds} seconds')"


def as_aware(value):
    """A timestamp read back by raw SQL as an aware UTC datetime (SQLite returns text, naive); None stays None."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def utc_z(moment: datetime) -> str:
    """A time as the telemetry endpoints' query strings and CSV take it: UTC, to the second, with Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TimeBucket(Func):
    """The start of the `bucket_seconds`-long bucket holding an expression's timestamp (ORM form)."""

    output_field = DateTimeField()

    def __init__(self, expression, bucket_seconds: int):
        self.bucket_seconds = int(bucket_seconds)
        super().__init__(expression)

    def as_sql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        return bucket_sql(connection.vendor, column, self.bucket_seconds), params
