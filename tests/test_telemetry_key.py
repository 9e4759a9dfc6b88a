"""The telemetry unique key: covering (INCLUDE the chart columns) on PostgreSQL, a plain unique key on SQLite."""

import pytest
from django.db import connection
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper

from telemetry.models import TelemetryRecord

KEY = "telemetry_device_ts_unique"
CHART_COLUMNS = "frequency, voltage_avg, current_avg, power_total, power_factor"
INSERT = (
    "INSERT INTO telemetry_telemetryrecord (device_id, ts, ts_estimated, received_at, source, connection, data) "
    "VALUES ('d1', '2026-01-01 00:00:00', 0, '2026-01-01 00:00:00', 'live', '', '{}') "
    "ON CONFLICT (device_id, ts) DO NOTHING"
)


@pytest.mark.django_db
def test_postgresql_key_covers_the_chart_columns():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [KEY])
        (definition,) = cursor.fetchone()
    assert definition.startswith("CREATE UNIQUE INDEX") and f"(device_id, ts) INCLUDE ({CHART_COLUMNS})" in definition


@pytest.fixture
def sqlite():
    settings = {**connection.settings_dict, "ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:", "OPTIONS": {}}
    wrapper = SQLiteWrapper(settings)  # alias "default": the one pytest-django lets through
    yield wrapper
    wrapper.close()


def indexes(sqlite) -> dict:
    with sqlite.cursor() as cursor:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name = %s", [KEY])
        return dict(cursor.fetchall())


@pytest.mark.django_db  # lets pytest-django allow connections, including this throwaway SQLite one
def test_sqlite_gets_the_plain_unique_key_and_ingest_deduplicates(sqlite):
    key = next(c for c in TelemetryRecord._meta.constraints if c.name == KEY)
    with sqlite.schema_editor() as editor:
        editor.create_model(TelemetryRecord)
    assert 'ON "telemetry_telemetryrecord" ("device_id", "ts")' in indexes(sqlite)[KEY]
    with sqlite.cursor() as cursor:
        for _ in range(2):
            cursor.execute(INSERT)
        cursor.execute("SELECT COUNT(*) FROM telemetry_telemetryrecord")
        assert cursor.fetchone() == (1,)

    # The migration's remove and add work there too.
    with sqlite.schema_editor() as editor:
        editor.remove_constraint(TelemetryRecord, key)
    assert indexes(sqlite) == {}
    with sqlite.schema_editor() as editor:
        editor.add_constraint(TelemetryRecord, key)
    assert KEY in indexes(sqlite)
