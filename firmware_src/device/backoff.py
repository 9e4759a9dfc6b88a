"""Capped exponential backoff with jitter, so a fleet that lost its broker does not reconnect in lockstep."""


class Backoff:
    def __init__(self, base_s=1.0, cap_s=60.0, random_fn=None):
        self.base_s = base_s
        self.cap_s = cap_s
        self.attempts = 0
        self._random = random_fn

    def next_delay(self):
        delay = min(self.cap_s, self.base_s * (2 ** min(self.attempts, 16)))
        self.attempts += 1
        if self._random is not None:
            delay = delay * (0.5 + 0.5 * self._random())
        return delay

    def reset(self):
        self.attempts = 0
