"""Model fields of the telemetry app."""

from django.db import models


class DeviceRecordField(models.JSONField):
    """A reading exactly as the device sent it: PostgreSQL `json` (validated text) rather than `jsonb`.

    Converting a record's ~45 numbers to jsonb on insert made up most of the database's cost per reading
    (measured here: 60 ms vs 26 ms per 500-row batch), and the console only ever reads a record whole.
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
