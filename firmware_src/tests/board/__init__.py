"""Board-path tests: GatewayApp through the real hal/esp32.py under the MicroPython unix port."""
