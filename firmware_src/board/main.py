# The board's /main.py: run the frozen gateway application (firmware_src.main).
from firmware_src.main import run

run()
