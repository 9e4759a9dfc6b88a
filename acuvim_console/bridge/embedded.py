"""Embedded mode (`runconsole`): a broker of its own when MQTT_URL is unset, and the bridge.

The broker listens on 127.0.0.1:MQTT_EMBEDDED_PORT only. Where Mosquitto is installed it is a Mosquitto
child process with the project's durable config (acuvim_console.core.local_broker): the same broker and
limits as production, so the zero-loss promise holds on a laptop too. Where its dynamic-security plugin
is installed as well (and MQTT_EMBEDDED_SECURE is on, the default), it is the secured broker of
`manage.py broker`, in DATA_DIR/broker: anonymous access off, TLS on 127.0.0.1:MQTT_EMBEDDED_TLS_PORT, the
console's own account made on first start, and an account per gateway (the demo fleet's included) made
by provisioning, exactly as in production. Otherwise its database is in DATA_DIR/mosquitto.
Elsewhere it is amqtt, a pure-Python broker on its own event loop thread, for first runs and
demos: it speaks MQTT 3.1.1 only, keeps nothing on disk and does not deliver messages queued for an
offline session. MQTT_EMBEDDED_BROKER chooses (mqtt_connection.embedded_broker). The bridge is the same code
the `mqtt_bridge` command runs, against whichever broker is configured.
"""

import asyncio
import logging
import threading
from collections.abc import Callable

from django.conf import settings

from acuvim_console.bridge.service import Bridge
from acuvim_console.core import broker_files
from acuvim_console.core.local_broker import LocalMosquitto
from acuvim_console.core.mqtt_connection import EmbeddedBroker, broker_address, embedded_broker

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10
# MQTT_URL as the secured embedded broker set it (with the console's account), to tell it from an operator's.
_embedded_url: str | None = None
RESTART_DELAY_S = 1.0
STOP_WATCH_TIMEOUT_S = 5


def broker_config(port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


def local_mosquitto() -> LocalMosquitto:
    return LocalMosquitto(workdir=settings.DATA_DIR / "mosquitto", port=settings.MQTT_EMBEDDED_PORT)


def secured() -> bool:
    """Whether the embedded Mosquitto is the secured one (accounts, no anonymous access, TLS)."""
    return settings.MQTT_EMBEDDED_SECURE and broker_files.dynsec_plugin() is not None


def secured_mosquitto() -> broker_files.SecuredMosquitto:
    """The secured broker in DATA_DIR/broker, its files written on first start, and the console pointed at it.

    The console's account is kept in the folder (made once); MQTT_URL gets it, so the bridge and the
    command publisher sign in, and MQTT_BROKER_ADMIN becomes dynsec, so provisioning (the demo fleet's
    too) and approval make each gateway's account.
    """
    workdir = settings.DATA_DIR / "broker"
    console = broker_files.console_credentials(workdir)
    for line in broker_files.prepare(
        workdir,
        ["localhost", "127.0.0.1"],
        console,
        settings.MQTT_TOPIC_PREFIX,
        (settings.MQTT_PROVISIONING_USERNAME, settings.MQTT_PROVISIONING_PASSWORD),
    ):
        log.info("embedded broker: %s", line)
    global _embedded_url
    username, password = console
    _embedded_url = settings.MQTT_URL = f"mqtt://{username}:{password}@127.0.0.1:{settings.MQTT_EMBEDDED_PORT}"
    settings.MQTT_BROKER_ADMIN = "dynsec"
    return broker_files.SecuredMosquitto(
        workdir=workdir,
        port=settings.MQTT_EMBEDDED_PORT,
        tls_port=settings.MQTT_EMBEDDED_TLS_PORT,
        tls_host="127.0.0.1",
    )


def describe_broker() -> str:
    """One line for the startup banner: which broker the console uses, and what that means."""
    if settings.MQTT_URL and _embedded_url != settings.MQTT_URL:
        return f"MQTT broker: {broker_address()} (MQTT_URL)"
    port = settings.MQTT_EMBEDDED_PORT
    if embedded_broker() is EmbeddedBroker.MOSQUITTO and secured():
        return (
            f"MQTT broker: Mosquitto on 127.0.0.1:{port}, TLS on 127.0.0.1:{settings.MQTT_EMBEDDED_TLS_PORT} "
            f"(durable, accounts only; CA, accounts and data in {settings.DATA_DIR / 'broker'})"
        )
    if embedded_broker() is EmbeddedBroker.MOSQUITTO:
        return f"MQTT broker: Mosquitto on 127.0.0.1:{port} (durable; data and log in {local_mosquitto().workdir})"
    return (
        f"MQTT broker: amqtt in-process on 127.0.0.1:{port} (MQTT 3.1.1, not durable: "
        "install mosquitto, or set MQTT_URL, for the zero-loss promise)"
    )


def start_broker() -> Callable[[], None] | None:
    """Run the embedded broker on 127.0.0.1:MQTT_EMBEDDED_PORT unless an external broker is configured."""
    if settings.MQTT_URL:
        return None
    if embedded_broker() is EmbeddedBroker.MOSQUITTO:
        return start_mosquitto()
    return start_amqtt()


def start_mosquitto() -> Callable[[], None]:
    supervised = SupervisedMosquitto(secured_mosquitto() if secured() else local_mosquitto()).start()
    log.info("embedded MQTT broker: Mosquitto on %s, data in %s", supervised.broker.url, supervised.broker.workdir)
    return supervised.stop


class SupervisedMosquitto:
    """The embedded Mosquitto, started again whenever it exits while the console still runs.

    The bridge and the gateways reconnect by themselves and the broker's database holds what it had
    queued, so a broker that dies mid-demo costs a few seconds instead of the rest of the session.
    """

    def __init__(self, broker: LocalMosquitto):
        self.broker = broker
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="mqtt-embedded-broker-watch", daemon=True)

    def start(self) -> "SupervisedMosquitto":
        self.broker.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self.broker.stop()
        self._thread.join(STOP_WATCH_TIMEOUT_S)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self.broker.process
            code = process.wait() if process is not None else None
            if self._stopping.is_set():
                return
            log.error("embedded Mosquitto exited (code %s), starting it again: %s", code, self.broker.log_tail())
            while not self._stopping.wait(RESTART_DELAY_S) and not self._restart():
                pass

    def _restart(self) -> bool:
        """True once running again, or when the console stops meanwhile (then there is nothing to restart)."""
        with self._lock:  # stop() must not slip in between starting the process and recording it
            if self._stopping.is_set():
                return True
            try:
                self.broker.start()
            except RuntimeError as exc:
                log.error("embedded Mosquitto did not start again: %s", exc)
                return False
            return True


def start_amqtt() -> Callable[[], None]:
    from amqtt.broker import Broker

    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, Broker] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            holder["broker"] = Broker(broker_config(settings.MQTT_EMBEDDED_PORT), loop=loop)
            loop.run_until_complete(holder["broker"].start())
        except BaseException as exc:  # reported to the starting thread below
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="mqtt-embedded-broker", daemon=True)
    thread.start()
    if not started.wait(START_TIMEOUT_S) or failure:
        raise RuntimeError(f"embedded MQTT broker did not start on port {settings.MQTT_EMBEDDED_PORT}: {failure}")
    log.warning(
        "embedded MQTT broker: amqtt on 127.0.0.1:%d (MQTT 3.1.1, not durable: install mosquitto or set MQTT_URL)",
        settings.MQTT_EMBEDDED_PORT,
    )

    def stop() -> None:
        try:
            asyncio.run_coroutine_threadsafe(holder["broker"].shutdown(), loop).result(5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)

    return stop


def start_bridge() -> Callable[[], None]:
    bridge = Bridge().start()
    return bridge.stop
