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


class ByteCodeField(models.CharField):
    """A word of a closed set (a reading's source, its link) kept as one byte (`"char"`) on PostgreSQL.

    As `varchar` a word costs its length plus a length byte on every reading ('live' and 'wifi' 5 each);
    as `"char"` 1. With `seq` as `integer` that took a reading's row from 29 to 31 per 8 KB page
    (docs/performance.md). Python, the API and CSV see the words; `codes` maps each word to its byte.
    Other databases store the words as they are.
    """

    def __init__(self, *args, codes: dict[str, str], **kwargs):
        self.codes = dict(codes)
        self.words = {code: word for word, code in self.codes.items()}
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        return name, path, args, {**kwargs, "codes": self.codes}

    def db_type(self, connection):
        return '"char"' if connection.vendor == "postgresql" else super().db_type(connection)

    def code(self, word: str) -> str:
        try:
            return self.codes[word]
        except KeyError:
            raise ValueError(f"{self.name}: {word!r} is not one of {sorted(self.codes)}") from None

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)
        if value is None or connection.vendor != "postgresql":
            return value
        return self.code(value)

    def from_db_value(self, value, expression, connection):
        if value is None or connection.vendor != "postgresql":
            return value
        return self.words[value]

    def word_sql(self, column: str) -> str:
        """SQL giving the word of the code in `column`, for statements the ORM does not read (COPY)."""
        cases = " ".join(f"WHEN '{code}' THEN '{word}'" for code, word in self.words.items())
        return f"CASE {column} {cases} END"
