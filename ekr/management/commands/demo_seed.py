"""Two demo brands with real-looking data, a platform ops login, and the URLs to try. Safe to run again."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from ekr.demo import DEMO_BRANDS, OPS_LOGIN, seed_demo


class Command(BaseCommand):
    help = "Provision the demo brands (idempotent) and print URLs and logins."

    def add_arguments(self, parser):
        parser.add_argument("--print-only", action="store_true", help="Only print the URLs and logins.")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, **options):
        if not options["print_only"]:
            seed_demo(stdout=self.stdout)
            return
        connection.set_schema_to_public()
        port = options["port"]
        base = settings.EKR_BASE_DOMAIN
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("ekr demo"))
        self.stdout.write(f"  platform ops admin  http://{base}:{port}/admin/   {OPS_LOGIN[0]} / {OPS_LOGIN[1]}")
        for brand in DEMO_BRANDS:
            self.stdout.write(
                f"  {brand['name']:<14} http://{brand['slug']}.{base}:{port}/admin/   "
                f"{brand['admin'][0]} / {brand['admin'][1]}   "
                f"store manager: {brand['manager'][0]} / {brand['manager'][1]}"
            )
        self.stdout.write(f"  API docs            http://{DEMO_BRANDS[0]['slug']}.{base}:{port}/api/docs/")
