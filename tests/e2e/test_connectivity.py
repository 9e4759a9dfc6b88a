"""Scenarios 2 and 3: losing WiFi (GSM takes over) and losing every link (the SD card keeps the data)."""

import pytest

from devices.choices import DeviceStatus
from devices.models import Device
from telemetry.models import TelemetryRecord
from tests.e2e.conftest import eventually, sd_records

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def stored_seqs(device: Device, **filters) -> set[int]:
    return set(TelemetryRecord.objects.filter(device=device, **filters).values_list("seq", flat=True))


def wait_online(device: Device, conn: str = "wifi", timeout: float = 20):
    eventually(
        lambda: Device.objects.filter(pk=device.pk, status=DeviceStatus.ONLINE, connection_type=conn).exists(),
        timeout,
        f"the console shows {device.device_id} online over {conn}",
    )


def wait_all_stored(device: Device, first: int, last: int, timeout: float = 15):
    expected = set(range(first, last + 1))
    eventually(
        lambda: expected <= stored_seqs(device),
        timeout,
        f"every record seq {first}..{last} is stored; missing {sorted(expected - stored_seqs(device))[:20]}",
    )


def test_wifi_loss_fails_over_to_gsm_and_back_without_losing_a_record(console, start_fleet):
    fleet = start_fleet(1)
    sim = fleet.devices[0]
    device = Device.objects.get(device_id=sim.device_id)
    wait_online(device)
    eventually(lambda: stored_seqs(device, connection="wifi"), 10, "telemetry arrives over WiFi")
    window_start = sim.seq

    # WiFi router off: the gateway moves to GSM, its heartbeat says so, telemetry keeps coming (batched).
    sim.wifi_down()
    wait_online(device, "gsm")
    eventually(
        lambda: (
            Device.objects.filter(pk=device.pk, connection_type="gsm", gsm_ok=True, last_heartbeat__isnull=False)
            .exclude(status=DeviceStatus.OFFLINE)
            .exists()
        ),
        10,
        "a heartbeat over GSM",
    )
    over_gsm = eventually(lambda: len(stored_seqs(device, connection="gsm")) >= 3, 15, "3 records over GSM")
    assert over_gsm

    # WiFi back: the gateway probes it, switches back, and the console sees WiFi again.
    sim.wifi_up()
    wait_online(device, "wifi")
    switched_back = sim.seq
    eventually(
        lambda: {s for s in stored_seqs(device, connection="wifi") if s > switched_back},
        10,
        "telemetry over WiFi after the switch back",
    )
    wait_all_stored(device, window_start, sim.seq - 1)
    changes = list(device.status_changes.order_by("changed_at").values_list("to_status", flat=True))
    assert changes.count(DeviceStatus.ONLINE) >= 3, changes  # online on WiFi, on GSM, on WiFi again


def test_outage_is_buffered_on_sd_as_jsonl_and_replayed_in_order_while_live_telemetry_resumes(console, start_fleet):
    fleet = start_fleet(1)
    sim = fleet.devices[0]
    device = Device.objects.get(device_id=sim.device_id)
    wait_online(device)
    eventually(lambda: stored_seqs(device), 10, "live telemetry before the outage")

    # Both links down: the console sees the LWT; the gateway writes its records to SD.
    sim.all_down()
    eventually(
        lambda: Device.objects.filter(pk=device.pk, status=DeviceStatus.OFFLINE).exists(),
        10,
        "the console marks the gateway offline (LWT)",
    )
    sim.wait_for(lambda d: d.sd_queued >= 8, 20)
    buffered = sd_records(fleet, sim.device_id)
    assert len(buffered) >= 8
    assert all({"ts", "seq", "f", "v1"} <= set(record) for record in buffered), buffered[:2]
    buffered_seqs = [record["seq"] for record in buffered]
    assert buffered_seqs == sorted(buffered_seqs)
    # Records made with no link carry no `conn` (one sent just before the cut may be on SD unacknowledged).
    offline_seqs = {record["seq"] for record in buffered if "conn" not in record}
    assert len(offline_seqs) >= 7 and not stored_seqs(device) & offline_seqs, "data reached the console offline"

    # Links back: the queue drains as `sd` batches while live records flow again.
    sim.all_up()
    wait_online(device)
    eventually(
        lambda: offline_seqs <= stored_seqs(device, source="sd") and set(buffered_seqs) <= stored_seqs(device),
        20,
        "every buffered record arrives with source sd",
    )
    sim.wait_for(lambda d: d.sd_queued == 0, 10)
    # Chronology survives the replay: each record keeps the time it was measured (not when it arrived;
    # batches may commit out of order), so ordering by ts gives the gateway's own order.
    replayed = TelemetryRecord.objects.filter(device=device, source="sd").order_by("ts")
    measured = {record["seq"]: round(record["ts"], 3) for record in buffered}
    stored = {
        seq: round(ts.timestamp(), 3)
        for seq, ts in TelemetryRecord.objects.filter(device=device, seq__in=measured).values_list("seq", "ts")
    }
    assert {seq: stored[seq] for seq in measured} == measured, "replayed records lost their measurement time"
    seqs_by_time = list(replayed.values_list("seq", flat=True))
    assert seqs_by_time == sorted(seqs_by_time), "ordering by ts does not give the gateway's order"
    assert all(record.ts < record.received_at for record in replayed)
    resumed_after = max(buffered_seqs)
    eventually(
        lambda: {s for s in stored_seqs(device, source="live") if s > resumed_after},
        10,
        "live telemetry after the outage",
    )
    # Live data does not wait for the backlog: the first live record follows the reconnection at once.
    back_online = device.status_changes.filter(to_status=DeviceStatus.ONLINE).latest("changed_at").changed_at
    first_live = (
        TelemetryRecord.objects.filter(device=device, source="live", seq__gt=resumed_after).earliest("seq").received_at
    )
    assert (first_live - back_online).total_seconds() < 3, (back_online, first_live)
    wait_all_stored(device, 1, sim.seq - 1)
