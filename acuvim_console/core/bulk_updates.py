"""Set-based state changes that report which rows they changed, on PostgreSQL and SQLite alike.

The periodic sweeps move many rows at once (devices to offline, commands to timeout) and must then
record history and announce each change. Selecting first and updating second races with the bridge;
`UPDATE ... RETURNING` (PostgreSQL, SQLite 3.35+) changes and reports the same rows in one statement,
with the filter re-checked on every row it touches.
"""

from dataclasses import dataclass

from django.db import connections, router
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Func, Model, QuerySet, Value
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


@dataclass(frozen=True)
class HistoryRows:
    """One row of `model` to insert per changed row: `link` is its foreign key to the changed row."""

    model: type[Model]
    link: str
    values: dict


def update_returning(
    queryset: QuerySet, values: dict, returning: tuple[str, ...], history: HistoryRows | None = None
) -> list[dict]:
    """Apply `values` to the rows matching `queryset` and return `returning` fields of the rows changed.

    Filters must be on the model's own columns (no joins), which keeps the statement a plain
    single-table UPDATE whose WHERE the database re-checks on rows changed concurrently. With
    `history`, a row is also inserted for each changed row: on PostgreSQL in the same statement (a
    data-modifying CTE, so a mass change costs no round trips), elsewhere with bulk_create.
    """
    model = queryset.model
    using = router.db_for_write(model)
    connection = connections[using]
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    compiler = query.get_compiler(using)
    compiler.pre_sql_setup()
    sql, params = compiler.as_sql()
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in returning]
    columns = ", ".join(quote(field.column) for field in fields)
    pk_column = quote(model._meta.pk.column)
    in_one_statement = history is not None and connection.vendor == "postgresql"
    if in_one_statement:
        target = history.model._meta
        history_fields = [target.get_field(name) for name in history.values]
        history_columns = ", ".join(quote(field.column) for field in [target.get_field(history.link), *history_fields])
        sql = (  # identifiers from the models' metadata, values as parameters
            f"WITH changed AS ({sql} RETURNING {pk_column} AS changed_pk, {columns}), "  # noqa: S608
            f"logged AS (INSERT INTO {quote(target.db_table)} ({history_columns}) "
            f"SELECT changed_pk, {', '.join(['%s'] * len(history_fields))} FROM changed) "
            f"SELECT changed_pk, {columns} FROM changed"
        )
        params = (*params, *(f.get_db_prep_save(history.values[f.name], connection) for f in history_fields))
    else:
        sql = f"{sql} RETURNING {pk_column}, {columns}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    table = model._meta.db_table
    convert_pk = _converter(model._meta.pk.get_col(table), connection)
    converters = [_converter(field.get_col(table), connection) for field in fields]
    if history is not None and not in_one_statement:
        link = history.model._meta.get_field(history.link).attname
        history.model.objects.using(using).bulk_create(
            [history.model(**{link: convert_pk(row[0])}, **history.values) for row in rows], batch_size=2000
        )
    return [
        {name: convert(value) for name, convert, value in zip(returning, converters, row[1:], strict=True)}
        for row in rows
    ]


def _converter(column, connection):
    """Turn a raw column value into what the ORM would give (UUIDs and datetimes on SQLite are text)."""
    steps = connection.ops.get_db_converters(column) + column.get_db_converters(connection)

    def convert(value):
        for step in steps:
            value = step(value, column, connection)
        return value

    return convert
