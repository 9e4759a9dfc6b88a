"""Model fields of the telemetry app."""

from django.db import models
from django.db.models.fields.json import KeyTransform

from acuvim_console.core import json_limits


class DeviceRecordField(models.JSONField):
    """Device-sent JSON kept as PostgreSQL `json` (validated text) rather than `jsonb`.

    Today it holds the fields of a reading the protocol does not define (TelemetryRecord.extra). When
    whole records were kept here, converting their ~45 numbers to jsonb on insert made up most of the
    database's cost per reading (60 ms vs 26 ms per 500-row batch), and the console reads it whole.
    Reading a key works on `json` too (`values("data__thd_v1")`, `data->'f'`); filtering on keys and the
    jsonb-only operators (`has_key`, `contains`, equality) do not, and nothing here needs them. Other
    databases keep JSONField's type.
    """

    POSTGRESQL_TYPE = "json"

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return self.POSTGRESQL_TYPE
        return super().db_type(connection)

    def select_format(self, compiler, sql, params):
        # As text, so that psycopg does not decode it with the standard `json` module (which recurses without
        # bound) and from_db_value can decode it within json_limits' bounds.
        if compiler.connection.vendor == "postgresql":
            return f"({sql})::text", params
        return super().select_format(compiler, sql, params)

    def from_db_value(self, value, expression, connection):
        """Every stored record comes back readable: a legacy one that cannot be shown becomes a placeholder."""
        if isinstance(value, str) and not isinstance(expression, KeyTransform):
            return json_limits.loads_stored(value)
        return super().from_db_value(value, expression, connection)
