"""The bounded hand-off between the MQTT thread and the telemetry writer."""

import threading
import time

import pytest

from acuvim_console.bridge.batch_queue import BatchQueue


def test_a_backlog_is_taken_in_batches_of_at_most_the_size_asked_in_arrival_order():
    queue = BatchQueue(capacity=10)
    for n in range(7):
        assert queue.put(n, timeout=0)
    assert queue.take(max_items=5, max_wait=1, idle_timeout=1) == [0, 1, 2, 3, 4]
    assert queue.take(max_items=5, max_wait=0, idle_timeout=1) == [5, 6]
    assert len(queue) == 0


def test_an_idle_queue_returns_nothing_after_the_idle_timeout():
    started = time.monotonic()
    assert BatchQueue(capacity=4).take(max_items=2, max_wait=1, idle_timeout=0.1) == []
    assert 0.09 <= time.monotonic() - started < 1


def test_a_partial_batch_closes_after_max_wait_and_a_full_one_at_once():
    queue = BatchQueue(capacity=100)
    queue.put("first", timeout=0)
    started = time.monotonic()
    assert queue.take(max_items=3, max_wait=0.15, idle_timeout=1) == ["first"]
    assert 0.14 <= time.monotonic() - started < 1

    def fill():
        for n in range(3):
            time.sleep(0.02)
            queue.put(n, timeout=1)

    threading.Thread(target=fill).start()
    started = time.monotonic()
    assert queue.take(max_items=3, max_wait=5, idle_timeout=5) == [0, 1, 2]
    assert time.monotonic() - started < 1  # woken by the batch filling, not by max_wait


def test_the_batch_deadline_counts_from_when_the_oldest_item_arrived():
    queue = BatchQueue(capacity=100)
    queue.put("queued while the previous batch was written", timeout=0)
    time.sleep(0.2)
    started = time.monotonic()
    assert len(queue.take(max_items=3, max_wait=0.25, idle_timeout=1)) == 1
    assert time.monotonic() - started < 0.15


def test_a_full_queue_holds_the_producer_until_the_consumer_takes_a_batch():
    queue = BatchQueue(capacity=2)
    assert queue.put("a", timeout=0) and queue.put("b", timeout=0)
    assert not queue.put("c", timeout=0.05)  # back-pressure: no room, nothing queued
    result = {}
    producer = threading.Thread(target=lambda: result.update(ok=queue.put("c", timeout=5)))
    producer.start()
    time.sleep(0.05)
    assert producer.is_alive()
    assert queue.take(max_items=1, max_wait=0, idle_timeout=1) == ["a"]
    producer.join(5)
    assert result == {"ok": True}
    assert queue.take(max_items=5, max_wait=0, idle_timeout=1) == ["b", "c"]


def test_a_batch_larger_than_the_queue_closes_when_the_queue_is_full():
    queue = BatchQueue(capacity=3)
    threading.Thread(target=lambda: [queue.put(n, timeout=1) for n in range(3)]).start()
    started = time.monotonic()
    assert queue.take(max_items=10, max_wait=5, idle_timeout=1) == [0, 1, 2]
    assert time.monotonic() - started < 1


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="at least one"):
        BatchQueue(capacity=0)


def test_discarded_items_leave_the_queue_and_free_room_for_a_waiting_producer():
    queue = BatchQueue(capacity=4)
    for n in range(4):
        queue.put(n, timeout=0)
    put = threading.Thread(target=lambda: queue.put("late", timeout=5))
    put.start()
    time.sleep(0.05)
    assert queue.discard(lambda n: n in (1, 3)) == [1, 3]
    put.join(2)
    assert not put.is_alive()
    assert queue.discard(lambda n: False) == []
    assert queue.take(max_items=10, max_wait=0, idle_timeout=1) == [0, 2, "late"]
