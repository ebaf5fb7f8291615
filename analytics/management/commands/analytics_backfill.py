"""Rebuild a brand's analytics rollups for a range of days, oldest first, with a progress bar.

manage.py analytics_backfill --brand alpha --from 2025-01-01 --to 2025-12-31
"""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date
from django_tenants.utils import schema_context

from analytics.rollup import rollup_range
from tenants.models import Brand


def progress_bar(stream, started: float):
    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // total
        elapsed = time.monotonic() - started
        eta = elapsed / done * (total - done) if done else 0
        stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} days {elapsed:5.1f}s elapsed, ~{eta:5.1f}s left"
        )
        if done == total:
            stream.write("\n")
        stream.flush()

    return show


class Command(BaseCommand):
    help = "Rebuild analytics rollups (store, guide and brand days) of one brand for a date range."

    def add_arguments(self, parser):
        parser.add_argument("--brand", required=True, help="Brand slug.")
        parser.add_argument("--from", dest="date_from", required=True, help="First day (YYYY-MM-DD, Asia/Shanghai).")
        parser.add_argument("--to", dest="date_to", required=True, help="Last day, included.")
        parser.add_argument("--quiet", action="store_true", help="No progress bar.")

    def handle(self, *args, **options):
        date_from, date_to = parse_date(options["date_from"] or ""), parse_date(options["date_to"] or "")
        if date_from is None or date_to is None:
            raise CommandError("--from and --to are dates: YYYY-MM-DD.")
        if date_to < date_from:
            raise CommandError("--to is before --from.")
        brand = Brand.objects.filter(slug=options["brand"]).exclude(schema_name="public").first()
        if brand is None:
            raise CommandError(f"No brand {options['brand']!r}.")
        show = None if options["quiet"] else progress_bar(sys.stderr, time.monotonic())
        with schema_context(brand.schema_name):
            days = rollup_range(date_from, date_to, progress=show)
        self.stdout.write(f"{brand.slug}: {days} days rebuilt ({date_from} .. {date_to}).")
