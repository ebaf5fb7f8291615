"""Defect 17: `migrate_schemas` alone registers the platform host (as `bootstrap` does)."""

from django.conf import settings
from django.core.management import call_command

from tenants.models import Domain


def test_migrate_schemas_alone_registers_the_platform_host(committed_db, client_for):
    # given a database whose platform host row is gone (as after `migrate_schemas` on a fresh database)
    Domain.objects.filter(domain=settings.EKR_BASE_DOMAIN).delete()
    assert client_for(None).get("/admin/login/").status_code == 404
    # when only migrate_schemas runs (public schema only, to keep the test short)
    call_command("migrate_schemas", "--shared", interactive=False, verbosity=0)
    # then the platform host answers again
    assert Domain.objects.filter(domain=settings.EKR_BASE_DOMAIN, tenant__schema_name="public").exists()
    assert client_for(None).get("/admin/login/").status_code == 200
