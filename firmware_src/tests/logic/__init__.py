"""Pure-logic tests of `firmware_src.device`: plain `test_*` functions with bare asserts.

pytest collects them under CPython, and `mp_runner.py` runs the same functions under the MicroPython
unix port, so nothing CPython-only can slip into the device code.
"""
