"""`manage.py telemetry_maintenance`: one pass of partitions, rollups, compression and retention, by hand."""

from django.core.management.base import BaseCommand

from telemetry.maintenance import run_pass


class Command(BaseCommand):
    help = "Run one telemetry maintenance pass (partitions ahead, rollups, compression, retention) and say what it did."

    def handle(self, *args, **options):
        report = run_pass()
        for line in report.lines:
            self.stdout.write(line)
