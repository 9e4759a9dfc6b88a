"""Set-based state changes that report which rows they changed, on PostgreSQL and SQLite alike.

The periodic sweeps move many rows at once (devices to offline, commands to timeout) and must then
record history and announce each change. Selecting first and updating second races with the bridge;
`UPDATE ... RETURNING` (PostgreSQL, SQLite 3.35+) changes and reports the same rows in one statement,
with the filter re-checked on every row it touches.
"""

from django.db import connections, router
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Func, QuerySet, Value
from django.db.models.sql import UpdateQuery


class Seconds(Func):
    """An integer number of seconds as a duration the database can subtract from a timestamp."""

    output_field = DurationField()
    template = "make_interval(secs => %(expressions)s)"

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django keeps SQLite durations as integer microseconds.
        return self.as_sql(compiler, connection, template="(%(expressions)s * 1000000)", **extra_context)


def seconds_before(moment, seconds_field: str, multiple: int = 1) -> ExpressionWrapper:
    """`moment - <seconds_field> * multiple seconds`, computed per row by the database."""
    return ExpressionWrapper(Value(moment) - Seconds(F(seconds_field) * multiple), output_field=DateTimeField())


def update_returning(queryset: QuerySet, values: dict, returning: tuple[str, ...]) -> list[dict]:
    """Apply `values` to the rows matching `queryset` and return `returning` fields of the rows changed.

    Filters must be on the model's own columns (no joins), which keeps the statement a plain
    single-table UPDATE whose WHERE the database re-checks on rows changed concurrently.
    """
    model = queryset.model
    using = router.db_for_write(model)
    connection = connections[using]
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    compiler = query.get_compiler(using)
    compiler.pre_sql_setup()
    sql, params = compiler.as_sql()
    fields = [model._meta.get_field(name) for name in returning]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {columns}", params)
        rows = cursor.fetchall()
    converters = [_converter(field.get_col(model._meta.db_table), connection) for field in fields]
    return [
        {name: convert(value) for name, convert, value in zip(returning, converters, row, strict=True)} for row in rows
    ]


def _converter(column, connection):
    """Turn a raw column value into what the ORM would give (UUIDs and datetimes on SQLite are text)."""
    steps = connection.ops.get_db_converters(column) + column.get_db_converters(connection)

    def convert(value):
        for step in steps:
            value = step(value, column, connection)
        return value

    return convert
