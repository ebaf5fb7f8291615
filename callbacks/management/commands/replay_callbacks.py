"""Queue dead, failed or ignored WeChat callbacks again, after a fix.

manage.py replay_callbacks --id 12 --id 13
manage.py replay_callbacks --status dead --brand alpha --kind event.user_get_card --since 2025-01-01
manage.py replay_callbacks --status dead --dry-run
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from callbacks.models import CallbackEvent
from callbacks.services import REPLAYABLE, callbacks_replay
from tenants.models import Brand


class Command(BaseCommand):
    help = "Replay dead, failed or ignored WeChat callbacks (never done or rejected ones)."

    def add_arguments(self, parser):
        parser.add_argument("--id", action="append", type=int, default=[], help="An inbox row id (repeatable).")
        parser.add_argument("--status", choices=[str(s) for s in REPLAYABLE])
        parser.add_argument("--brand", help="Brand slug.")
        parser.add_argument("--kind")
        parser.add_argument("--since", help="Received at or after (ISO date or datetime).")
        parser.add_argument("--limit", type=int, default=10_000)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, **options):
        if not (options["id"] or options["status"]):
            raise CommandError("Give --id or --status.")
        rows = CallbackEvent.objects.filter(status__in=REPLAYABLE)
        if options["id"]:
            rows = rows.filter(id__in=options["id"])
        if options["status"]:
            rows = rows.filter(status=options["status"])
        brand = None
        if options["brand"]:
            brand = Brand.objects.filter(slug=options["brand"]).first()
            if brand is None:
                raise CommandError(f"No brand {options['brand']!r}.")
            rows = rows.filter(brand=brand)
        if options["kind"]:
            rows = rows.filter(kind=options["kind"].lower())
        if options["since"]:
            since = parse_datetime(options["since"]) or parse_date(options["since"])
            if since is None:
                raise CommandError("--since is not an ISO date or datetime.")
            rows = rows.filter(received_at__gte=since)
        ids = list(rows.order_by("id").values_list("id", flat=True)[: options["limit"]])
        if options["dry_run"]:
            self.stdout.write(f"would replay {len(ids)} callback(s): {ids[:50]}")
            return
        count = callbacks_replay(event_ids=ids, brand=brand)
        self.stdout.write(f"replayed {count} callback(s)")
