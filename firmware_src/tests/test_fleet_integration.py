"""Simulated gateways against a real private Mosquitto: the protocol as the console sees it."""

import hashlib
import time

from firmware_src.device import appdesc
from firmware_src.simulator import Fleet
from firmware_src.tests.conftest import Observer

FAST = {"link_check_s": 0.3, "switchback_s": 1.0, "selftest_s": 3.0, "stable_s": 30.0, "backoff_cap_s": 1.0,
        "boot_delay_s": 0.2}
TELEMETRY_FIELDS = {"ts", "seq", "src", "conn", "f", "v1", "v2", "v3", "i1", "i2", "i3", "pt", "pft", "ep_imp",
                    "thd_v1"}


def _fleet(broker, n=3, **options):
    settings = dict(FAST, telemetry_s=1, heartbeat_s=2, start_spread_s=0.0)
    settings.update(options)
    return Fleet(broker, "http://127.0.0.1:1", n=n, **settings)


def test_devices_register_report_status_telemetry_heartbeat_and_answer_ping(mosquitto, observer, state_dir):
    with _fleet(mosquitto, n=3, state_dir=state_dir) as fleet:
        fleet.wait_until(lambda f: f.all_connected(), 15)
        for device in fleet.devices:
            device_id = device.device_id
            registration = observer.wait_for(f"devices/register/{device_id}")[0]
            assert registration["device_id"] == device_id and registration["fw"] == "1.0.0"
            assert registration["boot"] == 1 and registration["reset"] == "poweron"
            assert registration["meter"] == {"model": "Acuvim II", "addr": 1, "baud": 19200, "parity": "8N1"}
            assert len(registration["cfg"]) == 64
            record = observer.wait_for(f"acuvim/{device_id}/telemetry", lambda p: isinstance(p, dict))[0]
            assert set(record) >= TELEMETRY_FIELDS and record["src"] == "live" and record["conn"] == "wifi"
            assert 49.8 < record["f"] < 50.2 and 215 < record["v1"] < 245 and 0.85 <= record["pft"] <= 1.0
            heartbeat = observer.wait_for(f"acuvim/{device_id}/heartbeat")[0]
            assert heartbeat["conn"] == "wifi" and heartbeat["ota"]["state"] == "valid"
            assert heartbeat["cfg"] == registration["cfg"] and heartbeat["sd"]["ok"] is True

        late = Observer(mosquitto, topics=("acuvim/+/status",))
        try:
            retained = late.wait_for(f"acuvim/{fleet.ids[0]}/status")
            assert retained[0]["state"] == "online" and late.messages[0][2] is True
        finally:
            late.close()

        device_id = fleet.ids[1]
        observer.publish(f"acuvim/{device_id}/cmd", {"req": "ping-1", "cmd": "ping", "params": {},
                                                      "ts": time.time(), "exp": time.time() + 60})
        answers = observer.wait_for(f"acuvim/{device_id}/resp", lambda p: p["req"] == "ping-1", count=2)
        assert [a["status"] for a in answers] == ["ack", "success"] and "uptime" in answers[1]["data"]

    offline = observer.wait_for(f"acuvim/{fleet.ids[0]}/status", lambda p: p["state"] == "offline")
    assert offline[0]["reason"] == "lwt"


def test_wifi_loss_moves_to_gsm_and_an_outage_is_replayed_from_sd_without_gaps(mosquitto, observer, state_dir):
    with _fleet(mosquitto, n=1, state_dir=state_dir, telemetry_gsm_s=2) as fleet:
        device = fleet.devices[0]
        topic = f"acuvim/{device.device_id}/telemetry"
        device.wait_for(lambda d: d.connected, 15)
        device.wifi_down()
        device.wait_for(lambda d: d.transport == "gsm" and d.connected, 10)
        observer.wait_for(f"acuvim/{device.device_id}/heartbeat", lambda p: p["conn"] == "gsm")
        batch = observer.wait_for(topic, lambda p: isinstance(p, list) and p[0]["src"] == "live")[0]
        assert batch[0]["conn"] == "gsm" and "thd_v1" not in batch[0]

        device.all_down()
        device.wait_for(lambda d: d.sd_queued >= 4, 15)
        observer.wait_for(f"acuvim/{device.device_id}/status", lambda p: p["state"] == "offline")
        device.all_up()
        device.wait_for(lambda d: d.transport == "wifi" and d.connected and d.sd_queued == 0, 20)
        time.sleep(1.5)
        replayed = [r for p in observer.matching(topic, lambda p: isinstance(p, list)) for r in p if r["src"] == "sd"]
        assert len(replayed) >= 4
        assert [r["seq"] for r in replayed] == sorted(r["seq"] for r in replayed)
        seqs = set()
        for payload in observer.matching(topic):
            for record in payload if isinstance(payload, list) else [payload]:
                seqs.add(record["seq"])
        assert seqs == set(range(1, max(seqs) + 1)), "telemetry lost during the transitions"


def test_crash_loop_ends_in_ap_mode_and_reprovisioning_reports_it(mosquitto, observer, state_dir):
    with _fleet(mosquitto, n=1, state_dir=state_dir) as fleet:
        device = fleet.devices[0]
        device.wait_for(lambda d: d.connected, 15)
        device.crash("wdt")
        device.wait_for(lambda d: d.boot_count == 2 and d.connected, 10)
        registration = observer.wait_for(f"devices/register/{device.device_id}", lambda p: p["boot"] == 2)[0]
        assert registration["reset"] == "wdt"
        device.crash_loop(times=4, after_s=0.3)
        device.wait_for(lambda d: d.mode == "ap", 15)
        assert device.boot_count == 6 and not device.connected
        device.provision()
        device.wait_for(lambda d: d.mode == "normal" and d.connected, 15)
        alert = observer.wait_for(f"acuvim/{device.device_id}/alerts", lambda p: p["type"] == "crash_loop")[0]
        assert alert["sev"] == "critical" and alert["state"] == "raised"


def _image(version):
    return appdesc.build_header(version) + bytes(range(256)) * 200


def _ota(observer, device, server, version, req):
    image = _image(version)
    server.images[f"/fw/{version}.bin"] = image
    observer.publish(f"acuvim/{device.device_id}/cmd", {
        "req": req, "cmd": "ota_update", "ts": time.time(), "exp": time.time() + 60,
        "params": {"url": f"{server.url}/fw/{version}.bin", "version": version,
                   "sha256": hashlib.sha256(image).hexdigest(), "size": len(image), "mandatory": False}})


def test_ota_succeeds_after_self_test_and_a_bad_image_rolls_back(mosquitto, observer, state_dir, firmware_server):
    with _fleet(mosquitto, n=2, state_dir=state_dir, tokens="tok-fw") as fleet:
        good, bad = fleet.devices
        fleet.wait_until(lambda f: f.all_connected(), 15)
        bad.set_selftest_fails(True)
        _ota(observer, good, firmware_server, "1.3.0", "ota-good")
        _ota(observer, bad, firmware_server, "1.4.0", "ota-bad")

        final = observer.wait_for(f"acuvim/{good.device_id}/resp",
                                  lambda p: p["req"] == "ota-good" and p["status"] in ("success", "error"))[0]
        assert final["status"] == "success" and final["data"]["fw"] == "1.3.0"
        stages = [p.get("stage") for p in observer.matching(f"acuvim/{good.device_id}/resp",
                                                             lambda p: p["status"] == "progress")]
        assert stages[0] == "downloading" and stages[-3:] == ["verifying", "writing", "rebooting"]
        assert good.fw_version == "1.3.0" and good.ota_state == "valid"
        assert observer.wait_for(f"devices/register/{good.device_id}", lambda p: p["fw"] == "1.3.0")

        final = observer.wait_for(f"acuvim/{bad.device_id}/resp",
                                  lambda p: p["req"] == "ota-bad" and p["status"] in ("success", "error"),
                                  timeout=20)[0]
        assert final["status"] == "error" and final["code"] == "rolled_back"
        assert bad.fw_version == "1.0.0"
        heartbeat = observer.wait_for(f"acuvim/{bad.device_id}/heartbeat",
                                      lambda p: p["ota"]["state"] == "rolled_back")[0]
        assert heartbeat["ota"]["prev"] == "1.0.0" and heartbeat["ota"]["failed"] == "1.4.0"
        assert all(h["Authorization"] == "Device tok-fw" for _p, h in firmware_server.requests)
