"""Board-path scenarios, run by the MicroPython unix port: `micropython scenarios.py NAME CONTEXT_FILE`.

Each scenario builds the real `hal/esp32.py` (with the stand-ins in standins/ as machine, network and
esp32), boots `GatewayApp` on it, drives it like main.py does and prints one JSON line with what it
saw; test_board_path.py starts the broker and the SNTP server and checks both sides.
"""
# ruff: noqa: UP031, SIM105 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import json
import socket
import sys
import time

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, HERE + "/standins")
sys.path.insert(1, HERE + "/../../..")
with open(sys.argv[2]) as _handle:
    CTX = json.load(_handle)
sys.path.insert(2, CTX["umqtt_dir"])

import machine  # noqa: E402 - the stand-ins must come first on sys.path
import network  # noqa: E402

from firmware_src.device import modbus  # noqa: E402
from firmware_src.device.app import GatewayApp  # noqa: E402
from firmware_src.hal import esp32 as board  # noqa: E402

DEVICE_ID = "ACV-246F280A0B0C"


class UartPeer:
    """The far end of a stand-in UART: what it says waits in `out` until the firmware reads it."""

    def __init__(self):
        self.out = b""

    def pending(self):
        return len(self.out)

    def send(self, nbytes):
        nbytes = nbytes or len(self.out)
        data, self.out = self.out[:nbytes], self.out[nbytes:]
        return data or None


class MeterPeer(UartPeer):
    """An Acuvim II on the RS485 bus that answers every register read with float32 pairs: 9.8 for the
    currents (MicroPython prints `round(9.8, 2)` as 9.800000000000001), 230.0 for everything else."""

    CURRENTS = (0x4012, 0x401C)  # i1, i2, i3, iavg, in

    def receive(self, frame):
        if len(frame) == 8 and modbus.crc_ok(frame) and frame[1] in (3, 4):
            start = frame[2] << 8 | frame[3]
            count = frame[4] << 8 | frame[5]
            regs = []
            while len(regs) < count:
                address = start + len(regs)
                current = self.CURRENTS[0] <= address < self.CURRENTS[1]
                regs.extend(modbus.float_to_regs(9.8 if current else 230.0))
            body = bytes([frame[0], frame[1], 2 * count])
            for reg in regs[:count]:
                body += bytes([reg >> 8, reg & 0xFF])
            self.out = modbus.with_crc(body)


class ModemPeer(UartPeer):
    """A SIM800L that needs `boot_ats` probes before autobauding locks, then answers a script.

    After CONNECT the UART carries PPP: any AT command written then is recorded as a violation.
    """

    ANSWERS = {
        "AT": "OK", "ATE0": "OK", "AT+CLTS=1": "OK", "AT+GSN": "861234567890123\r\n\r\nOK",
        "AT+CCID": "89441000300000000011\r\n\r\nOK", "AT+CSQ": "+CSQ: 17,0\r\n\r\nOK",
        "AT+COPS?": '+COPS: 0,0,"SimTel"\r\n\r\nOK', "AT+CCLK?": '+CCLK: "26/12/01,23:59:30+00"\r\n\r\nOK',
        "ATD*99#": "CONNECT 115200", "ATH": "OK",
    }

    def __init__(self, boot_ats):
        super().__init__()
        self.boot_ats = boot_ats
        self.log = []
        self.in_ppp = False
        self.violations = []

    def receive(self, data):
        text = data.decode().strip()
        if self.in_ppp:
            if text.startswith("AT"):
                self.violations.append(text)
            if text == "+++":
                self.in_ppp = False
            return
        self.log.append(text)
        if self.boot_ats > 0:
            self.boot_ats -= 1
            return
        answer = self.ANSWERS.get(text)
        if answer is None and text.startswith("AT+CGDCONT"):
            answer = "OK"
        if answer is not None:
            self.out += ("\r\n" + answer + "\r\n").encode()
        if text == "ATD*99#":
            self.in_ppp = True


class DeadNetworkModemPeer(ModemPeer):
    """A SIM800L whose every dial fails: the SIM is fine but the network answers NO CARRIER."""

    ANSWERS = dict(ModemPeer.ANSWERS)
    ANSWERS["ATD*99#"] = "NO CARRIER"

    def receive(self, data):
        super().receive(data)
        self.in_ppp = False  # never reaches data mode


def provision(data_root, mqtt, transport="wifi_preferred", wifi_ssid="Plant-A", **intervals):
    cfg = {
        "wifi": {"ssid": wifi_ssid, "password": "pw"}, "mqtt": mqtt, "transport": {"mode": transport},
        "intervals": {"telemetry_s": intervals.get("telemetry_s", 1), "telemetry_gsm_s": 1,
                      "heartbeat_s": intervals.get("heartbeat_s", 3600)},
        "modbus": {"addr": 1, "baud": 19200, "parity": "8N1", "poll_s": 1},
    }
    with open(data_root + "/nvs.json", "w") as handle:
        handle.write(json.dumps({"cfg": cfg}))


def plain_mqtt():
    return {"host": "127.0.0.1", "port": CTX["mqtt_port"], "tls": False, "user": DEVICE_ID, "password": ""}


def boot(options=None, **hal_args):
    """Build the board HAL and the app, as main.py does."""
    machine.state["uart_peers"].setdefault(2, MeterPeer())
    args = {"data_root": CTX["data_root"], "ntp_host": "127.0.0.1", "ntp_port": CTX["ntp_port"], "ntp_retry_s": 0.5,
            "portal_address": ("127.0.0.1", 0), "dns_port": CTX["dns_port"],
            "ca_path": CTX.get("ca_path", "/nonexistent"), "modem_probe_ms": 300}
    args.update(hal_args)
    hal = board.Esp32Hal(**args)
    opts = {"link_check_s": 0.3, "backoff_base_s": 0.2, "backoff_cap_s": 1.0, "sd_segment_bytes": 4096,
            "sd_reserve_bytes": 0}
    opts.update(options or {})
    return hal, GatewayApp(hal, opts)


LOOP = {"ticks": 0}  # ticks run so far: each feeds the watchdog once


def run(app, seconds, until=None, sleep_cap_s=0.02):
    """The main loop of main.py, for `seconds` or until `until(app)` holds. It sleeps at most
    `sleep_cap_s` between ticks to keep the scenarios short; None sleeps what tick() asks, as main.py."""
    deadline = time.ticks_add(time.ticks_ms(), int(seconds * 1000))
    while time.ticks_diff(deadline, time.ticks_ms()) > 0:
        delay = app.tick()
        LOOP["ticks"] += 1
        if until is not None and until(app):
            return True
        time.sleep(delay if sleep_cap_s is None else min(delay, sleep_cap_s))
    return False


def connected(app):
    return app.session.connected


def scenario_reconnect():
    """Connect, lose WiFi (records go to SD), get it back: registration again, acks recorded, SD drained."""
    provision(CTX["data_root"], plain_mqtt())
    machine.state["sd"] = fat_card(2048)
    _hal, app = boot()
    run(app, 10, lambda a: connected(a) and a.seq >= 3)
    network.state["wifi_up"] = False
    run(app, 10, lambda a: not connected(a))
    run(app, 3)
    buffered = app.sd.queued
    network.state["wifi_up"] = True
    run(app, 15, lambda a: connected(a) and a.sd.queued == 0 and a.seq >= 12)
    run(app, 3, lambda a: not a._unacked_live and a.sd.queued == 0)
    return {"connected": connected(app), "seq": app.seq, "buffered": buffered, "sd_queued": app.sd.queued,
            "unacked_live": len(app._unacked_live), "drain_inflight": len(app._drain_inflight),
            "connects": app.session.connects, "lost": app.lost_records}


def link(command):
    """Tell the test's TCP relay to the broker to go silent (`freeze`) or to carry data again (`thaw`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.sendto(command.encode(), socket.getaddrinfo("127.0.0.1", CTX["relay_control_port"])[0][-1])
    finally:
        sock.close()
    time.sleep(0.2)  # the relay has acted on it


def scenario_half_open():
    """The link goes silent without a reset while connected: the QoS 1 publish waiting for its PUBACK and
    then each connect waiting for its CONNACK give up after the I/O timeout, the watchdog is fed all the
    while, and the gateway is back, with every record, once the link answers again."""
    mqtt = plain_mqtt()
    mqtt["port"] = CTX["relay_port"]
    provision(CTX["data_root"], mqtt)
    machine.state["sd"] = fat_card(2048)
    _hal, app = boot(mqtt_io_timeout_s=1.0)
    run(app, 10, lambda a: connected(a) and a.seq >= 3 and not a._unacked_live)
    connects = app.session.connects
    link("freeze")
    went_down = run(app, 15, lambda a: not connected(a))
    run(app, 4)  # connects into the silence
    link("thaw")
    back = run(app, 20, lambda a: connected(a) and a.session.connects > connects and a.sd.queued == 0
               and not a._unacked_live and not a._drain_inflight)
    return {"went_down": went_down, "back": back, "connects": app.session.connects, "seq": app.seq,
            "longest_feed_gap_ms": machine.state["wdt"].longest_gap_ms, "lost": app.lost_records}


def scenario_tls():
    """mqtt.tls against the broker's TLS listener: connected and publishing, or (a CA that did not sign
    the broker) three attempts refused. Also says which umqtt.simple ran: 1.3.x defaults `ssl` to False."""
    from umqtt.simple import MQTTClient
    mqtt = {"host": "localhost", "port": CTX["tls_port"], "tls": True, "user": DEVICE_ID, "password": ""}
    provision(CTX["data_root"], mqtt)
    _hal, app = boot()
    attempts = []
    client = app.session.client
    attempt = client.connect

    def counted(*args):
        attempts.append(1)
        return attempt(*args)

    client.connect = counted
    run(app, 15, lambda a: a.seq >= 2 if connected(a) else len(attempts) >= 3)
    ok = connected(app)
    run(app, 1)
    return {"connected": ok, "attempts": len(attempts), "seq": app.seq,
            "umqtt_ssl_default": MQTTClient("probe", "localhost").ssl}


def scenario_keepalive():
    """No meter, no heartbeat due: only PINGREQ keeps the connection inside the broker's 1.5 x keepalive."""
    provision(CTX["data_root"], plain_mqtt())
    machine.state["uart_peers"][2] = None
    _hal, app = boot({"keepalive_s": 2})
    run(app, 10, connected)
    run(app, 7)
    return {"connected": connected(app), "connects": app.session.connects, "seq": app.seq}


def scenario_tick_wrap():
    """ticks_ms starts 2 s before its 2**30 wrap: polling and telemetry must go on after it."""
    provision(CTX["data_root"], plain_mqtt())
    period = 1 << 30
    start = time.ticks_ms()
    offset = period - 2000

    def ticks_ms():
        return (time.ticks_diff(time.ticks_ms(), start) + offset) % period

    _hal, app = boot(ticks_ms=ticks_ms)
    run(app, 10, connected)
    before = app.seq
    run(app, 2.5)
    wrapped = ticks_ms() < offset
    seq_at_wrap = app.seq
    run(app, 4)
    return {"wrapped": wrapped, "seq_before": before, "seq_at_wrap": seq_at_wrap, "seq_after": app.seq,
            "uptime": app.hal.clock.uptime()}


def unreachable_mqtt():
    return {"host": "127.0.0.1", "port": CTX["closed_port"], "tls": False, "user": DEVICE_ID, "password": ""}


def scenario_sd_full():
    """No broker; after boot something else fills the card: the app drops old segments, raises sd_full."""
    provision(CTX["data_root"], unreachable_mqtt())
    machine.state["sd"] = fat_card(256)
    _hal, app = boot({"sd_segment_bytes": 1024})
    run(app, 5, lambda a: a.sd is not None and a.sd.file_count() >= 3)
    filler = 0
    try:
        with open("/sd/other.bin", "wb") as handle:
            while True:
                handle.write(b"\0" * 512)
                filler += 512
    except OSError:
        pass
    error = None
    try:
        run(app, 4)
    except OSError as exc:
        error = repr(exc)
    kinds = [alert["type"] for alert in app._alerts_out]
    return {"error": error, "filler": filler, "alerts": kinds, "dropped": app.sd.dropped if app.sd else None,
            "sd_ok": app.sd is not None, "seq": app.seq}


def scenario_sd_fail():
    """No broker; the card starts failing every write (EIO): sd_fail, buffering off, the loop goes on."""
    provision(CTX["data_root"], unreachable_mqtt())
    card = fat_card(256)
    machine.state["sd"] = card
    _hal, app = boot({"sd_segment_bytes": 1024})
    run(app, 5, lambda a: a.sd is not None and a.sd.queued >= 2)
    card.failing = True
    error = None
    try:
        run(app, 3)
    except OSError as exc:
        error = repr(exc)
    return {"error": error, "alerts": [alert["type"] for alert in app._alerts_out], "sd_ok": app.sd is not None,
            "lost": app.lost_records, "seq": app.seq, "sd_status": app.sd_status()}


def scenario_sd_reserve():
    """A 128 KiB card that a backlog has nearly filled (left by firmware that kept a smaller reserve):
    at boot the buffer is capped at the card's free space minus the reserve kept for
    the OTA download, so the next record drops old segments instead of eating into that reserve."""
    from firmware_src.device.sdbuffer import SdBuffer
    provision(CTX["data_root"], unreachable_mqtt())
    card = fat_card(256)
    import vfs
    vfs.mount(card, "/sd")
    backlog = SdBuffer("/sd/buffer", 4096, 1 << 30)
    record = {"ts": 1764000000.0, "seq": 0, "src": "sd", "pad": "x" * 400}
    while backlog.total_bytes() < 96 * 1024:
        record["seq"] += 1
        backlog.append(record)
    vfs.umount("/sd")
    machine.state["sd"] = card
    reserve = 48 * 1024
    hal, app = boot({"sd_segment_bytes": 4096, "sd_reserve_bytes": reserve})
    cap = app.sd.cap_bytes
    run(app, 5, lambda a: a.seq >= 2)
    return {"backlog": record["seq"], "cap": cap, "dropped": app.sd.dropped, "free": hal.sd_free_kb() * 1024,
            "reserve": reserve, "alerts": [alert["type"] for alert in app._alerts_out]}


def scenario_repeated_restart():
    """The console sends `restart`, the gateway reboots, the console repeats the same `req`: answered
    again from NVS, not run a second time."""
    provision(CTX["data_root"], plain_mqtt())
    _hal, app = boot()
    run(app, 10, connected)
    restart = {"req": "r-1", "cmd": "restart", "params": {"delay_s": 0}}
    send_command(restart)
    reboots = 0
    try:
        run(app, 5)
    except machine.Reset:
        reboots += 1
    machine.state["reset_cause"] = machine.SOFT_RESET
    _hal, app = boot()
    run(app, 10, lambda a: connected(a) and a.session.inflight() == 0)
    send_command(restart)
    try:
        run(app, 3, lambda a: a._reboot_at is not None)
    except machine.Reset:
        reboots += 1
    return {"reboots": reboots, "reboot_scheduled": app._reboot_at is not None, "reset": app.reset_reason,
            "connected": connected(app)}


def scenario_backlog_boot():
    """An 8 MiB backlog on the card at boot: the watchdog must be fed while the buffer opens."""
    provision(CTX["data_root"], plain_mqtt())
    machine.state["sd"] = vfs_posix(CTX["sd_dir"])
    started = time.ticks_ms()
    _hal, app = boot()
    app.tick()
    wdt = machine.state["wdt"]
    return {"queued": app.sd.queued, "boot_ms": time.ticks_diff(time.ticks_ms(), started),
            "longest_gap_ms": wdt.longest_gap_ms, "feeds": wdt.feeds}


def vfs_posix(path):
    import vfs
    return vfs.VfsPosix(path)


def fat_card(blocks):
    """A freshly formatted SD card of `blocks` x 512 bytes."""
    import vfs
    card = machine.RamBlockDevice(blocks)
    vfs.VfsFat.mkfs(card)
    return card


def scenario_gsm():
    """GSM only, a modem that needs 3 s of AT probes: present, dialled on CONNECT, no AT inside PPP."""
    provision(CTX["data_root"], plain_mqtt(), transport="gsm_only", wifi_ssid="")
    network.state["wifi_up"] = False
    modem = ModemPeer(boot_ats=6)
    machine.state["uart_peers"][1] = modem
    _hal, app = boot(modem_probe_ms=10000)
    ok = run(app, 20, lambda a: connected(a) and a.seq >= 1)
    app.on_command(json.dumps({"req": "g1", "cmd": "gsm_status"}))
    app.tick()
    run(app, 1)
    registration = app.registration()
    return {"connected": ok, "present": app.has_modem(), "conn": app.conn(), "imei": registration.get("imei"),
            "violations": modem.violations, "at_log": modem.log, "clock": getattr(app.hal.clock, "source", None),
            "pins": {str(k): v for k, v in machine.state["pins"].items()}}


def scenario_gsm_fail():
    """WiFi preferred but down at boot, a modem whose dials all fail; once WiFi is back, the first
    heartbeat reports the failed dials as gsm_fail."""
    provision(CTX["data_root"], plain_mqtt())
    network.state["wifi_up"] = False
    modem = DeadNetworkModemPeer(boot_ats=0)
    machine.state["uart_peers"][1] = modem
    hal, app = boot()
    run(app, 20, lambda a: hal.gsm_failures() >= 3)
    failures = hal.gsm_failures()
    network.state["wifi_up"] = True
    run(app, 15, lambda a: connected(a) and a.conn() == "wifi" and not a._alerts_out and a.session.inflight() == 0)
    return {"failures": failures, "dials": modem.log.count("ATD*99#"), "connected": connected(app),
            "conn": app.conn(), "unsent_alerts": [alert["type"] for alert in app._alerts_out]}


def scenario_low_heap():
    """A leak takes 256 KB: the next heartbeat (the port's real gc.mem_free through hal/esp32.py) raises
    low_heap; once the memory is given back, the one after clears it. The unix port's heap is not the
    board's, so the threshold is set 128 KB below what this process has free (on the board: 32 KB).
    One block, taken while the heap still has room for it: squeezing a fragmented heap to a few KB
    makes the port's own allocations fail first."""
    import gc
    provision(CTX["data_root"], plain_mqtt(), heartbeat_s=1)
    hal, app = boot()
    run(app, 10, lambda a: connected(a) and a.session.inflight() == 0)
    threshold = hal.heap()[0] - 128 * 1024
    app.opts["low_heap_bytes"] = threshold
    ballast = bytearray(256 * 1024)
    gc.collect()
    squeezed = gc.mem_free()
    run(app, 5, lambda a: "low_heap" in a.alerts.active and not a._alerts_out and a.session.inflight() == 0)
    raised = "low_heap" in app.alerts.active
    ballast = None
    run(app, 5, lambda a: "low_heap" not in a.alerts.active and not a._alerts_out and a.session.inflight() == 0)
    return {"threshold": threshold, "squeezed_heap": squeezed, "raised": raised,
            "cleared": "low_heap" not in app.alerts.active and ballast is None, "heap_after": hal.heap()[0],
            "connected": connected(app)}


def scenario_ota():
    """ota_update over real HTTP onto the SD card, verified, written into the other slot and read back,
    with the loop sleeping what tick() asks, as main.py does. Variants: `bad_blocks` (a worn flash
    sector in the slot), `sd_blocks` (a RAM card too small for the image), `download_timeout_s` (for a
    server that stalls)."""
    import esp32
    provision(CTX["data_root"], plain_mqtt())
    if CTX.get("sd_blocks"):
        machine.state["sd"] = fat_card(CTX["sd_blocks"])
    else:
        machine.state["sd"] = vfs_posix(CTX["sd_dir"])
    esp32.state["bad_blocks"] = CTX.get("bad_blocks", [])
    hal_args = {"download_timeout_s": CTX["download_timeout_s"]} if "download_timeout_s" in CTX else {}
    _hal, app = boot({"token": CTX["token"]}, **hal_args)
    run(app, 10, connected)
    app.on_command(json.dumps({"req": "ota-1", "cmd": "ota_update", "params": {
        "url": CTX["image_url"], "sha256": CTX["image_sha256"], "size": CTX["image_size"]}}))
    wdt = machine.state["wdt"]
    started, feeds_before, ticks_before = time.ticks_ms(), wdt.feeds, LOOP["ticks"]
    job = app.ota.job
    run(app, 30, lambda a: a.ota.job is None or a.ota._have_bytes() >= CTX["image_size"] or job["attempts"],
        sleep_cap_s=None)
    download_s = time.ticks_diff(time.ticks_ms(), started) / 1000.0
    rebooted = False
    try:  # to the reboot, the refusal, or (after a failed attempt) past the retry
        run(app, 6 if job["attempts"] else 30, lambda a: a.ota.job is None and a._reboot_at is None,
            sleep_cap_s=None)
    except machine.Reset:
        rebooted = True
    written = bytes(esp32.state["slots"].get("ota_1", b""))[:CTX["image_size"]]
    failures = [line for line in app.logs.tail(100) if "download attempt" in line]
    return {"rebooted": rebooted, "download_s": download_s, "attempts": job["attempts"], "failures": failures,
            "boot_slot": esp32.state["boot"], "slot_matches": written == open(CTX["image_path"], "rb").read(),
            "ota_feeds": wdt.feeds - feeds_before - (LOOP["ticks"] - ticks_before), "ota": app.ota.record,
            "job": app.ota.job is not None, "connected": connected(app), "longest_gap_ms": wdt.longest_gap_ms}


def send_command(command):
    """The console's side: one command to the gateway at QoS 1, from a client of its own."""
    from umqtt.simple import MQTTClient
    operator = MQTTClient("operator", "127.0.0.1", CTX["mqtt_port"])
    operator.connect()
    operator.publish(("acuvim/%s/cmd" % DEVICE_ID).encode(), json.dumps(command).encode(), False, 1)
    operator.disconnect()


def scenario_command_during_publish():
    """A command already waiting in the socket when the app publishes at QoS 1: umqtt reads it while it
    waits for the PUBACK. It must be answered afterwards, and the publish must still get its PUBACK."""
    provision(CTX["data_root"], plain_mqtt())
    _hal, app = boot()
    run(app, 10, connected)
    run(app, 1)
    send_command({"req": "p-1", "cmd": "ping"})
    time.sleep(0.5)  # the command is in the gateway's socket now, nobody has read it
    started = time.ticks_ms()
    mid = app.session.publish("heartbeat", app.status_snapshot())
    took_ms = time.ticks_diff(time.ticks_ms(), started)
    answered_inside = "p-1" in app.processor._answers
    run(app, 3, lambda a: "p-1" in a.processor._answers and a.session.inflight() == 0)
    return {"mid": mid, "took_ms": took_ms, "answered_inside_publish": answered_inside,
            "answered": "p-1" in app.processor._answers, "connected": connected(app), "connects": app.session.connects}


def scenario_reset_causes():
    """Each way the board can come back, as the next boot reports it."""
    seen = {}
    provision(CTX["data_root"], unreachable_mqtt())

    def next_boot(cause):
        machine.state["reset_cause"] = cause
        hal, app = boot()
        seen.setdefault("boots", []).append(app.guard.boot_count)
        return hal, app

    machine.state["rtc_memory"] = b""
    hal, app = next_boot(machine.PWRON_RESET)
    seen["power_on"] = hal.reset_cause()
    try:
        app.reboot("sw")
    except machine.Reset:
        pass
    hal, app = next_boot(machine.SOFT_RESET)
    seen["restart"] = hal.reset_cause()
    hal.record_panic(ValueError("boom"))
    hal, app = next_boot(machine.SOFT_RESET)
    seen["python_crash"] = hal.reset_cause()
    seen["python_crash_log"] = [line for line in app.logs.tail(100) if "uncaught exception" in line]
    hal, app = next_boot(machine.SOFT_RESET)
    seen["idf_panic"] = hal.reset_cause()
    seen["idf_panic_log"] = [line for line in app.logs.tail(100) if "uncaught exception" in line]
    hal, app = next_boot(machine.WDT_RESET)
    seen["watchdog"] = hal.reset_cause()
    hal, app = next_boot(machine.PWRON_RESET)
    seen["brownout"] = hal.reset_cause()
    seen["brownout_alert"] = [a["type"] for a in app._alerts_out]
    machine.state["rtc_memory"] = b""
    hal, app = next_boot(machine.PWRON_RESET)
    seen["power_cut"] = hal.reset_cause()
    seen["mode_before_crashes"] = app.mode
    for _ in range(5):
        hal.record_panic(RuntimeError("again"))
        hal, app = next_boot(machine.SOFT_RESET)
    seen["crash_loop_mode"] = app.mode
    seen["open_ap"] = dict(network.state["ap_settings"])
    seen["dns_answer"] = ask_portal_dns(hal)
    hal.portal.dns.sock.close()
    hal.portal.server.close()
    hal.nvs.set("ap_password", "label-secret-1")
    hal, app = next_boot(machine.SOFT_RESET)  # still unprovisioned: AP mode again
    seen["wpa2_ap"] = dict(network.state["ap_settings"])
    return seen


def ask_portal_dns(hal):
    """The question a phone's captive-portal check asks, sent to the redirect; its answer's address."""
    import socket
    question = b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    sock.sendto(question, socket.getaddrinfo("127.0.0.1", CTX["dns_port"])[0][-1])
    hal.portal.poll()
    answer = sock.recv(512)
    sock.close()
    return ".".join([str(b) for b in answer[-4:]])


def main():
    result = globals()["scenario_" + sys.argv[1]]()
    print("RESULT " + json.dumps(result))


main()
