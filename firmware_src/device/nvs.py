"""A small NVS-like key/value store persisted as one JSON file, written atomically (tmp + rename).

Used for the config, boot counters, OTA state and alerts that must survive a reboot. On the ESP32 the
file lives on the internal flash filesystem; on the host it lives in the simulated device's state dir.
"""


import json
import os


class JsonNvs:
    def __init__(self, path):
        self.path = path
        self._data = self._load()

    def _load(self):
        for candidate in (self.path, self.path + ".tmp"):
            try:
                with open(candidate) as handle:
                    data = json.load(handle)
                if isinstance(data, dict):
                    return data
            except (OSError, ValueError):
                continue
        return {}

    def get(self, key, default=None):
        value = self._data.get(key)
        return default if value is None else value

    def set(self, key, value):
        self._data[key] = value
        self._commit()

    def delete(self, key):
        if key in self._data:
            del self._data[key]
            self._commit()

    def erase_all(self, keep=()):
        self._data = {key: self._data[key] for key in keep if key in self._data}
        self._commit()

    def _commit(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as handle:
            handle.write(json.dumps(self._data))
        os.rename(tmp, self.path)
