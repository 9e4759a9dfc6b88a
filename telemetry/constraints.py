"""A unique key that carries extra columns (INCLUDE) where the database can, and is still a unique key elsewhere.

Django skips a UniqueConstraint with `include` altogether on databases without covering indexes
(SQLite): the table would lose its unique key and `ON CONFLICT (device_id, ts)` in telemetry.ingest
would fail there. This constraint is the covering key on PostgreSQL and the plain key, as a unique
index of the same name, everywhere else.
"""

from django.db.models import UniqueConstraint


class CoveringUniqueConstraint(UniqueConstraint):
    def _plain(self, schema_editor) -> UniqueConstraint | None:
        """The same key without INCLUDE, or None where the database supports INCLUDE."""
        if schema_editor.connection.features.supports_covering_indexes:
            return None
        return UniqueConstraint(fields=self.fields, name=self.name)

    def constraint_sql(self, model, schema_editor):
        plain = self._plain(schema_editor)
        if plain is None:
            return super().constraint_sql(model, schema_editor)
        # Created as an index after the table (as Django does for covering keys), so that removing it
        # is always DROP INDEX, whether a migration added it or a table rebuild recreated it.
        schema_editor.deferred_sql.append(plain.create_sql(model, schema_editor))
        return None

    def create_sql(self, model, schema_editor):
        plain = self._plain(schema_editor)
        return (plain or super()).create_sql(model, schema_editor)

    def remove_sql(self, model, schema_editor):
        plain = self._plain(schema_editor)
        return (plain or super()).remove_sql(model, schema_editor)
