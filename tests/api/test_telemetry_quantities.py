"""History of any quantity (`fields=`, `agg=`), the table it is read from, energy of a device and a group, CSV."""

import csv
import io
import struct
from datetime import UTC, datetime, timedelta

import pytest

from telemetry.rollups import roll_up
from tests.factories import make_device, make_group
from tests.telemetry.readings import store_many

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def two_hours(device, start=T0, minutes=range(120)):
    """A reading a minute: v1 climbs 200..319, ep_imp climbs 1 kWh a minute."""
    store_many(device, [(start + timedelta(minutes=n), {"v1": 200.0 + n, "ep_imp": 1000.0 + n}) for n in minutes])


def history(client, device, **params):
    response = client.get(f"/api/devices/{device.device_id}/telemetry/history", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_fields_and_aggregates_per_bucket_from_the_readings(viewer_client):
    device = make_device()
    two_hours(device)
    body = history(viewer_client, device, start="2026-11-20T00:00:00Z", end="2026-11-20T00:20:00Z",
                   bucket="10m", fields="v1,thd_i3", agg="avg,min,max,last")  # fmt: skip
    assert body["source"] == "5m"  # 10 minutes is whole 5 minutes (nothing is rolled up yet: all from readings)
    assert body["fields"] == ["v1", "thd_i3"] and body["agg"] == ["avg", "min", "max", "last"]
    first = body["points"][0]
    assert first["t"] == "2026-11-20T00:00:00Z" and first["samples"] == 10
    assert first["v1"] == {"avg": 204.5, "min": 200.0, "max": 209.0, "last": 209.0}
    assert first["thd_i3"] == {"avg": None, "min": None, "max": None, "last": None}  # not in these records


def test_rolled_up_buckets_come_from_the_rollups_and_the_newest_from_the_readings(viewer_client):
    device = make_device()
    two_hours(device, minutes=range(60))
    roll_up(T0 + timedelta(minutes=60))  # the first hour is rolled up, the second is not yet
    two_hours(device, minutes=range(60, 120))
    body = history(viewer_client, device, start="2026-11-20T00:00:00Z", end="2026-11-20T02:00:00Z",
                   bucket="1h", fields="v1", agg="avg,min,max,last")  # fmt: skip
    assert body["source"] == "1h"
    assert [p["v1"] for p in body["points"]] == [
        {"avg": 229.5, "min": 200.0, "max": 259.0, "last": 259.0},
        {"avg": 289.5, "min": 260.0, "max": 319.0, "last": 319.0},
    ]
    assert [p["samples"] for p in body["points"]] == [60, 60]


def as_float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def as_read_back(value: float) -> float:
    """A `real` as PostgreSQL writes it: the fewest digits that give the same single-precision number."""
    return next(float(f"{value:.{d}g}") for d in range(1, 10) if as_float32(float(f"{value:.{d}g}")) == value)


def test_averages_have_seven_significant_digits_whatever_their_magnitude(viewer_client):
    """On PostgreSQL the database writes the points (telemetry.queries); they say what Python's `.7g` says."""
    device = make_device()
    magnitudes = [230.123456, 0.00123456789, 98765.4321, -4321.98765, 123456789.0, 1.0]
    readings, expected = [], []
    for n, magnitude in enumerate(magnitudes):
        values = [as_float32(magnitude * (1 + k * 1.3e-6)) for k in range(3)]
        bucket = T0 + timedelta(minutes=5 * n)
        readings += [(bucket + timedelta(minutes=k), {"v1": value}) for k, value in enumerate(values)]
        expected.append({"avg": float(f"{sum(values) / 3:.7g}"), "min": as_read_back(min(values)),
                         "max": as_read_back(max(values))})  # fmt: skip
    store_many(device, readings)
    body = history(viewer_client, device, start="2026-11-20T00:00:00Z", end="2026-11-20T00:30:00Z",
                   bucket="5m", fields="v1", agg="avg,min,max")  # fmt: skip
    assert [point["v1"] for point in body["points"]] == expected


def test_called_as_before_the_history_keeps_its_first_shape(viewer_client):
    device = make_device()
    two_hours(device)
    body = history(viewer_client, device, start="2026-11-20T00:00:00Z", end="2026-11-20T00:10:00Z", bucket="5m")
    assert set(body) == {"device_id", "start", "end", "bucket_seconds", "points"}
    assert body["points"][0] == {"t": "2026-11-20T00:00:00Z", "samples": 5, "frequency": 50.01,
                                 "voltage_avg": 230.3, "current_avg": 10.03, "power_total": 6770.7,
                                 "power_factor": 0.99}  # fmt: skip


REFUSED = [
    ({"fields": "v1,volts"}, "fields"),
    ({"agg": "median"}, "agg"),
    ({"fields": "v1,ep_imp", "agg": "last,max"}, "agg"),  # a counter keeps `last` only
]


@pytest.mark.parametrize(("params", "field"), REFUSED)
def test_unknown_fields_and_aggregates_are_refused_by_name(viewer_client, params, field):
    device = make_device()
    response = viewer_client.get(f"/api/devices/{device.device_id}/telemetry/history", params)
    assert response.status_code == 400 and field in response.json()


def test_energy_of_a_device_and_of_its_group_per_hour_and_as_csv(viewer_client):
    group = make_group()
    one, two = make_device(group=group), make_device(group=group)
    two_hours(one)
    two_hours(two)
    roll_up(T0 + timedelta(hours=3))
    params = {"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T03:00:00Z", "period": "hour"}

    device = viewer_client.get(f"/api/devices/{one.device_id}/telemetry/energy", params).json()
    assert [(p["t"], p["ep_imp_kwh"]) for p in device] == [
        ("2026-11-20T00:00:00Z", 59.0),
        ("2026-11-20T01:00:00Z", 60.0),
    ]
    assert device[0]["ep_exp_kwh"] is None  # the records carry no export counter

    summed = viewer_client.get(f"/api/groups/{group.pk}/energy", {**params, "period": "day"}).json()
    assert summed == [{"t": "2026-11-20T00:00:00Z", "ep_imp_kwh": 238.0, "ep_exp_kwh": None,
                       "eq_imp_kvarh": None, "eq_exp_kvarh": None}]  # fmt: skip

    response = viewer_client.get(f"/api/groups/{group.pk}/energy/export", params)
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["t", "ep_imp_kwh", "ep_exp_kwh", "eq_imp_kvarh", "eq_exp_kvarh"]
    assert rows[1][:2] == ["2026-11-20T00:00:00Z", "118.0"]


def test_rollups_download_as_csv_named_by_protocol_field(viewer_client):
    device = make_device()
    two_hours(device)
    roll_up(T0 + timedelta(hours=3))
    response = viewer_client.get(
        f"/api/devices/{device.device_id}/telemetry/export",
        {"start": "2026-11-20T00:00:00Z", "end": "2026-11-20T03:00:00Z", "kind": "1h"},
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["bucket"] for row in rows] == ["2026-11-20T00:00:00.000000Z", "2026-11-20T01:00:00.000000Z"]
    assert rows[0]["samples"] == "60" and float(rows[0]["v1_max"]) == 259.0 and rows[0]["in_avg"] == ""
    assert float(rows[1]["ep_imp_energy"]) == 60.0
