"""Boot counting and crash-loop detection.

Every boot increments `boot_count`. A reboot caused by a panic or the watchdog before the previous boot
ran `stable_s` counts as a quick crash; five quick crashes in a row mean the stored config is probably
what kills the device, so it is factory-reset into AP mode for reprovisioning. Any other reset reason
(power-on, deliberate restart) or a boot that stays up `stable_s` clears the streak.
"""

from .protocol import ResetReason

CRASH_LOOP_LIMIT = 5


class BootGuard:
    KEY = "boot"

    def __init__(self, nvs, reset_reason, stable_s=60.0, limit=CRASH_LOOP_LIMIT):
        self.nvs = nvs
        self.stable_s = stable_s
        self.limit = limit
        record = nvs.get(self.KEY, {})
        self.boot_count = int(record.get("count", 0)) + 1
        quick = int(record.get("quick", 0))
        quick = quick + 1 if reset_reason in ResetReason.CRASHES else 0
        self.crash_loop = quick >= limit
        if self.crash_loop:
            quick = 0
        self.quick_crashes = quick
        self.stable = False
        self._save()

    def _save(self):
        self.nvs.set(self.KEY, {"count": self.boot_count, "quick": self.quick_crashes})

    def tick(self, uptime_s):
        if not self.stable and uptime_s >= self.stable_s:
            self.stable = True
            if self.quick_crashes:
                self.quick_crashes = 0
                self._save()
