# The board's /boot.py: frozen code first, so a stray firmware_src/ copied onto the filesystem can never
# shadow the application that OTA updates (MicroPython searches '' before '.frozen' by default).
import sys

if ".frozen" in sys.path:
    sys.path.remove(".frozen")
sys.path.insert(0, ".frozen")
