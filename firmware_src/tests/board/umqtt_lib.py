"""Puts umqtt.simple 1.3.4 (the release on the package registry) where the MicroPython tests find it.

Its sdist has no setup.py, so pip cannot install it, only fetch it: `pip download` unpacks the archive
and then gives up on it. This takes the one module from pip's unpack directory (a private TMPDIR),
checks it against the pinned SHA-256 and keeps it under the venv. Nothing is fetched at device run time:
on the board umqtt.simple is frozen into the image (firmware_src/manifest.py).
"""

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

REQUIREMENT = "micropython-umqtt.simple==1.3.4"
SHA256 = "8555d2f654deb8eb0d724f79b0811a78cc94029d070f3d96bbd74288653d63a5"
LIB_DIR = os.path.join(sys.prefix, "share", "micropython-lib", "umqtt-simple-1.3.4")


def _digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def ensure_umqtt_simple():
    """The directory to put on MicroPython's sys.path (it holds umqtt/simple.py)."""
    target = os.path.join(LIB_DIR, "umqtt", "simple.py")
    if os.path.exists(target) and _digest(target) == SHA256:
        return LIB_DIR
    with tempfile.TemporaryDirectory() as scratch:
        env = dict(os.environ, TMPDIR=scratch)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-clean", "-q", "-d",
                        os.path.join(scratch, "dl"), REQUIREMENT], env=env, capture_output=True, timeout=300)
        found = [path for path in glob.glob(os.path.join(scratch, "**", "umqtt", "simple.py"), recursive=True)
                 if _digest(path) == SHA256]
        if not found:
            raise RuntimeError(f"pip could not fetch {REQUIREMENT} (or its umqtt/simple.py changed)")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(found[0], target)
    return LIB_DIR
