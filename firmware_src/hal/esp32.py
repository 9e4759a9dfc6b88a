"""ESP32 hardware layer (MicroPython on the TTGO T-Call v1.4: ESP32-WROVER, SIM800L, RS485 on UART2, SD on SPI).

Cannot run on the host: it imports `machine`, `network`, `esp32` and `umqtt.simple` (install with
`mip.install("umqtt.simple")`). It mirrors `hal/host.py` method for method; keep both in step.
"""
# ruff: noqa: UP031, SIM105 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import gc
import os
import socket
import time

import esp32
import machine
import network
from umqtt.simple import MQTTClient

from firmware_src.device import appdesc
from firmware_src.device.nvs import JsonNvs
from firmware_src.device.protocol import Conn, OtaState, ResetReason

PINS = {"rs485_tx": 17, "rs485_rx": 16, "rs485_de": 4, "modem_tx": 27, "modem_rx": 26, "modem_pwr": 23,
        "sd_sck": 14, "sd_mosi": 15, "sd_miso": 2, "sd_cs": 13}
_RESET_CAUSES = {
    machine.PWRON_RESET: ResetReason.POWERON, machine.HARD_RESET: ResetReason.POWERON,
    machine.WDT_RESET: ResetReason.WDT, machine.DEEPSLEEP_RESET: ResetReason.DEEPSLEEP,
    machine.SOFT_RESET: ResetReason.SW,
}
_PARITY = {"N": None, "E": 0, "O": 1}
AP_ESSID_PREFIX = "Acuvim-Setup-"
BLOCK = 4096


class Clock:
    def __init__(self):
        self._synced = False

    def uptime(self):
        return time.ticks_ms() / 1000.0

    def now(self):
        return time.time() if self._synced else None

    def set_time(self, ts):
        if ts is None:
            import ntptime
            ntptime.settime()
        else:
            seconds = int(ts)
            tm = time.gmtime(seconds)
            machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))
        self._synced = True


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


class GsmLink:
    """SIM800L over PPP; detection is an `AT` answered within a second after power-up."""

    def __init__(self, nvs):
        self.nvs = nvs
        machine.Pin(PINS["modem_pwr"], machine.Pin.OUT, value=1)
        self.uart = machine.UART(1, 115200, tx=PINS["modem_tx"], rx=PINS["modem_rx"])
        self.ppp = None
        self._present = self._at("AT") is not None

    def _at(self, command, timeout_ms=1000):
        self.uart.read()
        self.uart.write(command + "\r\n")
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        answer = b""
        while time.ticks_diff(deadline, time.ticks_ms()) > 0:
            answer += self.uart.read() or b""
            if b"OK" in answer or b"ERROR" in answer:
                return answer.decode() if b"OK" in answer else None
            time.sleep_ms(20)
        return None

    def present(self):
        return self._present

    def connect(self):
        if self.is_up():
            return True
        gsm = self.nvs.get("cfg", {}).get("gsm", {})
        if self.ppp is None:
            self._at('AT+CGDCONT=1,"IP","%s"' % gsm.get("apn", "internet"))
            if self._at("ATD*99#", 5000) is None:
                return False
            self.ppp = network.PPP(self.uart)
            self.ppp.active(True)
            self.ppp.connect(authmode=self.ppp.AUTH_PAP if gsm.get("user") else self.ppp.AUTH_NONE,
                             username=gsm.get("user", ""), password=gsm.get("password", ""))
        return self.is_up()

    def is_up(self):
        return self.ppp is not None and self.ppp.isconnected()

    def disconnect(self):
        if self.ppp is not None:
            self.ppp.active(False)
            self.ppp = None

    def rssi(self):
        return None

    def ip(self):
        return self.ppp.ifconfig()[0] if self.is_up() else None


class MqttClient:
    """umqtt.simple adapted to the session's callback interface (its connect is blocking)."""

    def __init__(self, client_id):
        self.client_id = client_id
        self.client = None
        self.connected = False
        self._next_mid = 1

    def configure(self, on_connect, on_disconnect, on_message, on_publish):
        self._callbacks = (on_connect, on_disconnect, on_message, on_publish)

    def connect(self, host, port, user, password, keepalive, will_topic, will_payload, tls):
        self.client = MQTTClient(self.client_id, host, port, user, password, keepalive, ssl=tls)
        self.client.set_last_will(will_topic, will_payload, retain=True, qos=1)
        self.client.set_callback(lambda topic, msg: self._callbacks[2](topic.decode(), msg))
        try:
            self.client.connect(clean_session=True)
        except OSError:
            self.client = None
            return False
        self.connected = True
        self._callbacks[0](True)
        return True

    def _lost(self):
        self.connected = False
        self.client = None
        self._callbacks[1]()

    def publish(self, topic, payload, qos, retain):
        if not self.connected:
            return None
        try:
            self.client.publish(topic, payload, retain, qos)  # blocks until PUBACK for QoS 1
        except OSError:
            self._lost()
            return None
        mid = self._next_mid
        self._next_mid = mid % 65535 + 1
        self._callbacks[3](mid)
        return mid

    def subscribe(self, topic, qos):
        self.client.subscribe(topic, qos)

    def inflight(self):
        return 0

    def poll(self):
        if self.connected:
            try:
                self.client.check_msg()
            except OSError:
                self._lost()

    def drop(self):
        if self.client is not None:
            self.client.sock.close()
            self._lost()

    def disconnect(self):
        if self.client is not None:
            self.client.disconnect()
            self.connected = False
            self.client = None


class Partitions:
    def __init__(self):
        self.running = esp32.Partition(esp32.Partition.RUNNING)

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
        return _SlotWriter(self.running.get_next_update())

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
    def __init__(self, partition):
        self.partition = partition
        self.block = 0
        self.buffer = b""

    def write(self, chunk):
        self.buffer += chunk
        while len(self.buffer) >= BLOCK:
            self.partition.writeblocks(self.block, self.buffer[:BLOCK])
            self.block += 1
            self.buffer = self.buffer[BLOCK:]

    def finish(self, version):
        if self.buffer:
            self.partition.writeblocks(self.block, self.buffer + b"\xff" * (BLOCK - len(self.buffer)))


class Download:
    """HTTP GET into a file, a few KiB per `poll()`, so the main loop keeps running during the download."""

    def __init__(self, url, headers, path, offset):
        self.received = offset
        self.total = None
        self.error = None
        self.state = "running"
        scheme, _, host_port, target = url.split("/", 3)
        host, _, port = host_port.partition(":")
        port = int(port or (443 if scheme == "https:" else 80))
        sock = socket.socket()
        try:
            sock.connect(socket.getaddrinfo(host, port)[0][-1])
            if scheme == "https:":
                import ssl
                sock = ssl.wrap_socket(sock, server_hostname=host)  # noqa: S504 - MicroPython's ssl API
            lines = ["GET /%s HTTP/1.0" % target, "Host: %s" % host]
            for key, value in headers.items():
                lines.append("%s: %s" % (key, value))
            sock.write(("\r\n".join(lines) + "\r\n\r\n").encode())
            status = sock.readline().split()
            code = int(status[1])
            length = None
            while True:
                line = sock.readline()
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
            self.sock = sock
        except OSError as error:
            sock.close()
            self.state = "failed"
            self.error = str(error)

    def poll(self):
        if self.state != "running":
            return self.state
        try:
            chunk = self.sock.read(2048)
        except OSError as error:
            chunk = None
            self.error = str(error)
        if chunk:
            self.file.write(chunk)
            self.received += len(chunk)
            return self.state
        self.file.close()
        self.sock.close()
        complete = self.total is None or self.received == self.total
        self.state = "done" if complete and self.error is None else "failed"
        return self.state

    def cancel(self):
        if self.state == "running":
            self.file.close()
            self.sock.close()
            self.state = "failed"
            self.error = "cancelled: link lost"


class Downloader:
    def start(self, url, headers, path, offset):
        return Download(url, headers, path, offset)


class Esp32Hal:
    def __init__(self):
        self.clock = Clock()
        self.data_root = "/data"
        try:
            os.mkdir(self.data_root)
        except OSError:
            pass
        self.nvs = JsonNvs(self.data_root + "/nvs.json")
        self.sd_root = self._mount_sd()
        self.rs485 = Rs485()
        self.links = {Conn.WIFI: WifiLink(self.nvs), Conn.GSM: GsmLink(self.nvs)}
        self.partitions = Partitions()
        self.downloader = Downloader()
        self.wdt = machine.WDT(timeout=30000)
        self._reset = _RESET_CAUSES.get(machine.reset_cause(), ResetReason.UNKNOWN)
        if self._reset == ResetReason.UNKNOWN and self.nvs.get("panic"):
            self._reset = ResetReason.PANIC
        self._heap_min = gc.mem_free()
        self.portal = None

    def _mount_sd(self):
        try:
            sd = machine.SDCard(slot=3, sck=PINS["sd_sck"], mosi=PINS["sd_mosi"], miso=PINS["sd_miso"],
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
        answer = self.links[Conn.GSM]._at("AT+GSN")
        return answer.split()[1] if answer else None

    def iccid(self):
        answer = self.links[Conn.GSM]._at("AT+CCID")
        return answer.split()[1] if answer else None

    def reset_cause(self):
        return self._reset

    def reboot(self, reason):
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
        return stats[0] * stats[4] // 1024

    def log_sink(self, level, message):
        print(level, message)

    def mqtt_client(self, client_id):
        return MqttClient(client_id)

    def wifi_scan(self):
        sta = network.WLAN(network.STA_IF)
        sta.active(True)
        auth = {0: "open", 1: "wep", 2: "wpa", 3: "wpa2", 4: "wpa/wpa2"}
        return [{"ssid": n[0].decode(), "rssi": n[3], "ch": n[2], "auth": auth.get(n[4], "other")}
                for n in sta.scan()]

    def gsm_info(self):
        gsm = self.links[Conn.GSM]
        if not gsm.present():
            return {"present": False}
        csq = gsm._at("AT+CSQ")
        operator = gsm._at("AT+COPS?")
        return {"present": True, "registered": gsm.is_up(), "csq": int(csq.split(":")[1].split(",")[0]) if csq else 0,
                "operator": operator.split('"')[1] if operator and '"' in operator else "", "bytes_month": 0}

    def start_portal(self, app):
        from firmware_src.hal.esp32_portal import CaptivePortal
        ap = network.WLAN(network.AP_IF)
        ap.active(True)
        ap.config(essid=AP_ESSID_PREFIX + app.device_id[-6:])
        self.portal = CaptivePortal(app)
