"""Captive-portal provisioning: the form a phone sees in AP mode and the parser for what it posts.

Only WiFi, MQTT and the console URL are asked for (plus APN/PIN when a GSM modem was found; the GSM
fields are left out of the page otherwise). The HTTP serving is the HAL's job; this module turns
request bodies into config changes and pages.
"""
# ruff: noqa: UP031 - MicroPython code: no contextlib, %-formatting is its lightest formatter

from . import config as config_mod

_FIELDS = (
    ("wifi.ssid", "WiFi network", "text"),
    ("wifi.password", "WiFi password", "password"),
    ("mqtt.host", "MQTT broker host", "text"),
    ("mqtt.port", "MQTT broker port", "number"),
    ("mqtt.user", "MQTT user", "text"),
    ("mqtt.password", "MQTT password", "password"),
    ("console_url", "Console URL", "url"),
)
_GSM_FIELDS = (
    ("gsm.apn", "GSM APN", "text"),
    ("gsm.user", "GSM user", "text"),
    ("gsm.password", "GSM password", "password"),
    ("gsm.pin", "SIM PIN", "password"),
)
_INT_FIELDS = ("mqtt.port",)


def _escape(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _unquote(text):
    text = text.replace("+", " ")
    out = bytearray()
    raw = text.encode()
    i = 0
    while i < len(raw):
        if raw[i] == 0x25 and i + 2 < len(raw):
            out.append(int(raw[i + 1:i + 3].decode(), 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode()


def fields(has_modem):
    return _FIELDS + (_GSM_FIELDS if has_modem else ())


def _current(cfg, dotted):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def render_form(device_id, cfg, has_modem, message=""):
    rows = []
    for name, label, kind in fields(has_modem):
        value = "" if kind == "password" else _escape(_current(cfg, name))
        rows.append('<label>%s <input name="%s" type="%s" value="%s"></label><br>' % (label, name, kind, value))
    note = "<p><b>%s</b></p>" % _escape(message) if message else ""
    return ("<!doctype html><html><head><meta name=viewport content='width=device-width'><title>%s setup</title>"
            "</head><body><h1>%s</h1>%s<form method=post action=/save>%s<button>Save and connect</button>"
            "</form></body></html>") % (device_id, device_id, note, "".join(rows))


def parse_form(body, has_modem):
    """Config changes from an x-www-form-urlencoded body; ConfigError for bad values."""
    if isinstance(body, bytes):
        body = body.decode()
    posted = {}
    for pair in body.split("&"):
        if "=" in pair:
            key, value = pair.split("=", 1)
            posted[_unquote(key)] = _unquote(value)
    allowed = [name for name, _label, _kind in fields(has_modem)]
    changes = {}
    for name in allowed:
        if name not in posted:
            continue
        value = posted[name]
        if name in _INT_FIELDS:
            try:
                value = int(value)
            except ValueError:
                raise config_mod.ConfigError({name: "must be an integer"}) from None
        if "." in name:
            section, key = name.split(".", 1)
            if key == "password" and value == "":
                continue  # an empty password box keeps the stored secret
            changes.setdefault(section, {})[key] = value
        else:
            changes[name] = value
    config_mod.validate(changes, partial=True)
    return changes


DNS_HEADER_LEN = 12
_DNS_MAX_LABELS = 64


def dns_redirect_answer(query, address):
    """The DNS answer that sends every name a phone asks for in AP mode to the portal at `address`
    (4 bytes), so its captive-portal check opens the form; None for anything that is not one plain
    question (malformed, a response, several questions), which is then not answered at all."""
    if len(query) < DNS_HEADER_LEN + 5 or query[2] & 0x80 or query[4:6] != b"\x00\x01":
        return None
    position = DNS_HEADER_LEN
    for _ in range(_DNS_MAX_LABELS):
        if position >= len(query):
            return None
        length = query[position]
        if length == 0:
            break
        if length & 0xC0:
            return None  # a compression pointer has no place in a question
        position += 1 + length
    else:
        return None
    end = position + 5  # the root label, QTYPE, QCLASS
    if end > len(query):
        return None
    header = bytes(query[0:2]) + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00"
    answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes(address)
    return header + bytes(query[DNS_HEADER_LEN:end]) + answer
