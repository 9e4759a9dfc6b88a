"""Stand-in for MicroPython's `network` on the ESP32: a WiFi station whose link a scenario switches,
an access point, and PPP over the modem UART once the scripted modem answered CONNECT."""

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
AUTH_OPEN = 0
AUTH_WPA2_PSK = 3

state = {"wifi_up": True, "mac": b"\x24\x6f\x28\x0a\x0b\x0c", "ppp_up": True, "connects": [], "ppp": [],
         "ap_settings": {}}


class WLAN:
    def __init__(self, interface=STA_IF):
        self.interface = interface
        self._active = False
        self.settings = {}

    def active(self, on=None):
        if on is not None:
            self._active = on
        return self._active

    def connect(self, ssid, password=""):
        state["connects"].append(ssid)

    def disconnect(self):
        pass

    def isconnected(self):
        return self.interface == STA_IF and state["wifi_up"]

    def status(self, name=None):
        if name == "rssi":
            return -61
        return STAT_GOT_IP if state["wifi_up"] else STAT_IDLE

    def ifconfig(self):
        if self.interface == AP_IF:
            return ("192.168.4.1", "255.255.255.0", "192.168.4.1", "192.168.4.1")
        return ("192.0.2.10", "255.255.255.0", "192.0.2.1", "192.0.2.1")

    def config(self, name=None, **settings):
        if name == "mac":
            return state["mac"]
        self.settings.update(settings)
        if self.interface == AP_IF:
            state["ap_settings"] = dict(self.settings)
        return None

    def scan(self):
        return [(b"Plant-A", b"\x00" * 6, 6, -61, 3, False)]


class PPP:
    SEC_NONE = 0
    SEC_PAP = 1
    SEC_CHAP = 2

    def __init__(self, stream):
        self.stream = stream
        self._active = False
        state["ppp"].append(self)

    def active(self, on=None):
        if on is not None:
            self._active = on
        return self._active

    def connect(self, security=SEC_NONE, user=None, key=None):
        self.auth = (security, user, key)

    def isconnected(self):
        return self._active and state["ppp_up"]

    def ifconfig(self):
        return ("198.51.100.7", "255.255.255.255", "198.51.100.1", "198.51.100.1")
