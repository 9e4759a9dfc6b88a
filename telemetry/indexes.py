"""An index on a column that grows with insertion order: BRIN on PostgreSQL, a B-tree elsewhere.

A block-range index stores the smallest and largest value of every 128 heap pages: a few pages for
millions of readings, against ~20 bytes per reading for a B-tree. It fits columns whose values follow
the order rows are written in (ts, received_at, a rollup's bucket). SQLite has no such index, so the
embedded console gets an ordinary one on the same column under the same name.
"""

from django.contrib.postgres.indexes import BrinIndex
from django.db.models import Index


class BlockRangeIndex(BrinIndex):
    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return Index.create_sql(self, model, schema_editor, using=using, **kwargs)
        return super().create_sql(model, schema_editor, using=using, **kwargs)

    def check_supported(self, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            super().check_supported(schema_editor)
