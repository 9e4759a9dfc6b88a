"""SD buffering: rotation, the size cap, oldest-first drain and nothing lost across a restart."""

import os

from firmware_src.device.sdbuffer import SdBuffer
from firmware_src.tests.logic.support import TempDir


def _record(n):
    return {"ts": 1764000000 + n, "seq": n, "src": "sd", "v1": 230.0}


def _drain_all(buffer, batch=4):
    seen = []
    while True:
        records, token = buffer.peek(batch)
        if token is None:
            return seen
        seen.extend(r["seq"] for r in records)
        buffer.commit(token)


def test_segments_rotate_at_the_size_limit():
    with TempDir() as path:
        buffer = SdBuffer(path + "/q", segment_bytes=200, cap_bytes=100000)
        for n in range(20):
            buffer.append(_record(n))
        assert buffer.file_count() > 3
        assert buffer.queued == 20
        for name in os.listdir(path + "/q"):
            if name.endswith(".jsonl"):
                assert os.stat(path + "/q/" + name)[6] <= 200


def test_drain_is_oldest_first_across_segments_and_deletes_sent_files():
    with TempDir() as path:
        buffer = SdBuffer(path + "/q", segment_bytes=200, cap_bytes=100000)
        for n in range(20):
            buffer.append(_record(n))
        assert _drain_all(buffer, 3) == list(range(20))
        assert buffer.queued == 0
        assert buffer.file_count() == 1


def test_cap_drops_the_oldest_segment_and_counts_the_loss():
    with TempDir() as path:
        buffer = SdBuffer(path + "/q", segment_bytes=200, cap_bytes=600)
        for n in range(40):
            buffer.append(_record(n))
        assert buffer.total_bytes() <= 600
        assert buffer.dropped > 0
        assert buffer.queued == 40 - buffer.dropped
        remaining = _drain_all(buffer)
        assert remaining == list(range(40 - len(remaining), 40))


def test_unacknowledged_batches_are_sent_again_after_rewind():
    with TempDir() as path:
        buffer = SdBuffer(path + "/q", segment_bytes=10000)
        for n in range(6):
            buffer.append(_record(n))
        first, token1 = buffer.peek(2)
        second, _token2 = buffer.peek(2)
        assert [r["seq"] for r in first + second] == [0, 1, 2, 3]
        buffer.commit(token1)
        buffer.rewind()
        again, _ = buffer.peek(2)
        assert [r["seq"] for r in again] == [2, 3]
        assert buffer.queued == 4


def test_nothing_is_lost_or_repeated_across_a_reboot():
    with TempDir() as path:
        buffer = SdBuffer(path + "/q", segment_bytes=150)
        for n in range(10):
            buffer.append(_record(n))
        _records, token = buffer.peek(4)
        buffer.commit(token)
        buffer.peek(3)  # in flight when the power went
        after = SdBuffer(path + "/q", segment_bytes=150)
        assert after.queued == 6
        after.append(_record(10))
        assert _drain_all(after) == list(range(4, 11))


def test_a_torn_last_line_is_skipped_not_fatal():
    with TempDir() as path:
        buffer = SdBuffer(path + "/q")
        buffer.append(_record(1))
        with open(path + "/q/q00000001.jsonl", "ab") as handle:
            handle.write(b"{not json}\n")
        buffer = SdBuffer(path + "/q")
        buffer.append(_record(2))
        assert _drain_all(buffer) == [1, 2]
        assert buffer.corrupt_lines == 1


def test_a_line_torn_by_a_power_cut_does_not_block_the_drain():
    with TempDir() as path:
        buffer = SdBuffer(path + "/q", segment_bytes=150)
        buffer.append(_record(1))
        with open(path + "/q/q00000001.jsonl", "ab") as handle:
            handle.write(b'{"ts": 17640')
        buffer = SdBuffer(path + "/q", segment_bytes=150)
        for n in range(2, 6):
            buffer.append(_record(n))
        assert _drain_all(buffer) == [1, 2, 3, 4, 5]


def test_clear_reports_what_it_deleted():
    with TempDir() as path:
        buffer = SdBuffer(path + "/q", segment_bytes=200)
        for n in range(7):
            buffer.append(_record(n))
        assert buffer.clear() == 7
        assert buffer.queued == 0 and SdBuffer(path + "/q").queued == 0
