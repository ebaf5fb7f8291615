"""`migrate` is `migrate_schemas` here (public, every brand, and the template)."""

from tenants.management.commands.migrate_schemas import Command  # noqa: F401
