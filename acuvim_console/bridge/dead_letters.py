"""Rejected messages kept for inspection: summed in memory, written to `devices.RejectedMessage` in batches.

Every refused message is acknowledged (a poison message must never wedge the session), so this table is
where a field engineer finds out why a gateway's data is not arriving ("ACV-...: telemetry rejected:
field src is an object"). Writing a row per rejection would let a misbehaving device turn the database
into its log; instead rejections are summed per (device, topic kind, reason) and one upsert per key goes
out every MQTT_DEAD_LETTER_FLUSH_S seconds. Memory is bounded too: past MAX_PENDING keys, further keys
are only counted (metrics) until the next flush.
"""

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection

from devices.control.redaction import mask_secrets_in_text
from devices.models import RejectedMessage

log = logging.getLogger(__name__)

SAMPLE_BYTES = 200
_TABLE = f'"{RejectedMessage._meta.db_table}"'  # PostgreSQL and SQLite both quote names so
# One statement for both databases: PostgreSQL and SQLite (3.24+) share this upsert syntax.
_UPSERT = (
    f"INSERT INTO {_TABLE} (device_id, kind, reason, count, first_seen, last_seen, topic, detail, sample)"  # noqa: S608
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (device_id, kind, reason) DO UPDATE SET"
    f" count = {_TABLE}.count + excluded.count, last_seen = excluded.last_seen,"
    " topic = excluded.topic, detail = excluded.detail, sample = excluded.sample"
)


@dataclass(slots=True)
class _Pending:
    count: int
    first_seen: datetime
    last_seen: datetime
    topic: str
    detail: str
    sample: bytes  # made printable at flush time: once per key, not once per rejected message


def printable_sample(payload: bytes) -> str:
    """The first bytes of a payload as text a database and a Viewer may see: bad UTF-8 and NUL escaped,
    secrets masked (a refused `get_config` answer can hold the WiFi password)."""
    text = payload[:SAMPLE_BYTES].decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
    return mask_secrets_in_text(text)


def _clip(text: str, limit: int) -> str:
    return text.replace("\x00", "\\x00")[:limit]


class DeadLetters:
    MAX_PENDING = 10_000

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str], _Pending] = {}

    def add(self, device_id: str, kind: str, topic: str, reason: str, detail: str, payload: bytes) -> None:
        now = datetime.now(UTC)
        key = (device_id, kind, reason)
        with self._lock:
            entry = self._pending.get(key)
            if entry is None:
                if len(self._pending) >= self.MAX_PENDING:
                    return
                self._pending[key] = _Pending(1, now, now, _clip(topic, 200), _clip(detail, 500), payload)
            else:
                entry.count += 1
                entry.last_seen, entry.topic, entry.detail = now, _clip(topic, 200), _clip(detail, 500)
                entry.sample = payload

    def flush(self) -> int:
        """Write what was summed since the last flush; on a database outage keep it for the next one."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            self._upsert(pending)
        except DatabaseError as exc:
            log.warning("could not record %d rejected-message keys (%s); will retry", len(pending), exc)
            self._restore(pending)
            return 0
        return len(pending)

    def _restore(self, pending: dict) -> None:
        with self._lock:
            for key, old in pending.items():
                newer = self._pending.get(key)
                if newer is None:
                    self._pending[key] = old
                else:
                    newer.count += old.count
                    newer.first_seen = old.first_seen

    @staticmethod
    def _upsert(pending: dict) -> None:
        adapt = connection.ops.adapt_datetimefield_value
        rows = [
            (
                *key,
                entry.count,
                adapt(entry.first_seen),
                adapt(entry.last_seen),
                entry.topic,
                entry.detail,
                printable_sample(entry.sample),
            )
            for key, entry in sorted(pending.items())  # one order for every bridge: no deadlocks between them
        ]
        with connection.cursor() as cursor:
            cursor.executemany(_UPSERT, rows)

    @staticmethod
    def prune() -> int:
        """Drop entries older than DEAD_LETTER_KEEP_DAYS and the oldest beyond DEAD_LETTER_MAX_ROWS."""
        cutoff = datetime.now(UTC) - timedelta(days=settings.DEAD_LETTER_KEEP_DAYS)
        removed, _ = RejectedMessage.objects.filter(last_seen__lt=cutoff).delete()
        keep = settings.DEAD_LETTER_MAX_ROWS
        boundary = RejectedMessage.objects.order_by("-last_seen").values_list("last_seen", flat=True)[keep : keep + 1]
        if boundary:
            more, _ = RejectedMessage.objects.filter(last_seen__lte=boundary[0]).delete()
            removed += more
        return removed


dead_letters = DeadLetters()
