from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from tenants.models import Brand
from tenants.services import brand_create, brand_host


class Command(BaseCommand):
    help = "Provision a brand: schema (cloned from the template), domain <slug>.<EKR_BASE_DOMAIN>, first HQ admin."

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--industry", default=Brand.Industry.OTHER, choices=Brand.Industry.values)
        parser.add_argument("--admin-username")
        parser.add_argument("--admin-password")
        parser.add_argument("--domain", action="append", default=[], help="An extra host name for the brand.")

    def handle(self, *args, **o):
        if bool(o["admin_username"]) != bool(o["admin_password"]):
            raise CommandError("--admin-username and --admin-password go together.")
        try:
            brand = brand_create(
                slug=o["slug"],
                name=o["name"],
                industry=o["industry"],
                admin_username=o["admin_username"],
                admin_password=o["admin_password"],
                extra_domains=tuple(o["domain"]),
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except Exception as exc:
            from django.core.exceptions import ValidationError

            if isinstance(exc, ValidationError):
                raise CommandError("; ".join(exc.messages)) from exc
            raise
        self.stdout.write(self.style.SUCCESS(f"brand {brand.slug} ready at http://{brand_host(brand.slug)}:8000/"))
