"""ESP32 entry point (frozen as `firmware_src.main`): build the hardware layer, boot the app, loop forever.

The filesystem's `main.py` (firmware_src/board/main.py) only calls `run()`. An uncaught exception is
recorded in NVS before the reset, so the next boot reports `panic` and counts it towards the crash loop
(MicroPython itself reports that reset as a soft reset, like a deliberate one).
"""

import time


def run():
    import machine

    from firmware_src.device.app import GatewayApp
    from firmware_src.hal.esp32 import Esp32Hal

    hal = Esp32Hal()
    app = GatewayApp(hal)
    try:
        while True:
            delay = app.tick()
            if hal.portal is not None:
                hal.portal.poll()
            time.sleep(delay)
    except Exception as error:
        hal.record_panic(error)
        machine.reset()


if __name__ == "__main__":
    run()
