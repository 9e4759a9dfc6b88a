"""ESP32 entry point: build the hardware layer, boot the app, run its loop forever.

A panic is recorded in NVS before the reset so the next boot can report `panic` (MicroPython maps an
uncaught exception to a soft reset, which it cannot tell apart from a deliberate one).
"""

import time


def run():
    import machine

    from firmware_src.device.app import GatewayApp
    from firmware_src.hal.esp32 import Esp32Hal

    hal = Esp32Hal()
    hal.nvs.delete("panic")
    app = GatewayApp(hal)
    try:
        while True:
            delay = app.tick()
            if hal.portal is not None:
                hal.portal.poll()
            time.sleep(delay)
    except Exception as error:
        hal.nvs.set("panic", repr(error))
        machine.reset()


if __name__ == "__main__":
    run()
