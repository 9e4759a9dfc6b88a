"""telemetry.ingest.store_readings: one batch, idempotent rows, device timestamps that never go backwards."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync

from acuvim_console.core.watchers import LocalWatchers
from devices.models import Device
from telemetry.ingest import Reading, store_readings
from telemetry.models import TelemetryRecord
from tests.bridge import messages
from tests.factories import make_device

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def reading(device, ts: datetime, source="live", connection="wifi") -> Reading:
    record = messages.reading(ts.timestamp(), src=source, conn=connection)
    return Reading(
        device_pk=device.pk,
        device_id=device.device_id,
        ts=ts,
        ts_estimated=False,
        received_at=T0 + timedelta(hours=1),
        source=source,
        connection=connection,
        seq=1,
        record=record,
        data_json=json.dumps(record),
    )


def test_batch_counts_new_rows_and_skips_duplicates_within_and_across_batches():
    one, two = make_device(), make_device()
    batch = [reading(one, T0), reading(one, T0), reading(two, T0), reading(one, T0 + timedelta(seconds=5))]
    assert store_readings(batch) == 3
    assert store_readings(batch) == 0
    assert TelemetryRecord.objects.count() == 3
    stored = TelemetryRecord.objects.get(device=two)
    assert stored.frequency == 50.01 and stored.vavg == 230.3 and stored.extra is None


def test_unmeasured_quantities_whole_numbers_and_flags_keep_their_values_in_the_columns():
    device = make_device()
    sparse = reading(device, T0)
    del sparse.record["f"]
    sparse.record.update(pt=6770, pft=None)
    sparse.ts_estimated, sparse.seq = True, None
    large = reading(device, T0 + timedelta(seconds=5))
    large.record["pt"], large.seq = 10**20, 2**31 - 1  # the largest seq the protocol allows
    for changed in (sparse, large):  # PostgreSQL reads the quantities from the record's text, as the bridge sends it
        changed.data_json = json.dumps(changed.record)
    assert store_readings([sparse, large]) == 2
    first, second = TelemetryRecord.objects.order_by("ts")
    assert (first.frequency, first.power_total, first.power_factor) == (None, 6770.0, None)
    assert first.ts_estimated is True and first.seq is None and first.voltage_avg == 230.3
    assert (second.power_total, second.seq, second.ts_estimated) == (1e20, 2**31 - 1, False)


def test_device_last_telemetry_only_moves_forward_and_sd_replays_keep_the_live_connection():
    device = make_device(last_telemetry=None, connection_type="wifi")
    store_readings([reading(device, T0 + timedelta(minutes=10))])
    store_readings([reading(device, T0, source="sd", connection="gsm")])
    device.refresh_from_db()
    assert device.last_telemetry == T0 + timedelta(minutes=10)
    assert device.last_seen == T0 + timedelta(hours=1)
    assert device.connection_type == "wifi"


def test_deleting_a_device_deletes_its_readings():
    device = make_device()
    store_readings([reading(device, T0), reading(device, T0 + timedelta(seconds=5))])
    Device.objects.filter(pk=device.pk).delete()
    assert TelemetryRecord.objects.count() == 0


def test_an_older_batch_committed_late_does_not_overwrite_the_connection():
    device = make_device(last_telemetry=None, connection_type="")
    store_readings([reading(device, T0 + timedelta(minutes=1), connection="gsm")])
    store_readings([reading(device, T0, connection="wifi")])
    device.refresh_from_db()
    assert device.connection_type == "gsm"
    assert device.last_telemetry == T0 + timedelta(minutes=1)


def test_one_telemetry_event_per_watched_device_per_batch_with_its_newest_reading(monkeypatch):
    from acuvim_console.core import events

    sent = []
    monkeypatch.setattr(events, "_send", lambda name, data, device_id: sent.append((name, device_id, data["ts"])))
    registry = LocalWatchers()
    monkeypatch.setattr(events, "watchers", lambda: registry)
    one, two, unwatched = make_device(), make_device(), make_device()
    async_to_sync(registry.watch)(one.device_id)
    async_to_sync(registry.watch)(two.device_id)
    store_readings(
        [reading(one, T0), reading(one, T0 + timedelta(seconds=5)), reading(two, T0), reading(unwatched, T0)]
    )
    assert sorted(sent) == sorted(
        [
            (events.TELEMETRY_RECEIVED, one.device_id, (T0 + timedelta(seconds=5)).isoformat()),
            (events.TELEMETRY_RECEIVED, two.device_id, T0.isoformat()),
        ]
    )


def test_device_pages_keep_room_for_in_place_updates():
    """Migration devices 0005: without free space every batch's device update rewrote all ten indexes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [Device._meta.db_table])
        assert cursor.fetchone()[0] == ["fillfactor=70"]


def test_a_value_beyond_single_precision_is_kept_in_extra_and_the_batch_goes_in():
    """The meter measures in float32, so a larger value is no reading; the `real` column cannot hold it and
    would refuse the whole batch. It stays NULL there and is kept as sent in `extra`; the rest is stored."""
    device = make_device()
    odd, good = reading(device, T0), reading(device, T0 + timedelta(seconds=5))
    odd.record.update(v1=1e39, pt=-3.5e38, note="kept")
    odd.data_json = json.dumps(odd.record)
    assert store_readings([odd, good]) == 2
    stored = TelemetryRecord.objects.get(device=device, ts=T0)
    assert (stored.v1, stored.pt, stored.f) == (None, None, 50.01)
    assert stored.extra == {"v1": 1e39, "pt": -3.5e38, "note": "kept"}
    assert TelemetryRecord.objects.get(device=device, ts=T0 + timedelta(seconds=5)).extra is None
