"""Device alerts (transitions only) and the captive-portal form."""


from firmware_src.device import config, portal
from firmware_src.device.alerts import AlertMonitor
from firmware_src.device.backoff import Backoff
from firmware_src.tests.logic.support import raises

NORMAL = {"v1": 230.0, "v2": 231.0, "v3": 229.0, "i1": 10.0, "i2": 10.0, "i3": 10.0, "f": 50.0, "pft": 0.95,
          "pt": 6000.0}


def test_overvoltage_is_raised_once_and_cleared_once():
    monitor = AlertMonitor(config.defaults()["thresholds"])
    assert monitor.check_record(NORMAL, 1) == []
    high = dict(NORMAL)
    high["v2"] = 260.0
    raised = monitor.check_record(high, 2)
    assert [(a["type"], a["state"], a["val"], a["thr"]) for a in raised] == [("overvoltage", "raised", 260.0, 253.0)]
    assert monitor.check_record(high, 3) == []
    cleared = monitor.check_record(NORMAL, 4)
    assert [(a["type"], a["state"]) for a in cleared] == [("overvoltage", "cleared")]


def test_lost_phase_is_critical_not_undervoltage():
    monitor = AlertMonitor(config.defaults()["thresholds"])
    record = dict(NORMAL)
    record["v3"] = 0.0
    kinds = [(a["type"], a["sev"]) for a in monitor.check_record(record, 1)]
    assert kinds == [("phase_loss", "critical")]


def test_health_condition_transitions():
    monitor = AlertMonitor(config.defaults()["thresholds"])
    assert len(monitor.condition(1, "modbus_loss", True, "critical", "no answer")) == 1
    assert monitor.condition(2, "modbus_loss", True, "critical", "no answer") == []
    assert monitor.condition(3, "modbus_loss", False, "critical", "")[0]["state"] == "cleared"


def test_form_hides_gsm_fields_without_a_modem():
    cfg = config.defaults()
    assert "gsm.apn" in portal.render_form("ACV-AABBCCDDEEFF", cfg, True)
    page = portal.render_form("ACV-AABBCCDDEEFF", cfg, False)
    assert "gsm." not in page and "wifi.ssid" in page and "console_url" in page


def test_form_post_becomes_a_validated_partial_config():
    body = "wifi.ssid=Plant+A%26B&wifi.password=s%C3%A9cret&mqtt.host=10.1.2.3&mqtt.port=1883&gsm.apn=evil"
    changes = portal.parse_form(body, False)
    assert changes == {"wifi": {"ssid": "Plant A&B", "password": "sécret"}, "mqtt": {"host": "10.1.2.3", "port": 1883}}
    raises(config.ConfigError, portal.parse_form, "mqtt.port=99999", False)
    raises(config.ConfigError, portal.parse_form, "mqtt.port=abc", False)


def test_backoff_doubles_up_to_the_cap_and_resets():
    backoff = Backoff(1.0, 8.0)
    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0
    jittered = Backoff(1.0, 8.0, lambda: 0.0)
    assert jittered.next_delay() == 0.5


def _dns_query(name, qid=b"\x12\x34"):
    question = b"".join(bytes([len(part)]) + part.encode() for part in name.split(".")) + b"\x00\x00\x01\x00\x01"
    return qid + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + question


def test_dns_redirect_answers_every_name_with_the_portal_address():
    query = _dns_query("connectivitycheck.gstatic.com")
    answer = portal.dns_redirect_answer(query, b"\xc0\xa8\x04\x01")
    assert answer[:2] == b"\x12\x34" and answer[2:4] == b"\x81\x80" and answer[6:8] == b"\x00\x01"
    assert answer[12:len(query)] == query[12:] and answer.endswith(b"\x00\x04\xc0\xa8\x04\x01")


def test_dns_redirect_ignores_what_is_not_one_plain_question():
    good = _dns_query("example.com")
    for hostile in (b"", b"\x00" * 11, good[:14], good[:2] + b"\x81\x80" + good[4:],
                    good[:4] + b"\x00\x02" + good[6:], good[:12] + b"\xc0\x0c\x00\x01\x00\x01",
                    good[:12] + b"\x3f" * 40, good[:12] + b"\x01a" * 70 + b"\x00\x00\x01\x00\x01"):
        assert portal.dns_redirect_answer(hostile, b"\x7f\x00\x00\x01") is None, hostile
