"""Boot counting and crash-loop detection."""


from firmware_src.device.bootguard import BootGuard
from firmware_src.tests.logic.support import FakeNvs


def test_boot_count_increments_on_every_boot():
    nvs = FakeNvs()
    assert BootGuard(nvs, "poweron").boot_count == 1
    assert BootGuard(nvs, "sw").boot_count == 2


def test_five_quick_crashes_trigger_the_crash_loop_once():
    nvs = FakeNvs()
    results = [BootGuard(nvs, "panic" if n % 2 else "wdt").crash_loop for n in range(5)]
    assert results == [False, False, False, False, True]
    assert not BootGuard(nvs, "panic").crash_loop


def test_a_stable_run_clears_the_streak():
    nvs = FakeNvs()
    for _ in range(4):
        BootGuard(nvs, "panic")
    guard = BootGuard(nvs, "panic", stable_s=60)
    assert guard.crash_loop
    for _ in range(4):
        guard = BootGuard(nvs, "panic", stable_s=60)
    guard.tick(61)
    assert not BootGuard(nvs, "panic").crash_loop


def test_power_on_or_restart_is_not_a_crash():
    nvs = FakeNvs()
    for reason in ("panic", "panic", "poweron", "panic", "panic", "sw", "panic", "panic"):
        assert not BootGuard(nvs, reason).crash_loop
