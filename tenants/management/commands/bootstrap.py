"""Bring a database up to date: migrate public, every brand and the template; ensure the platform host row."""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from tenants.services import platform_ensure


class Command(BaseCommand):
    help = "Migrate every schema (template included) and register the platform host."

    def handle(self, *args, **options):
        call_command(
            "migrate_schemas", interactive=False, verbosity=options["verbosity"] - 1 if options["verbosity"] else 0
        )
        platform = platform_ensure()
        self.stdout.write(f"platform ready at {platform.domains.first()}")
