"""Transport priority modes, failover within 30 s, and switch-back, on a fake clock."""

from firmware_src.device.transport import TransportManager


class FakeLink:
    def __init__(self, name, up=True, present=True):
        self.name = name
        self.up = up
        self.here = present
        self.connected = False
        self.connects = 0

    def present(self):
        return self.here

    def connect(self):
        self.connects += 1
        self.connected = self.up
        return self.up

    def is_up(self):
        return self.connected and self.up

    def disconnect(self):
        self.connected = False


def _manager(mode, wifi_up=True, gsm_up=True, gsm_present=True):
    links = {"wifi": FakeLink("wifi", wifi_up), "gsm": FakeLink("gsm", gsm_up, gsm_present)}
    changes = []
    manager = TransportManager(links, mode, check_s=5.0, fail_threshold=2, switchback_s=30.0,
                               on_change=lambda old, new: changes.append((old, new)))
    return manager, links, changes


def _run(manager, start, end, step=1.0):
    t = start
    while t <= end:
        manager.tick(t)
        t += step
    return t


def test_wifi_preferred_starts_on_wifi():
    manager, _links, changes = _manager("wifi_preferred")
    manager.tick(0.0)
    assert manager.active == "wifi" and changes == [(None, "wifi")]


def test_wifi_loss_fails_over_to_gsm_within_30_seconds():
    manager, links, changes = _manager("wifi_preferred")
    _run(manager, 0.0, 10.0)
    links["wifi"].up = False
    t = 11.0
    while manager.active != "gsm":
        manager.tick(t)
        t += 1.0
        assert t < 11.0 + 30.0, "failover took longer than 30 s"
    assert changes[-2:] == [("wifi", None), (None, "gsm")]


def test_switches_back_to_wifi_when_it_returns():
    manager, links, changes = _manager("wifi_preferred", wifi_up=False)
    manager.tick(0.0)
    assert manager.active == "gsm"
    links["wifi"].up = True
    _run(manager, 1.0, 40.0)
    assert manager.active == "wifi"
    assert changes[-1] == ("gsm", "wifi")
    assert not links["gsm"].connected


def test_gsm_preferred_uses_wifi_only_as_fallback():
    manager, links, _changes = _manager("gsm_preferred", gsm_up=False)
    manager.tick(0.0)
    assert manager.active == "wifi"
    links["gsm"].up = True
    _run(manager, 1.0, 40.0)
    assert manager.active == "gsm"


def test_wifi_only_never_uses_gsm():
    manager, links, _changes = _manager("wifi_only", wifi_up=False)
    _run(manager, 0.0, 60.0)
    assert manager.active is None and links["gsm"].connects == 0


def test_gsm_only_never_uses_wifi():
    manager, links, _changes = _manager("gsm_only")
    _run(manager, 0.0, 60.0)
    assert manager.active == "gsm" and links["wifi"].connects == 0


def test_without_a_modem_every_mode_means_wifi():
    manager, links, _changes = _manager("gsm_preferred", gsm_present=False)
    manager.tick(0.0)
    assert manager.active == "wifi"
    links["wifi"].up = False
    _run(manager, 1.0, 60.0)
    assert manager.active is None and links["gsm"].connects == 0


def test_all_links_down_then_back():
    manager, links, _changes = _manager("wifi_preferred")
    manager.tick(0.0)
    links["wifi"].up = False
    links["gsm"].up = False
    _run(manager, 1.0, 30.0)
    assert not manager.is_up()
    links["gsm"].up = True
    _run(manager, 31.0, 40.0)
    assert manager.active == "gsm"


def test_mode_change_takes_effect_at_once():
    manager, _links, _changes = _manager("wifi_preferred")
    manager.tick(0.0)
    manager.set_mode("gsm_only", 1.0)
    manager.tick(1.0)
    assert manager.active == "gsm"


def test_a_single_failed_check_is_not_a_lost_link():
    manager, links, changes = _manager("wifi_preferred")
    manager.tick(0.0)
    links["wifi"].up = False
    manager.tick(5.0)
    links["wifi"].up = True
    _run(manager, 10.0, 20.0)
    assert changes == [(None, "wifi")]
