"""Runs the logic tests under the MicroPython unix port (no pytest there).

    .venv/bin/micropython firmware_src/tests/mp_runner.py

Imports every `test_*.py` in tests/logic, calls each `test_*` function, prints one line per failure and
a closing `N passed, M failed`; exits 1 if anything failed.
"""
# ruff: noqa: UP031 - MicroPython code: no contextlib, %-formatting is its lightest formatter

import os
import sys

HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
ROOT = HERE + "/../.."
sys.path.insert(0, ROOT)

LOGIC = HERE + "/logic"


def main():
    passed = 0
    failed = 0
    for name in sorted(os.listdir(LOGIC)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        module_name = "firmware_src.tests.logic." + name[:-3]
        try:
            module = __import__(module_name, None, None, ["*"])
        except Exception as error:
            failed += 1
            print("ERROR importing %s: %r" % (module_name, error))
            sys.print_exception(error)
            continue
        for attr in sorted(dir(module)):
            if not attr.startswith("test_"):
                continue
            try:
                getattr(module, attr)()
                passed += 1
            except Exception as error:
                failed += 1
                print("FAIL %s.%s: %r" % (name[:-3], attr, error))
                sys.print_exception(error)
    print("%d passed, %d failed" % (passed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
