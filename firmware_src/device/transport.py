"""Transport manager: picks WiFi or GSM by priority mode, fails over and switches back.

A link is any object with `present()`, `connect()` (starts or keeps a connection, returns True when it is
up now), `is_up()` and `disconnect()`. The manager is driven by `tick(now)` from the main loop and has no
clock of its own, so failover is testable with a fake clock.

Timing: the active link is checked every `check_s`; it is declared lost after `fail_threshold` failed
checks in a row, so with the defaults (5 s, 2) a dead link is noticed within 10-15 s, well inside 30 s.
While running on the second choice, the preferred link is probed every `switchback_s` and taken back
as soon as it connects.
"""

from .protocol import Conn, TransportMode

_ORDER = {
    TransportMode.WIFI_ONLY: (Conn.WIFI,),
    TransportMode.GSM_ONLY: (Conn.GSM,),
    TransportMode.WIFI_PREFERRED: (Conn.WIFI, Conn.GSM),
    TransportMode.GSM_PREFERRED: (Conn.GSM, Conn.WIFI),
}


class TransportManager:
    def __init__(self, links, mode, check_s=5.0, fail_threshold=2, switchback_s=30.0, on_change=None):
        self.links = links
        self.mode = mode
        self.check_s = check_s
        self.fail_threshold = fail_threshold
        self.switchback_s = switchback_s
        self.on_change = on_change
        self.active = None
        self.failures = 0
        self.switches = 0
        self._next_check = None
        self._next_probe = None

    def order(self):
        """Links to use in priority order; a missing modem removes GSM (a WiFi-only board)."""
        names = []
        for name in _ORDER.get(self.mode, _ORDER[TransportMode.WIFI_PREFERRED]):
            link = self.links.get(name)
            if link is not None and link.present():
                names.append(name)
        if not names and Conn.WIFI in self.links:
            names.append(Conn.WIFI)
        return names

    def set_mode(self, mode, now):
        self.mode = mode
        self._next_check = now

    def force_check(self, now):
        self._next_check = now

    def tick(self, now):
        if self._next_check is not None and now < self._next_check:
            return
        self._next_check = now + self.check_s
        order = self.order()
        if self.active is not None and self.active not in order:
            self._set_active(None, now)
        if self.active is not None:
            if self.links[self.active].is_up():
                self.failures = 0
            else:
                self.failures += 1
                if self.failures >= self.fail_threshold:
                    self._set_active(None, now)
        if self.active is None:
            for name in order:
                if self.links[name].connect():
                    self._set_active(name, now)
                    break
        elif self.active != order[0] and now >= self._next_probe:
            self._next_probe = now + self.switchback_s
            if self.links[order[0]].connect():
                self._set_active(order[0], now)

    def _set_active(self, name, now):
        old = self.active
        if old == name:
            return
        if old is not None and name is not None:
            self.links[old].disconnect()
        self.active = name
        self.failures = 0
        self.switches += 1
        self._next_probe = now + self.switchback_s
        if self.on_change is not None:
            self.on_change(old, name)

    def is_up(self):
        return self.active is not None
