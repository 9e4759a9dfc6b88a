"""Reading the metrics registry in tests: counts since a point in the test, and a parsed scrape.

The registry's counters only go up, for the life of the process, as Prometheus expects; a test that wants
"what this test caused" takes a baseline with `metrics.reset()` and reads `metrics.snapshot()`, the bridge's
snapshot (acuvim_console.bridge.metrics) minus that baseline. Only counts are compared; averages and the
uptime are left out, they cannot be subtracted.
"""

from prometheus_client.parser import text_string_to_metric_families

from acuvim_console.bridge.metrics import snapshot

_NOT_COUNTS = frozenset({"uptime_s", "queued", "batch_size", "commit_latency_ms", "lag_s"})


def _minus(now, before):
    if isinstance(now, dict):
        changed = {key: _minus(value, before.get(key, 0)) for key, value in now.items()}
        return {key: value for key, value in changed.items() if value}
    return now - before


class CountsSince:
    def __init__(self):
        self._baseline: dict = {}

    def reset(self) -> None:
        self._baseline = snapshot()

    def snapshot(self) -> dict:
        now = snapshot()
        return {key: _minus(value, self._baseline.get(key, 0)) for key, value in now.items() if key not in _NOT_COUNTS}


metrics = CountsSince()


def parse_scrape(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted label pairs): value} of a Prometheus text exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
