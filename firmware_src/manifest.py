# ruff: noqa: F821 - include/require/package are the manifest language's own functions
# MicroPython manifest of the gateway image: the ESP32 port's own frozen modules, umqtt.simple from
# micropython-lib, and the device code of this repository (never the simulator, tests or host HAL).
# Build: see docs/firmware.md, "Building the firmware image"; FROZEN_MANIFEST points at this file.
include("$(PORT_DIR)/boards/manifest.py")
require("umqtt.simple")
package(
    "firmware_src",
    files=[
        "__init__.py",
        "main.py",
        "device/__init__.py",
        "device/acuvim.py",
        "device/alerts.py",
        "device/app.py",
        "device/appdesc.py",
        "device/backoff.py",
        "device/bootguard.py",
        "device/canonical.py",
        "device/commands.py",
        "device/config.py",
        "device/fwversion.py",
        "device/handlers.py",
        "device/logbuf.py",
        "device/modbus.py",
        "device/nvs.py",
        "device/ota.py",
        "device/portal.py",
        "device/protocol.py",
        "device/sdbuffer.py",
        "device/session.py",
        "device/transport.py",
        "hal/__init__.py",
        "hal/esp32.py",
        "hal/esp32_portal.py",
    ],
    base_path="..",
    opt=3,
)
