"""ESP32 hardware layer (TTGO T-Call v1.4: ESP32-WROVER-B, SIM800L, IP5306): runs only on the board.

Everything here is written against MicroPython's `machine`, `network`, `esp32`, `socket`, `ssl` and
`umqtt.simple`. The board-path tests run this module under the MicroPython unix port with small
stand-ins for `machine`, `network` and `esp32` (firmware_src/tests/board/), a real umqtt.simple and a
real Mosquitto, and CI type-checks it against the MicroPython ESP32 stubs.
"""
# ruff: noqa: UP031, SIM105 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import gc
import os
import socket
import struct
import sys
import time

import esp32
import machine
import network
import umqtt.simple
from umqtt.simple import MQTTClient

from firmware_src.device import appdesc
from firmware_src.device.canonical import Sha256Stream
from firmware_src.device.nvs import JsonNvs
from firmware_src.device.protocol import Conn, OtaState, ResetReason

# The T-Call v1.4 fixes GPIO 4/5/23/26/27 (SIM800L), 21/22 (IP5306 I2C), 13 (LED) and, on the WROVER,
# 16/17 (PSRAM). RS485 and the SD card use free pins that are not boot strapping pins, except GPIO15
# (SD MOSI), which only has to be high at reset, as the card's pull-up keeps it. docs/firmware.md has
# the wiring table.
PINS = {
    "rs485_tx": 18, "rs485_rx": 19, "rs485_de": 25,
    "modem_tx": 27, "modem_rx": 26, "modem_pwrkey": 4, "modem_rst": 5, "modem_power": 23,
    "i2c_sda": 21, "i2c_scl": 22, "led": 13,
    "sd_sck": 14, "sd_mosi": 15, "sd_miso": 32, "sd_cs": 33,
}
IP5306_ADDR = 0x75
IP5306_SYS_CTL0 = 0x00
IP5306_BOOST_KEEP_ON = 0x37  # boost on, keep it on at light load: else the battery output switches off
_PARITY = {"N": None, "E": 0, "O": 1}
AP_ESSID_PREFIX = "Acuvim-Setup-"
AP_PASSWORD_KEY = "ap_password"  # noqa: S105 - the NVS key, not a password
BLOCK = 4096
WDT_TIMEOUT_MS = 30000
CA_PATH = "/data/ca.der"
RESET_MARKER = "reset"  # NVS: what this firmware did just before it reset ("sw" or "panic")
PANIC_TEXT = "panic"  # NVS: repr of the uncaught exception behind the reset, read (and logged) by the next boot
_RTC_ALIVE = b"ACV-RTC1"  # RTC slow memory: survives every reset but a real power loss
NTP_HOST = "pool.ntp.org"
NTP_RETRY_S = 60.0
NTP_RESYNC_S = 86400.0
_NTP_DELTA = 2208988800  # 1900-01-01 -> 1970-01-01
MIN_VALID_TS = 1704067200  # 2024-01-01: an RTC before that was never set
# MicroPython builds before 1.22 count from 2000-01-01; the protocol speaks Unix seconds.
EPOCH_OFFSET = 0 if time.gmtime(0)[0] == 1970 else 946684800
TICKS_PERIOD = 1 << 30  # where the ESP32's ticks_ms() wraps (a 64-bit unix port wraps far later)
MODEM_PROBE_MS = 10000
MODEM_BOOT_MS = 3000
DOWNLOAD_SLICE_MS = 50
DOWNLOAD_CHUNK = 4096
DOWNLOAD_TIMEOUT_S = 10  # a stalled server fails the attempt (resumed with Range) well inside the watchdog's 30 s
MQTT_IO_TIMEOUT_S = 10  # a silent MQTT link (no PUBACK, no CONNACK) is given up well inside the watchdog's 30 s


class Clock:
    """Uptime that never wraps, plus wall time from SNTP, the GSM network or an RTC kept over a reset.

    `time.ticks_ms()` wraps at 2**30 ms (12.4 days), so uptime accumulates the forward steps between
    calls (modulo the wrap period) instead of dividing the raw counter; `uptime()` runs at least once a
    second from the main loop, far inside the 12.4 days a step may span.
    """

    def __init__(self, ticks_ms=None, rtc_kept=False, ntp_host=NTP_HOST, ntp_port=123, log=None,
                 ntp_retry_s=NTP_RETRY_S):
        self._ticks = ticks_ms or time.ticks_ms
        self._last = self._ticks()
        self._up_ms = 0
        self.ntp_host = ntp_host
        self.ntp_port = ntp_port
        self.log = log
        self.ntp_retry_s = ntp_retry_s
        # The RTC keeps counting through a soft reset or watchdog reset: its time is still good.
        self.synced = rtc_kept and self._wall() >= MIN_VALID_TS
        self.source = "rtc" if self.synced else None
        self._next_sync = 0.0

    def uptime(self):
        now = self._ticks()
        self._up_ms += time.ticks_diff(now, self._last) % TICKS_PERIOD
        self._last = now
        return self._up_ms / 1000.0

    def _wall(self):
        return time.time() + EPOCH_OFFSET

    def now(self):
        return self._wall() if self.synced else None

    def set_time(self, ts, source="console"):
        """Step the RTC to `ts` (Unix seconds); None asks the NTP server (OSError when it does not answer)."""
        if ts is None:
            ts = sntp_time(self.ntp_host, self.ntp_port)
            source = "ntp"
        tm = time.gmtime(int(ts) - EPOCH_OFFSET)
        machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))
        self.synced = True
        self.source = source
        self._next_sync = self.uptime() + NTP_RESYNC_S

    def maintain(self, uptime, online):
        """Called every tick: ask NTP while unsynced (every minute), then once a day against drift."""
        if not online or uptime < self._next_sync:
            return
        self._next_sync = uptime + self.ntp_retry_s
        try:
            self.set_time(None)
        except OSError as error:
            if self.log is not None:
                self.log("warning", "NTP %s: %r" % (self.ntp_host, error))


def sntp_time(host, port=123, timeout_s=1.0):
    """One SNTP (RFC 4330) client request; the server's transmit time as Unix seconds."""
    query = bytearray(48)
    query[0] = 0x1B  # LI 0, version 3, mode 3 (client)
    address = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0][-1]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(timeout_s)
        sock.sendto(query, address)
        answer = sock.recv(48)
    finally:
        sock.close()
    if len(answer) < 48 or answer[0] & 0x07 != 4:
        raise OSError("not an SNTP server answer")
    seconds, fraction = struct.unpack("!II", answer[40:48])
    if seconds == 0:
        raise OSError("SNTP server is not synchronised")
    return seconds - _NTP_DELTA + fraction / 4294967296.0


class Rs485:
    def __init__(self):
        self.uart = machine.UART(2, 19200, tx=PINS["rs485_tx"], rx=PINS["rs485_rx"])
        self.de = machine.Pin(PINS["rs485_de"], machine.Pin.OUT, value=0)

    def configure(self, baud, parity):
        self.uart.init(baud, bits=int(parity[0]), parity=_PARITY[parity[1]], stop=int(parity[2]))

    def write(self, frame):
        while self.uart.any():
            self.uart.read()
        self.de.value(1)
        self.uart.write(frame)
        self.uart.flush()
        self.de.value(0)

    def read(self, nbytes, timeout_ms):
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        data = b""
        while len(data) < nbytes and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            chunk = self.uart.read(nbytes - len(data))
            if chunk:
                data += chunk
            else:
                time.sleep_ms(2)
        return data


class WifiLink:
    def __init__(self, nvs):
        self.sta = network.WLAN(network.STA_IF)
        self.nvs = nvs

    def present(self):
        return True

    def connect(self):
        if self.sta.isconnected():
            return True
        wifi = self.nvs.get("cfg", {}).get("wifi", {})
        if wifi.get("ssid"):
            self.sta.active(True)
            if self.sta.status() != network.STAT_CONNECTING:
                self.sta.connect(wifi["ssid"], wifi.get("password", ""))
        return self.sta.isconnected()

    def is_up(self):
        return self.sta.isconnected()

    def disconnect(self):
        self.sta.disconnect()

    def rssi(self):
        return self.sta.status("rssi") if self.sta.isconnected() else None

    def ip(self):
        return self.sta.ifconfig()[0] if self.sta.isconnected() else None


def parse_cclk(answer):
    """`+CCLK: "yy/MM/dd,hh:mm:ss+zz"` (zz in quarter hours) -> Unix seconds, or None if not plausible."""
    start = answer.find('"')
    end = answer.find('"', start + 1)
    if start < 0 or end < 0:
        return None
    text = answer[start + 1:end]
    try:
        year, month, day = [int(part) for part in text[0:8].split("/")]
        hour, minute, second = [int(part) for part in text[9:17].split(":")]
        quarters = int(text[17:])
    except (ValueError, IndexError):
        return None
    local = time.mktime((2000 + year, month, day, hour, minute, second, 0, 0)) + EPOCH_OFFSET
    ts = local - quarters * 900
    return ts if ts >= MIN_VALID_TS else None


class GsmLink:
    """SIM800L over PPP.

    Power-up follows the SIM800 hardware design: supply on (GPIO23), RESET released (GPIO5), PWRKEY
    held low (GPIO4), then `AT` every half second until the modem's autobauding answers (it needs about
    3 s after power-on), for up to 10 s. Identity and signal are read with AT commands only while PPP
    is down (they would corrupt the PPP stream), so `info()` serves the values cached before the dial.
    """

    FINAL = (b"OK", b"ERROR", b"CONNECT", b"NO CARRIER", b"NO DIALTONE", b"BUSY")

    def __init__(self, nvs, clock=None, probe_ms=MODEM_PROBE_MS):
        self.nvs = nvs
        self.clock = clock
        self.ppp = None
        self.failures = 0
        self.imei = None
        self.iccid = None
        self.csq = 0
        self.operator = ""
        machine.Pin(PINS["modem_power"], machine.Pin.OUT, value=1)
        machine.Pin(PINS["modem_rst"], machine.Pin.OUT, value=1)
        machine.Pin(PINS["modem_pwrkey"], machine.Pin.OUT, value=0)
        self.uart = machine.UART(1, 115200, tx=PINS["modem_tx"], rx=PINS["modem_rx"])
        self._present = self._probe(probe_ms)
        if self._present:
            self._at("ATE0")
            self._at("AT+CLTS=1")
            self.imei = self._value("AT+GSN")
            self.iccid = self._value("AT+CCID")
            self._refresh()

    def _probe(self, probe_ms):
        deadline = time.ticks_add(time.ticks_ms(), probe_ms)
        while time.ticks_diff(deadline, time.ticks_ms()) > 0:
            final, _ = self._command("AT", 500)
            if final == b"OK":
                return True
        return False

    def _command(self, command, timeout_ms=1000):
        """(final result code, text before it); (None, text) on timeout. Never while PPP owns the UART."""
        if self.ppp is not None:
            return None, ""
        while self.uart.any():
            self.uart.read()
        self.uart.write(command + "\r\n")
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        answer = b""
        while time.ticks_diff(deadline, time.ticks_ms()) > 0:
            answer += self.uart.read() or b""
            lines = answer.split(b"\r\n")
            for index in range(len(lines) - 1):  # complete lines only
                for final in self.FINAL:
                    if lines[index] == final or lines[index].startswith(final + b" "):
                        return final, b"\r\n".join(lines[:index]).decode().strip()
            time.sleep_ms(10)
        return None, answer.decode().strip()

    def _at(self, command, timeout_ms=1000):
        final, text = self._command(command, timeout_ms)
        return text if final == b"OK" else None

    def _value(self, command):
        text = self._at(command)
        if not text:
            return None
        return text.splitlines()[-1].strip() or None

    def _refresh(self):
        csq = self._at("AT+CSQ")
        if csq and ":" in csq:
            try:
                self.csq = int(csq.split(":")[1].split(",")[0])
            except ValueError:
                pass
        operator = self._at("AT+COPS?")
        if operator and '"' in operator:
            self.operator = operator.split('"')[1]
        if self.clock is not None and self.clock.now() is None:
            network_time = parse_cclk(self._at("AT+CCLK?") or "")
            if network_time is not None:
                self.clock.set_time(network_time, "gsm")

    def present(self):
        return self._present

    def connect(self):
        if self.is_up():
            return True
        if self.ppp is not None:
            self.disconnect()
        gsm = self.nvs.get("cfg", {}).get("gsm", {})
        if gsm.get("pin"):
            state = self._at("AT+CPIN?") or ""
            if "SIM PIN" in state:
                self._at("AT+CPIN=%s" % gsm["pin"], 5000)
        self._refresh()
        self._at('AT+CGDCONT=1,"IP","%s"' % gsm.get("apn", "internet"))
        final, _ = self._command("ATD*99#", 10000)
        if final != b"CONNECT":
            self.failures += 1
            return False
        ppp = network.PPP(self.uart)
        ppp.active(True)
        ppp.connect(security=ppp.SEC_PAP if gsm.get("user") else ppp.SEC_NONE, user=gsm.get("user") or None,
                    key=gsm.get("password") or None)
        self.ppp = ppp
        up = self.is_up()
        self.failures = 0 if up else self.failures + 1
        return up

    def is_up(self):
        return self.ppp is not None and self.ppp.isconnected()

    def disconnect(self):
        if self.ppp is not None:
            self.ppp.active(False)
            self.ppp = None
            # Leave the modem's data mode: pause, "+++", pause, then hang up.
            time.sleep_ms(1100)
            self.uart.write(b"+++")
            time.sleep_ms(1100)
            self._at("ATH")

    def rssi(self):
        return -113 + 2 * self.csq if 0 < self.csq < 99 else None

    def ip(self):
        ppp = self.ppp
        return ppp.ifconfig()[0] if ppp is not None and ppp.isconnected() else None

    def info(self):
        if self.ppp is None:
            self._refresh()
        return {"present": True, "registered": self.is_up(), "csq": self.csq, "operator": self.operator,
                "bytes_month": 0}


def _tls_context(ca_path):
    """An SSL context that checks the broker against the CA in `ca_path` (DER or PEM)."""
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.verify_mode = ssl.CERT_REQUIRED  # type: ignore[attr-defined]  # MicroPython's SSLContext has it
    with open(ca_path, "rb") as handle:
        context.load_verify_locations(cadata=handle.read())
    return context


class _TimedSockets:
    """What umqtt.simple uses as its `socket` module: sockets that give up after `timeout_s`.

    A link can go silent without a reset (a GSM cell lost, a NAT entry dropped): TCP then keeps the
    socket open for minutes, and umqtt waits for a CONNACK or PUBACK without end, so the watchdog resets
    the board. umqtt has no hook for a timeout (1.3.x's connect takes none, and every generation turns
    its socket back to fully blocking before each read), so the adapter hands it this module; `last` is
    the TCP socket of the newest connection, under its TLS layer if any.
    """

    def __init__(self, timeout_s):
        self.timeout_s = timeout_s
        self.last = None

    def socket(self, *args):
        sock = socket.socket(*args)
        sock.settimeout(self.timeout_s)
        self.last = sock
        return sock

    def getaddrinfo(self, *args):
        return socket.getaddrinfo(*args)


class _TimedStream:
    """An MQTT connection on which umqtt's "blocking" means "blocking for at most the timeout".

    umqtt calls `setblocking(True)` after each poll; that clears a socket's timeout, so it is put back
    on the TCP socket (MicroPython's TLS socket has no settimeout of its own and reads through it). A
    read or write that times out raises OSError, which the adapter takes as a lost connection.
    """

    def __init__(self, stream, tcp, timeout_s):
        self._stream = stream
        self._tcp = tcp
        self._timeout_s = timeout_s

    def setblocking(self, flag):
        self._stream.setblocking(flag)
        if flag:
            self._tcp.settimeout(self._timeout_s)

    def read(self, size):
        return self._stream.read(size)

    def write(self, data, length=None):
        return self._stream.write(data) if length is None else self._stream.write(data, length)

    def close(self):
        self._stream.close()


class MqttClient:
    """umqtt.simple adapted to the session's callback interface.

    umqtt is blocking: `connect` waits for the CONNACK and a QoS 1 `publish` for its PUBACK, and a
    command can arrive while it waits. Every callback is therefore delivered from `poll()`, never from
    inside `connect`/`publish`, so the app has recorded a message id before its acknowledgement arrives
    and a command handled in between cannot publish into the middle of another publish. `poll()` also
    sends PINGREQ when nothing was sent for half the keepalive, as umqtt does not. Each of those waits
    ends after `io_timeout_s` on a link that stopped answering (_TimedSockets), and the watchdog is
    fed before each, so a silent link costs a reconnect, not a reset.

    Two generations of umqtt.simple exist: micropython-lib's (1.4 and later, what a board build
    freezes) takes an SSL context as `ssl`; the 1.3.x release on the package registry takes a flag
    plus `ssl_params` for `ussl.wrap_socket`. Both are supported and tested on the board path: the
    registry's 1.3.4 in every scenario, micropython-lib's 1.8.0 in the TLS, reconnect and
    command-during-publish ones.
    """

    def __init__(self, client_id, ca_path=CA_PATH, log=None, io_timeout_s=MQTT_IO_TIMEOUT_S, feed=None):
        self.client_id = client_id
        self.ca_path = ca_path
        self.log = log
        self.feed = feed or (lambda: None)
        self._sockets = _TimedSockets(io_timeout_s)
        # umqtt.simple's own `socket` global (the stubs do not declare a module's imports)
        umqtt.simple.socket = self._sockets  # type: ignore[attr-defined]
        self.client = None
        self.connected = False
        self.keepalive_ms = 0
        self._next_mid = 1
        self._events = []
        self._last_sent = time.ticks_ms()

    def configure(self, on_connect, on_disconnect, on_message, on_publish):
        self._callbacks = (on_connect, on_disconnect, on_message, on_publish)

    def _warn(self, message):
        if self.log is not None:
            self.log("warning", message)

    def _make_client(self, host, port, user, password, keepalive, tls):
        """The umqtt client; with TLS its `ssl` set the way this generation of umqtt.simple reads it."""
        password = password or ""  # umqtt sends a password field whenever there is a user
        client = MQTTClient(self.client_id, host, port, user, password, keepalive)
        if not tls:
            return client
        if client.ssl is False:  # 1.3.x defaults to False: a flag and ussl.wrap_socket() arguments
            import ssl
            sys.modules["ussl"] = ssl  # MicroPython 1.21 dropped the u-prefixed name it imports
            with open(self.ca_path, "rb") as handle:
                cadata = handle.read()
            client.ssl = True
            client.ssl_params = {"server_hostname": host, "cert_reqs": ssl.CERT_REQUIRED, "cadata": cadata}
        else:  # micropython-lib's 1.4 and later default to None and wrap with the context and the host name
            client.ssl = _tls_context(self.ca_path)
        return client

    def connect(self, host, port, user, password, keepalive, will_topic, will_payload, tls):
        try:
            client = self._make_client(host, port, user, password, keepalive, tls)
        except (OSError, ValueError) as error:
            self._warn("MQTT TLS setup failed (CA %s): %r" % (self.ca_path, error))
            return False
        client.set_last_will(will_topic, will_payload, retain=True, qos=1)
        client.set_callback(self._queue_message)
        self.feed()
        try:
            if isinstance(client.ssl, bool):  # 1.3.x: connect takes no timeout; its socket has one (_TimedSockets)
                client.connect(clean_session=True)
            else:  # later generations set the socket's timeout from this argument, None meaning never
                client.connect(clean_session=True, timeout=self._sockets.timeout_s)
        except Exception as error:  # OSError, MQTTException (refused), IndexError from a cut handshake
            self._warn("MQTT connect to %s:%s failed: %r" % (host, port, error))
            try:
                if client.sock is not None:
                    client.sock.close()
            except OSError:
                pass
            return False
        client.sock = _TimedStream(client.sock, self._sockets.last, self._sockets.timeout_s)
        self.client = client
        self.connected = True
        self.keepalive_ms = keepalive * 1000
        self._last_sent = time.ticks_ms()
        self._events.append(("connect",))
        return True

    def _queue_message(self, topic, payload):
        self._events.append(("message", topic.decode(), payload))

    def _lost(self):
        """The socket failed: acknowledgements already received still count, then the session hears of it."""
        self._deliver(("ack",))
        self._events = []
        self.connected = False
        client, self.client = self.client, None
        if client is not None:
            try:
                client.sock.close()
            except OSError:
                pass
        self._callbacks[1]()

    def publish(self, topic, payload, qos, retain):
        if not self.connected:
            return None
        client = self.client
        if client is None:
            return None
        self.feed()
        try:
            client.publish(topic, payload, retain, qos)  # QoS 1: returns after the PUBACK
        except (OSError, IndexError, AssertionError) as error:
            self._warn("MQTT publish failed: %r" % (error,))
            self._lost()
            return None
        self._last_sent = time.ticks_ms()
        mid = self._next_mid
        self._next_mid = mid % 65535 + 1
        if qos:
            self._events.append(("ack", mid))
        return mid

    def subscribe(self, topic, qos):
        client = self.client
        if client is None:
            return
        self.feed()
        try:
            client.subscribe(topic, qos)
        except (OSError, IndexError, AssertionError):
            self._lost()

    def inflight(self):
        return len([event for event in self._events if event[0] == "ack"])

    def poll(self):
        client = self.client
        if self.connected and client is not None:
            try:
                client.check_msg()
                if self.keepalive_ms and time.ticks_diff(time.ticks_ms(), self._last_sent) >= self.keepalive_ms // 2:
                    client.ping()
                    self._last_sent = time.ticks_ms()
            except (OSError, IndexError, AssertionError) as error:
                self._warn("MQTT connection failed: %r" % (error,))
                self._lost()
                return
        self._deliver(("connect", "ack", "message"))

    def _deliver(self, kinds):
        """Hand queued events of these kinds to the session, oldest first."""
        pending, self._events = self._events, []
        for event in pending:
            if event[0] not in kinds:
                self._events.append(event)
            elif event[0] == "connect":
                self._callbacks[0](True)
            elif event[0] == "ack":
                self._callbacks[3](event[1])
            elif self.connected:
                self._callbacks[2](event[1], event[2])

    def drop(self):
        if self.client is not None:
            self._lost()

    def disconnect(self):
        if self.client is not None:
            try:
                self.client.disconnect()
            except OSError:
                pass
            self.connected = False
            self.client = None
            self._events = []


class Partitions:
    def __init__(self, feed):
        """`feed` (the watchdog) is called for every block read back after an image is written."""
        # The stubs type `id` as a label string; RUNNING is one of the documented integer ids.
        self.running = esp32.Partition(esp32.Partition.RUNNING)  # type: ignore[arg-type]
        self.feed = feed

    def _version(self, partition):
        head = bytearray(BLOCK)
        partition.readblocks(0, head)
        try:
            return appdesc.parse_header(head[:appdesc.HEADER_LEN])[0]
        except appdesc.ImageError:
            return None

    def running_version(self):
        return self._version(self.running)

    def running_state(self):
        """MicroPython cannot read the slot state; asked only while an update is on trial, when the
        bootloader either runs the new image (still pending) or has rolled back, which OtaManager
        sees from the version."""
        return OtaState.PENDING_VERIFY

    def other_version(self):
        return self._version(self.running.get_next_update())

    def open_next(self):
        return _SlotWriter(self.running.get_next_update(), self.feed)

    def set_boot_next(self):
        self.running.get_next_update().set_boot()

    def mark_valid(self):
        esp32.Partition.mark_app_valid_cancel_rollback()

    def rollback(self):
        self.running.get_next_update().set_boot()

    def boot_other(self):
        self.running.get_next_update().set_boot()

    def is_broken(self):
        return False


class _SlotWriter:
    """Writes an image into an OTA slot block by block, then reads it back (feeding the watchdog per
    block) and compares the SHA-256: a worn flash sector must not become the next boot."""

    def __init__(self, partition, feed):
        self.partition = partition
        self.feed = feed
        self.block = 0
        self.buffer = b""
        self.written = Sha256Stream()
        self.size = 0

    def write(self, chunk):
        self.buffer += chunk
        self.size += len(chunk)
        self.written.update(chunk)
        while len(self.buffer) >= BLOCK:
            self.partition.writeblocks(self.block, self.buffer[:BLOCK])
            self.block += 1
            self.buffer = self.buffer[BLOCK:]

    def finish(self, version):
        if self.buffer:
            self.partition.writeblocks(self.block, self.buffer + b"\xff" * (BLOCK - len(self.buffer)))
        readback = Sha256Stream()
        block = bytearray(BLOCK)
        left = self.size
        number = 0
        while left > 0:
            self.partition.readblocks(number, block)
            readback.update(bytes(block[:min(BLOCK, left)]))
            left -= BLOCK
            number += 1
            self.feed()
        if readback.hexdigest() != self.written.hexdigest():
            raise OSError("the slot reads back different from what was written")


def _https_or_plain(sock, scheme, host):
    if scheme != "https:":
        return sock
    import ssl
    return ssl.wrap_socket(sock, server_hostname=host)  # noqa: S504 - MicroPython's ssl API


class Download:
    """HTTP GET into a file; each `poll()` reads for up to 50 ms, so the main loop keeps running, and a
    server that sends nothing for `timeout_s` ends the attempt instead of blocking until the watchdog."""

    def __init__(self, url, headers, path, offset, timeout_s=DOWNLOAD_TIMEOUT_S):
        self.received = offset
        self.total = None
        self.error = None
        self.state = "running"
        scheme, _, host_port, target = url.split("/", 3)
        host, _, port = host_port.partition(":")
        port = int(port or (443 if scheme == "https:" else 80))
        sock = socket.socket()
        sock.settimeout(timeout_s)
        try:
            sock.connect(socket.getaddrinfo(host, port)[0][-1])
            stream = _https_or_plain(sock, scheme, host)
            lines = ["GET /%s HTTP/1.0" % target, "Host: %s" % host]
            for key, value in headers.items():
                lines.append("%s: %s" % (key, value))
            stream.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            status = stream.readline().split()
            code = int(status[1])
            length = None
            while True:
                line = stream.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if code not in (200, 206):
                raise OSError("HTTP %d" % code)
            if code == 200:
                self.received = 0
            self.total = self.received + length if length is not None else None
            self.file = open(path, "ab" if code == 206 else "wb")  # noqa: SIM115 - closed in poll()/cancel()
            self.sock = stream
        except (OSError, ValueError, IndexError) as error:
            sock.close()
            self.state = "failed"
            self.error = str(error)

    def poll(self):
        if self.state != "running":
            return self.state
        deadline = time.ticks_add(time.ticks_ms(), DOWNLOAD_SLICE_MS)
        chunk = b""
        try:
            while time.ticks_diff(deadline, time.ticks_ms()) > 0:
                chunk = self.sock.read(DOWNLOAD_CHUNK)
                if not chunk:
                    break
                self.file.write(chunk)
                self.received += len(chunk)
        except OSError as error:
            chunk = b""
            self.error = str(error)
        if chunk:
            return self.state
        self.file.close()
        self.sock.close()
        complete = self.total is None or self.received == self.total
        if not complete and self.error is None:
            self.error = "the transfer ended at byte %d of %s" % (self.received, self.total)
        self.state = "done" if complete and self.error is None else "failed"
        return self.state

    def cancel(self):
        if self.state == "running":
            self.file.close()
            self.sock.close()
            self.state = "failed"
            self.error = "cancelled: link lost"


class Downloader:
    def __init__(self, timeout_s):
        self.timeout_s = timeout_s

    def start(self, url, headers, path, offset):
        return Download(url, headers, path, offset, self.timeout_s)


class Esp32Hal:
    """Everything the app touches on the board. Keyword arguments exist for the board-path tests."""

    def __init__(self, ticks_ms=None, ntp_host=NTP_HOST, ntp_port=123, ca_path=CA_PATH, data_root="/data",
                 modem_probe_ms=MODEM_PROBE_MS, wdt_timeout_ms=WDT_TIMEOUT_MS, ntp_retry_s=NTP_RETRY_S,
                 portal_address=("0.0.0.0", 80), dns_port=53, download_timeout_s=DOWNLOAD_TIMEOUT_S,
                 mqtt_io_timeout_s=MQTT_IO_TIMEOUT_S):
        self.data_root = data_root
        self.mqtt_io_timeout_s = mqtt_io_timeout_s
        try:
            os.mkdir(self.data_root)
        except OSError:
            pass
        self.nvs = JsonNvs(self.data_root + "/nvs.json")
        self._reset = self._reset_reason()
        self.clock = Clock(ticks_ms, self._reset not in (ResetReason.POWERON, ResetReason.BROWNOUT),
                           ntp_host, ntp_port, self.log_sink, ntp_retry_s)
        self.ca_path = ca_path
        self.portal_address = portal_address
        self.dns_port = dns_port
        self._keep_battery_boost_on()
        self.sd_root = self._mount_sd()
        self.rs485 = Rs485()
        self.gsm = GsmLink(self.nvs, self.clock, modem_probe_ms)
        self.links = {Conn.WIFI: WifiLink(self.nvs), Conn.GSM: self.gsm}
        self.partitions = Partitions(self.wdt_feed)
        self.downloader = Downloader(download_timeout_s)
        self._heap_min = gc.mem_free()
        self.portal = None
        # Armed last: everything above may take seconds (the modem probe up to 10 s).
        self.wdt = machine.WDT(timeout=wdt_timeout_ms)

    def _reset_reason(self):
        """What reset the chip, told apart with the markers this firmware leaves before it resets.

        MicroPython reports `machine.reset()` and an ESP-IDF panic alike as a soft reset and a brownout
        as a power-on: a deliberate reboot writes "sw" into NVS first and main.py writes "panic" for an
        uncaught exception; a soft reset without a marker was a panic. A power-on reset that finds the
        RTC memory marker of the previous boot was a brownout: the RTC domain kept enough power.
        """
        cause = machine.reset_cause()
        marker = self.nvs.get(RESET_MARKER)
        self._panic = self.nvs.get(PANIC_TEXT) if marker == ResetReason.PANIC else None
        self.nvs.delete(RESET_MARKER)
        self.nvs.delete(PANIC_TEXT)
        rtc = machine.RTC()
        rtc_alive = rtc.memory() == _RTC_ALIVE
        rtc.memory(_RTC_ALIVE)
        if cause == machine.WDT_RESET:
            return ResetReason.WDT
        if cause == machine.DEEPSLEEP_RESET:
            return ResetReason.DEEPSLEEP
        if cause == machine.SOFT_RESET:
            return ResetReason.SW if marker == ResetReason.SW else ResetReason.PANIC
        if cause == machine.HARD_RESET:
            return marker or ResetReason.POWERON
        if cause == machine.PWRON_RESET:
            return ResetReason.BROWNOUT if rtc_alive else ResetReason.POWERON
        return ResetReason.UNKNOWN

    def record_panic(self, error):
        """main.py, just before it resets after an uncaught exception."""
        self.nvs.set(PANIC_TEXT, repr(error))
        self.nvs.set(RESET_MARKER, ResetReason.PANIC)

    def last_panic(self):
        """The uncaught exception that main.py recorded before this boot's reset, if it was one."""
        return self._panic

    def _keep_battery_boost_on(self):
        try:
            i2c = machine.I2C(0, scl=machine.Pin(PINS["i2c_scl"]), sda=machine.Pin(PINS["i2c_sda"]))
            i2c.writeto_mem(IP5306_ADDR, IP5306_SYS_CTL0, bytes([IP5306_BOOST_KEEP_ON]))
        except OSError:
            pass  # a board without the IP5306 (USB-powered variant)

    def _mount_sd(self):
        try:
            sd = machine.SDCard(slot=2, sck=PINS["sd_sck"], mosi=PINS["sd_mosi"], miso=PINS["sd_miso"],
                                cs=PINS["sd_cs"])
            os.mount(sd, "/sd")
            return "/sd"
        except OSError:
            return None

    def device_id(self):
        mac = network.WLAN(network.STA_IF).config("mac")
        return "ACV-" + "".join(["%02X" % b for b in mac])

    def mac(self):
        return ":".join(["%02X" % b for b in network.WLAN(network.STA_IF).config("mac")])

    def imei(self):
        return self.gsm.imei

    def iccid(self):
        return self.gsm.iccid

    def gsm_failures(self):
        return self.gsm.failures

    def reset_cause(self):
        return self._reset

    def reboot(self, reason):
        self.nvs.set(RESET_MARKER, reason)
        machine.reset()

    def wdt_feed(self):
        self.wdt.feed()

    def heap(self):
        gc.collect()
        free = gc.mem_free()
        self._heap_min = min(self._heap_min, free)
        return free, self._heap_min

    def random(self):
        return (os.urandom(1)[0]) / 255.0

    def firmware_broken(self):
        return False

    def sd_free_kb(self):
        if self.sd_root is None:
            return 0
        stats = os.statvfs(self.sd_root)
        return stats[1] * stats[4] // 1024

    def log_sink(self, level, message):
        print(level, message)

    def mqtt_client(self, client_id):
        return MqttClient(client_id, self.ca_path, self.log_sink, self.mqtt_io_timeout_s, self.wdt_feed)

    def wifi_scan(self):
        sta = network.WLAN(network.STA_IF)
        sta.active(True)
        auth = {0: "open", 1: "wep", 2: "wpa", 3: "wpa2", 4: "wpa/wpa2"}
        return [{"ssid": n[0].decode(), "rssi": n[3], "ch": n[2], "auth": auth.get(n[4], "other")}
                for n in sta.scan()]

    def gsm_info(self):
        if not self.gsm.present():
            return {"present": False}
        return self.gsm.info()

    def start_portal(self, app):
        """The setup AP: WPA2 with the password put into NVS (`ap_password`) at manufacturing and printed on
        the label; open, with a warning, on a board that has none. DNS sends every name to the form."""
        from firmware_src.hal.esp32_portal import CaptivePortal, DnsRedirect
        ap = network.WLAN(network.AP_IF)
        ap.active(True)
        essid = AP_ESSID_PREFIX + app.device_id[-6:]
        password = self.nvs.get(AP_PASSWORD_KEY, "")
        if len(password) >= 8:
            ap.config(essid=essid, password=password, authmode=network.AUTH_WPA2_PSK)
        else:
            app.log("warning", "no %s in NVS: the setup AP %s is open" % (AP_PASSWORD_KEY, essid))
            ap.config(essid=essid, authmode=network.AUTH_OPEN)
        host, port = self.portal_address
        dns = DnsRedirect(ap.ifconfig()[0], host, self.dns_port)
        self.portal = CaptivePortal(app, host, port, dns)
