"""Model fields of the telemetry app."""

from django.db import models


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

    def from_db_value(self, value, expression, connection):
        if isinstance(value, dict | list):  # psycopg decodes `json` columns itself
            return value
        return super().from_db_value(value, expression, connection)
