"""Gateway firmware for the ESP32 + Acuvim II, and the host fleet simulator that runs it.

`device/` is the firmware's logic (MicroPython-compatible), `hal/` the hardware layer (`esp32` for the
real board, `host` for CPython), `simulator/` many devices of this firmware in one process.
"""
