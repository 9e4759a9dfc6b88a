"""Device logic shared by the ESP32 build and the host simulator.

Everything here must import and run under MicroPython: no dataclasses, no typing at run time,
no pathlib, no f-string '=' specifier, only json/time/hashlib/os/struct features MicroPython has.
"""
