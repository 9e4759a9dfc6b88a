"""`manage.py telemetry_maintenance`: one pass of partitions, rollups, compression and retention, by hand.

With `--rebuild-rollups --since ...` it rewrites the rollups from the readings instead (telemetry.rollups.
rebuild), for rollups that were lost or readings that were loaded around the bridge.
"""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from devices.models import Device
from telemetry.maintenance import run_pass
from telemetry.rollups import rebuild


def _moment(text: str) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is UTC."""
    try:
        moment = parse_datetime(text)
        if moment is None and (day := parse_date(text)) is not None:
            moment = datetime(day.year, day.month, day.day)
    except ValueError as error:  # well formed but impossible, e.g. 2026-02-30
        raise CommandError(f"--since {text!r}: {error}") from None
    if moment is None:
        raise CommandError(f"--since {text!r} is not an ISO 8601 date or date-time (e.g. 2026-11-30T12:00:00Z)")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Run one telemetry maintenance pass (partitions ahead, rollups, compression, retention) and say what it did."

    def add_arguments(self, parser):
        parser.add_argument(
            "--rebuild-rollups",
            action="store_true",
            help="Rewrite the 5-minute and hourly buckets of the readings from --since on, instead of a pass.",
        )
        parser.add_argument("--since", help="With --rebuild-rollups: device time to start at (ISO 8601, UTC).")
        parser.add_argument("--device", help="With --rebuild-rollups: only this device (its device_id).")

    def handle(self, *args, **options):
        if not options["rebuild_rollups"]:
            if options["since"] or options["device"]:
                raise CommandError("--since and --device go with --rebuild-rollups")
            for line in run_pass().lines:
                self.stdout.write(line)
            return
        if not options["since"]:
            raise CommandError("--rebuild-rollups needs --since (e.g. --since 2026-11-30)")
        since = _moment(options["since"])
        device = None
        if options["device"]:
            device = Device.objects.filter(device_id=options["device"]).first()
            if device is None:
                raise CommandError(f"no device {options['device']!r}")
        done = rebuild(since, device_pk=device.pk if device else None)
        scope = device.device_id if device else "every device"
        self.stdout.write(
            f"rollups rebuilt for {scope} since {since:%Y-%m-%d %H:%M:%S} UTC: {done.five_minute_buckets} 5-minute "
            f"and {done.hourly_buckets} hourly buckets rewritten in {done.windows} day(s)"
        )
