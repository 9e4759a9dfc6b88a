"""Device messages as the firmware sends them (docs/mqtt-protocol.md), with overridable fields."""

import time


def registration(device_id: str, **fields) -> dict:
    payload = {
        "device_id": device_id,
        "mac": ":".join(device_id[4:][i : i + 2] for i in range(0, 12, 2)),
        "imei": "861234567890123",
        "iccid": "8944500000000000000",
        "hw": "TTGO T-Call v1.4",
        "fw": "1.2.0",
        "caps": ["wifi", "gsm", "sd", "modbus"],
        "boot": 17,
        "reset": "poweron",
        "meter": {"model": "Acuvim II", "addr": 1, "baud": 19200, "parity": "8N1"},
        "hb_s": 60,
        "cfg": "a" * 64,
        "ts": time.time(),
    }
    payload.update(fields)
    return payload


def reading(ts: float | None, seq: int = 1, **fields) -> dict:
    record = {
        "ts": ts,
        "seq": seq,
        "src": "live",
        "conn": "wifi",
        "f": 50.01,
        "v1": 230.1,
        "v2": 231.0,
        "v3": 229.8,
        "vavg": 230.3,
        "i1": 10.2,
        "iavg": 10.03,
        "pt": 6770.7,
        "pft": 0.99,
        "ep_imp": 12345.6,
    }
    record.update(fields)
    return record


def heartbeat(**fields) -> dict:
    payload = {
        "ts": time.time(),
        "fw": "1.2.0",
        "uptime": 3600,
        "boot": 17,
        "reset": "poweron",
        "heap": 91234,
        "heap_min": 60112,
        "conn": "wifi",
        "rssi": -67,
        "ip": "10.0.0.23",
        "hb_s": 60,
        "sd": {"ok": True, "queued": 0, "free_kb": 3800000},
        "modbus": {"ok": True, "errors": 0, "last_ok": time.time()},
        "gsm": {"ok": False},
        "mqtt_reconnects": 0,
        "ota": {"state": "valid", "prev": "1.1.0"},
    }
    payload.update(fields)
    return payload
