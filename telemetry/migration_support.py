"""The steps of migrations 0005 (one JSON record per reading to typed columns in partitioned tables) and
0008 (every telemetry table rewritten in its narrower layout).

Every reading survives: its quantities come from the stored record (the five chart columns of the old
table where the record lacks them), keys the protocol does not define go to `extra`, and so does an
instantaneous value too large for single precision (no meter sends one; the record keeps it anyway).
PostgreSQL copies in one INSERT ... SELECT after creating the partitions the old readings fall into
(hypertables instead where TimescaleDB is available, see telemetry.timescale); SQLite (embedded mode,
small databases) copies in Python, a chunk at a time.

0008 keeps every row too: a `seq` beyond `integer` (the ingest never accepted one, but an old database
may hold it) and a source or link outside the codes go to `extra` under their protocol names, where
TelemetryRecord.as_record finds them.
"""

import json
from datetime import UTC, datetime, timedelta

from acuvim_console.protocol.quantities import KNOWN_FIELDS, QUANTITIES
from telemetry import partitions, timescale

LEGACY_TABLE = "telemetry_telemetryrecord_legacy"
READINGS_TABLE = "telemetry_telemetryrecord"
LEGACY_INDEXES = ("telemetry_device_ts_unique", "telemetry_ts_idx")
LEGACY_CHART_COLUMNS = {"f": "frequency", "vavg": "voltage_avg", "iavg": "current_avg", "pt": "power_total",
                        "pft": "power_factor"}  # fmt: skip
REAL_MAX = 3.4028234e38
# Partitions are created for old readings this far back at most; anything older waits in the default partition.
OLDEST_PARTITION = timedelta(days=400)
PARTITIONS_AHEAD = timedelta(days=3)
_COPY_CHUNK = 5000
_ROLLUP_MODELS = ("FiveMinuteRollup", "HourlyRollup")


def set_aside_readings(apps, schema_editor):
    """The old table is renamed; its key and indexes go, so their names are free for the new table."""
    quote = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {quote(READINGS_TABLE)} DROP CONSTRAINT IF EXISTS {quote(LEGACY_INDEXES[0])}")
            cursor.execute(f"ALTER TABLE {quote(READINGS_TABLE)} DROP CONSTRAINT {quote(READINGS_TABLE + '_pkey')}")
        for index in LEGACY_INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {quote(index)}")
        cursor.execute(f"ALTER TABLE {quote(READINGS_TABLE)} RENAME TO {quote(LEGACY_TABLE)}")


def build_tables(apps, schema_editor):
    """Readings and both rollups: partitioned by time on PostgreSQL, plain tables elsewhere."""
    models = [apps.get_model("telemetry", name) for name in ("TelemetryRecord", *_ROLLUP_MODELS)]
    if schema_editor.connection.vendor != "postgresql":
        for model in models:
            schema_editor.create_model(model)
        return
    schemes = partitions.schemes()
    if timescale.available(schema_editor.connection):
        timescale.create_hypertables(schema_editor, models, schemes)
        return
    for model in models:
        partitions.create_partitioned_table(schema_editor, model, schemes[model.__name__])
    oldest, _ = _legacy_range(schema_editor)
    now = datetime.now(UTC)
    first = max(oldest or now, now - OLDEST_PARTITION)
    for scheme in schemes.values():
        partitions.ensure_partitions(scheme, first, now + PARTITIONS_AHEAD)


def copy_readings(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _copy_postgresql(schema_editor)
    else:
        _copy_portable(apps, schema_editor)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {schema_editor.quote_name(LEGACY_TABLE)}")


def _legacy_range(schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT min(ts), max(ts) FROM {schema_editor.quote_name(LEGACY_TABLE)}")  # noqa: S608
        return cursor.fetchone()


def _copy_postgresql(schema_editor):
    quote = schema_editor.quote_name
    instants = [q.field for q in QUANTITIES if not q.counter]
    values = []
    for quantity in QUANTITIES:
        value = f"q.{quote(quantity.field)}"
        if not quantity.counter:
            value = f"CASE WHEN abs({value}) <= {REAL_MAX} THEN {value} END"
        if quantity.field in LEGACY_CHART_COLUMNS:
            value = f"COALESCE({value}, l.{LEGACY_CHART_COLUMNS[quantity.field]})"
        values.append(value)
    record_columns = ", ".join(f"{quote(q.field)} double precision" for q in QUANTITIES)
    as_object = "CASE WHEN json_typeof(l.data) = 'object' THEN l.data ELSE '{}'::json END"
    too_large = (
        f"e.key = ANY(%s) AND CASE WHEN json_typeof(e.value) = 'number' "
        f"THEN abs(e.value::text::double precision) > {REAL_MAX} ELSE false END"
    )
    columns = ["device_id", "ts", "received_at", "seq", "ts_estimated", "source", "connection"]
    target = ", ".join([*columns, *(quote(q.column) for q in QUANTITIES), "extra"])
    statement = (
        f"INSERT INTO {quote(READINGS_TABLE)} ({target}) "  # noqa: S608
        f"SELECT {', '.join('l.' + c for c in columns)}, {', '.join(values)}, "
        f"(SELECT json_object_agg(e.key, e.value) FROM json_each({as_object}) AS e "
        f" WHERE e.key <> ALL(%s) OR ({too_large})) "
        f"FROM {quote(LEGACY_TABLE)} AS l CROSS JOIN LATERAL json_to_record({as_object}) AS q({record_columns}) "
        "ON CONFLICT DO NOTHING"
    )
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(statement, [sorted(KNOWN_FIELDS), instants])


def _copy_portable(apps, schema_editor):
    model = apps.get_model("telemetry", "TelemetryRecord")
    connection = schema_editor.connection
    quote = schema_editor.quote_name
    columns = ["device_id", "ts", "received_at", "seq", "ts_estimated", "source", "connection"]
    legacy = [*columns, *LEGACY_CHART_COLUMNS.values(), "data"]
    target = [*columns, *(q.column for q in QUANTITIES), "extra"]
    insert = (
        f"INSERT OR IGNORE INTO {quote(model._meta.db_table)} ({', '.join(map(quote, target))}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(target))})"
    )
    with connection.cursor() as source:
        source.execute(f"SELECT {', '.join(map(quote, legacy))} FROM {quote(LEGACY_TABLE)}")  # noqa: S608
        while rows := source.fetchmany(_COPY_CHUNK):
            with connection.cursor() as cursor:
                cursor.executemany(insert, [_portable_row(row, len(columns)) for row in rows])


def _portable_row(row, envelope: int) -> tuple:
    *chart, data = row[envelope:]
    record = json.loads(data) if isinstance(data, str) else data
    record = record if isinstance(record, dict) else {}
    legacy_chart = dict(zip(LEGACY_CHART_COLUMNS, chart, strict=True))
    extra = {key: value for key, value in record.items() if key not in KNOWN_FIELDS}
    values = []
    for quantity in QUANTITIES:
        value = record.get(quantity.field, legacy_chart.get(quantity.field))
        if not quantity.counter and isinstance(value, int | float) and abs(value) > REAL_MAX:
            extra[quantity.field], value = value, None
        values.append(value)
    return (*row[:envelope], *values, json.dumps(extra) if extra else None)


# --- 0008 -------------------------------------------------------------------------------------------
REBUILD_SCHEMA = "telemetry_rebuild"
INT4_MAX = 2**31 - 1
_REBUILT_MODELS = ("TelemetryRecord", *_ROLLUP_MODELS)


def rebuild_tables(apps, schema_editor):
    """PostgreSQL: each telemetry table set aside in a schema of its own, recreated in the models' layout, refilled.

    Recreated rather than altered: `ALTER COLUMN ... TYPE` keeps a column where it is (an `integer` seq
    between the 8-byte columns would be padded back to 8), and a dropped column (0007's) keeps a bit in
    every row's null bitmap, which makes a rollup row without NULLs carry a 24-byte bitmap anyway. The
    new tables get the same partitions as the old ones (hypertables on TimescaleDB); their block-range
    indexes are built after the copy, and the maintenance pass compacts their closed partitions again. SQLite
    stores what it stored before (seq as an integer, the words themselves) and keeps its tables.
    """
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    models = [apps.get_model("telemetry", name) for name in _REBUILT_MODELS]
    schemes = partitions.schemes()
    hypertables = timescale.enabled()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {REBUILD_SCHEMA}")
        starts = {}
        for model in models:
            table = model._meta.db_table
            # A hypertable's chunks stay where TimescaleDB keeps them; plain partitions move with their parent.
            children = [] if hypertables else _partitions_of(cursor, table)
            starts[model] = [start for name in children if (start := partitions.start_from_name(name)) is not None]
            for name in (table, *children):
                cursor.execute(f"ALTER TABLE {quote(name)} SET SCHEMA {REBUILD_SCHEMA}")
    if hypertables:
        timescale.create_hypertables(schema_editor, models, schemes)
    else:
        for model in models:
            scheme = schemes[model.__name__]
            partitions.create_partitioned_table(schema_editor, model, scheme)
            for start in starts[model]:
                partitions.ensure_partitions(scheme, start, start + scheme.span)
    with connection.cursor() as cursor:
        for model in models:
            columns = [field.column for field in model._meta.local_concrete_fields]
            values = [_rebuilt_value(model, column, quote) for column in columns]
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(map(quote, columns))}) "  # noqa: S608
                f"SELECT {', '.join(values)} FROM {REBUILD_SCHEMA}.{quote(model._meta.db_table)} AS l"
            )
            # Table by table (a hypertable's chunks go with it), then the schema, empty by now.
            cursor.execute(f"DROP TABLE {REBUILD_SCHEMA}.{quote(model._meta.db_table)}")
        cursor.execute(f"DROP SCHEMA {REBUILD_SCHEMA}")


def _partitions_of(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT child.relname FROM pg_inherits JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid "
        "WHERE pg_inherits.inhparent = %s::regclass",
        [table],
    )
    return [name for (name,) in cursor.fetchall()]


def _rebuilt_value(model, column: str, quote) -> str:
    """The old row's value for the new column; what the new column cannot hold goes to `extra`."""
    if model.__name__ != "TelemetryRecord" or column not in ("seq", "source", "connection", "extra"):
        return f"l.{quote(column)}"
    if column == "seq":
        return f"CASE WHEN l.seq <= {INT4_MAX} THEN l.seq END"
    if column != "extra":
        field = model._meta.get_field(column)
        fallback = field.codes.get(field.default, "") if isinstance(field.default, str) else ""
        return f"{_code_case(field, column)} ELSE '{fallback}' END"
    misfits = {
        "seq": f"CASE WHEN l.seq > {INT4_MAX} THEN l.seq END",
        **{
            key: f"CASE WHEN {_code_case(model._meta.get_field(name), name)} END IS NULL THEN l.{name} END"
            for key, name in (("src", "source"), ("conn", "connection"))
        },
    }
    kept = "jsonb_strip_nulls(jsonb_build_object(" + ", ".join(f"'{k}', {v}" for k, v in misfits.items()) + "))"
    return f"CASE WHEN {kept} = '{{}}'::jsonb THEN l.extra ELSE (COALESCE(l.extra::jsonb, '{{}}') || {kept})::json END"


def _code_case(field, column: str) -> str:
    """`CASE l.<column> WHEN '<word>' THEN '<code>' ...` (left open for the caller's ELSE and END)."""
    return f"CASE l.{column} " + " ".join(f"WHEN '{word}' THEN '{code}'" for word, code in field.codes.items())
