"""django-tenants' migrate_schemas, plus the template schema new brands are cloned from and the platform host.

A full run (no --schema) migrates public, every brand, and then the template (creating it if missing), so a
brand provisioned after an upgrade is cloned from an up-to-date template. Any run that migrates public also
registers the platform host (the bare EKR_BASE_DOMAIN), so `migrate_schemas` alone is as good as `bootstrap`.
"""

from django.conf import settings
from django.db import connection
from django_tenants.management.commands.migrate_schemas import MigrateSchemasCommand
from django_tenants.migration_executors import get_executor

import tenants.migration_executor  # noqa: F401  registers the `shared_plan` executor


class Command(MigrateSchemasCommand):
    def handle(self, *args, **options):
        options["executor"] = options.get("executor") or "shared_plan"
        whole_run = not options.get("schema_name")
        super().handle(*args, **options)
        if self.sync_public:  # public was migrated: the platform host is registered too
            from tenants.services import platform_ensure

            connection.set_schema_to_public()
            platform_ensure()
        if whole_run and self.sync_tenant:
            template = settings.TENANT_BASE_SCHEMA
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{template}"')
            executor = get_executor(codename=self.executor)(self.args, self.options)
            executor.run_migrations(tenants=[template])
            connection.set_schema_to_public()
