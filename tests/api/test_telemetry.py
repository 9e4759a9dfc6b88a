"""Telemetry endpoints: latest reading, bucketed history, and a CSV export that streams in flat memory."""

import asyncio
import csv
import io
import json
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import AsyncRequestFactory, RequestFactory

from acuvim_console.core.api.streaming import streaming_download
from telemetry import queries
from telemetry.models import CONNECTION_CODES, SOURCE_CODES, TelemetryRecord
from tests.factories import make_device

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def insert_readings(device, start: datetime, count: int, step_s: int) -> None:
    """Bulk-insert `count` readings in SQL (fast enough for hundreds of thousands of rows)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO telemetry_telemetryrecord
                (device_id, ts, ts_estimated, received_at, source, connection, seq, f, vavg, iavg, pt, pft, extra)
            SELECT %s, %s + make_interval(secs => n * %s), false, %s + make_interval(secs => n * %s), %s, %s, n,
                   50.0, 230.0 + (n %% 2), 10.0, 6.9, 0.95, CASE WHEN n = 1 THEN '{"note":"x"}'::json END
            FROM generate_series(0, %s - 1) AS n
            """,
            [device.pk, start, step_s, start, step_s, SOURCE_CODES["live"], CONNECTION_CODES["wifi"], count],
        )


def test_latest_returns_the_newest_reading_or_404(viewer_client):
    device = make_device()
    assert viewer_client.get(f"/api/devices/{device.device_id}/telemetry").status_code == 404
    insert_readings(device, T0, 3, 5)
    body = viewer_client.get(f"/api/devices/{device.device_id}/telemetry").json()
    assert body["ts"] == "2026-11-01T00:00:10Z" and body["seq"] == 2 and body["data"]["f"] == 50.0
    assert body["voltage_avg"] == 230.0 and body["data"]["vavg"] == 230.0 and "note" not in body["data"]


def test_history_averages_per_bucket_inside_the_range(viewer_client):
    device = make_device()
    insert_readings(device, T0, 120, 5)  # 10 minutes of 5-second readings
    response = viewer_client.get(
        f"/api/devices/{device.device_id}/telemetry/history",
        {"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T00:10:00Z", "bucket": "5m"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["bucket_seconds"] == 300
    assert [(p["t"], p["samples"], p["voltage_avg"]) for p in body["points"]] == [
        ("2026-11-01T00:00:00Z", 60, 230.5),
        ("2026-11-01T00:05:00Z", 60, 230.5),
    ]


def test_history_query_helper_matches_the_endpoint_contract():
    device = make_device()
    insert_readings(device, T0, 7, 60)
    points = json.loads(queries.history_json(device, T0, T0 + timedelta(minutes=7), 180))
    assert [p["t"] for p in points] == ["2026-11-01T00:00:00Z", "2026-11-01T00:03:00Z", "2026-11-01T00:06:00Z"]
    assert set(points[0]) == {"t", "samples", "frequency", "voltage_avg", "current_avg", "power_total", "power_factor"}
    assert [p["samples"] for p in points] == [3, 3, 1]
    assert queries.latest(device).seq == 6


def test_history_picks_a_bucket_when_none_is_given(viewer_client):
    device = make_device()
    body = viewer_client.get(
        f"/api/devices/{device.device_id}/telemetry/history",
        {"start": "2026-10-01T00:00:00Z", "end": "2026-10-31T00:00:00Z"},
    ).json()
    assert body["bucket_seconds"] == 3600 and body["points"] == []  # 720 hourly points <= 1,000


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "yesterday"}, "start"),
        ({"end": "2026-13-01T00:00:00Z"}, "end"),
        ({"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, "start"),
        ({"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "start"),
        ({"bucket": "5 parsecs"}, "bucket"),
        ({"bucket": "0"}, "bucket"),
        ({"bucket": "1", "start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, "bucket"),
    ],
)
def test_bad_history_parameters_are_400(viewer_client, params, field):
    device = make_device()
    response = viewer_client.get(f"/api/devices/{device.device_id}/telemetry/history", params)
    assert response.status_code == 400 and field in response.json(), response.content


def test_export_is_csv_of_the_range(viewer_client):
    device = make_device()
    insert_readings(device, T0, 10, 60)
    response = viewer_client.get(
        f"/api/devices/{device.device_id}/telemetry/export",
        {"start": "2026-11-01T00:02:00Z", "end": "2026-11-01T00:05:00Z"},
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.streaming and "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:2] == ["ts", "ts_estimated"] and rows[0][-1] == "extra" and "in" in rows[0]
    assert [row[5] for row in rows[1:]] == ["2", "3", "4"]


def test_export_of_200k_rows_streams_in_bounded_memory(viewer_client):
    rows = 200_000
    device = make_device()
    insert_readings(device, T0, rows, 5)
    response = viewer_client.get(
        f"/api/devices/{device.device_id}/telemetry/export",
        {"start": "2026-11-01T00:00:00Z", "end": "2026-11-30T00:00:00Z"},
    )
    assert response.status_code == 200
    tracemalloc.start()
    try:
        lines = total_bytes = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
            total_bytes += len(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == rows + 1
    # The CSV alone is ~25 MB and the rows as Python objects several times that; streaming holds one chunk.
    assert total_bytes > 20_000_000
    print(f"export: {lines} lines, {total_bytes / 1e6:.1f} MB streamed, tracemalloc peak {peak / 1e6:.2f} MB")
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB while streaming {total_bytes / 1e6:.1f} MB"


def test_portable_export_path_formats_like_the_copy_path():
    device = make_device()
    insert_readings(device, T0, 3, 60)
    start, end = T0, T0 + timedelta(hours=1)
    columns = [field for _, field in queries._export_columns(queries.CsvKind.RAW)]
    copy_text = b"".join(queries._export_with_copy(device, start, end, queries.CsvKind.RAW)).decode()
    rows = TelemetryRecord.objects.filter(device=device).order_by("ts").values_list(*columns).iterator()
    portable = "".join(queries.csv_chunks(queries.export_header("raw"), (map(queries._csv_value, r) for r in rows)))
    copy_rows, portable_rows = (list(csv.reader(io.StringIO(text))) for text in (copy_text, portable))
    assert copy_rows[0] == portable_rows[0] and len(copy_rows) == len(portable_rows) == 4
    for ours, theirs in zip(copy_rows[1:], portable_rows[1:], strict=True):
        assert ours[:6] == theirs[:6]  # time stamps, flags, source, connection, seq: identical text
        assert [float(v) if v else None for v in ours[6:-1]] == [float(v) if v else None for v in theirs[6:-1]]
        assert (json.loads(ours[-1]) if ours[-1] else None) == (json.loads(theirs[-1]) if theirs[-1] else None)


def test_under_asgi_chunks_are_pulled_one_at_a_time_not_drained_first():
    pulled = []

    def chunks():
        for index in range(1000):
            pulled.append(index)
            yield f"{index}\n"

    response = streaming_download(AsyncRequestFactory().get("/"), chunks(), "t.csv", "text/csv")
    assert response.is_async

    async def first_two():
        iterator = aiter(response.streaming_content)
        return [await anext(iterator), await anext(iterator)]

    assert asyncio.run(first_two()) == [b"0\n", b"1\n"]
    assert len(pulled) == 2
    sync_response = streaming_download(RequestFactory().get("/"), iter(["a\n"]), "t.csv", "text/csv")
    assert not sync_response.is_async and b"".join(sync_response.streaming_content) == b"a\n"
