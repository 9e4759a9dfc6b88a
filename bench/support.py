"""What the benchmarks share: a throw-away PostgreSQL database of their own, and a fleet loaded with COPY.

Each benchmark works in a database it creates on the server named by BENCH_POSTGRES_URL, so a run never
touches the console's data or another run's; `copy_devices` loads 100,000 devices in seconds where the
ORM would take minutes, and still lets every column the benchmark does not care about take the model's
own default, so the rows look like the ones the console writes.
"""

import os
import uuid
from collections.abc import Callable

SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")


def database_url(name: str) -> str:
    return f"{SERVER_URL}/{name}"


def point_django_at(name: str) -> None:
    """Before django.setup(): the console's settings with database `name` and a data directory of the run's own."""
    os.environ["DATABASE_URL"] = database_url(name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acuvim_console.settings")
    os.environ.setdefault("DATA_DIR", f"/tmp/{name.replace('_', '-')}")


def recreate_database(name: str) -> None:
    """Drop `name` if a previous run left it, then create it empty."""
    import psycopg

    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')


def migrated_database(name: str, quiet_logger: str) -> None:
    """A fresh database `name` with the console's schema and Django set up on it (point_django_at first);
    `quiet_logger`'s INFO lines, one per change the benchmark makes, are left out of its output."""
    import logging

    import django

    recreate_database(name)
    django.setup()
    from django.core.management import call_command

    logging.getLogger(quiet_logger).setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)


def drop_database(name: str, force: bool = False) -> None:
    """Close Django's connections, then drop `name`; `force` also ends other processes' sessions on it."""
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"' + (" WITH (FORCE)" if force else ""))


def copy_devices(count: int, values_for: Callable[[int], dict]) -> None:
    """COPY `count` devices; device n gets the columns `values_for(n)` names (by attname) and defaults elsewhere.

    Every row gets a fresh primary key unless `values_for` names one. Run ANALYZE afterwards as the benchmark
    needs: the planner knows nothing of rows loaded by COPY.
    """
    from django.db import connection

    from devices.models import Device

    fields = Device._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(f"COPY {Device._meta.db_table} ({columns}) FROM STDIN") as copy,
    ):
        for n in range(count):
            values = {"id": uuid.uuid4(), **values_for(n)}
            copy.write_row([_db_value(f, values, connection) for f in fields])


def _db_value(field, values: dict, connection):
    value = values[field.attname] if field.attname in values else field.get_default()
    value = field.get_db_prep_save(value, connection)
    return getattr(value, "adapted", value)  # psycopg Jsonb wrappers -> plain text for COPY
