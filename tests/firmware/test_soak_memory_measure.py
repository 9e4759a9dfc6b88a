"""The soak's memory measure: a leak counts in full, a container's leftover capacity after a burst does not."""

from bench.soak.run import memory_flat, reachable_bytes


class Gateway:
    def __init__(self):
        self.inflight = {}
        self.kept = []


def test_a_map_emptied_after_a_burst_weighs_what_it_holds_not_what_it_once_held():
    gateway = Gateway()
    before, _ = reachable_bytes(gateway, set())
    gateway.inflight.update((mid, b"record") for mid in range(200))
    for mid in range(200):  # each PUBACK takes one out; CPython keeps the 200-entry table
        del gateway.inflight[mid]
    held, allocated = reachable_bytes(gateway, set())
    assert held == before
    assert allocated > before + 4000


def test_objects_kept_count_in_full():
    gateway = Gateway()
    before, _ = reachable_bytes(gateway, set())
    gateway.kept.extend(f"line {n}" for n in range(100))
    held, _ = reachable_bytes(gateway, set())
    assert held > before + 100 * 50


def test_flatness_is_the_largest_deviation_from_the_median_after_the_last_failure():
    samples = [(1, 900, 0, 900), (5, 1000, 0, 1000), (6, 1030, 0, 1100), (7, 990, 0, 990)]
    assert memory_flat(samples, since_h=5) == (1000, 3.0)
