"""`migrate_schemas` applies a migration plan rendered once to every brand at the same state, each brand in one
transaction, so an interrupted run finishes when run again (tenants/migration_executor.py)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import CreateModel

from tenants.migration_executor import MigrationsFailed, applied_by_schema
from tests.tenants.test_provisioning import _structure


def _a_leaf_that_creates_a_table():
    """A brand-app migration nothing depends on that creates a table: (app, name, previous name, table)."""
    loader = MigrationLoader(connection)
    tenant_apps = {name.rsplit(".", 1)[-1] for name in settings.TENANT_APPS}
    for app, name in sorted(loader.graph.leaf_nodes()):
        if app not in tenant_apps:
            continue
        migration = loader.graph.nodes[(app, name)]
        parents = [parent for parent in loader.graph.node_map[(app, name)].parents if parent[0] == app]
        creates = [op for op in migration.operations if isinstance(op, CreateModel)]
        if parents and creates and all(getattr(op, "reduces_to_sql", False) for op in migration.operations):
            table = loader.project_state((app, name)).apps.get_model(app, creates[0].name)._meta.db_table
            return app, name, parents[0][1], table
    pytest.fail("no brand-app leaf migration that creates a table")


def _undo(schema: str, app: str, previous: str) -> None:
    call_command("migrate_schemas", app, previous, schema_name=schema, executor="standard", verbosity=0)
    connection.set_schema_to_public()


def test_brands_behind_are_brought_level_with_the_template(committed_db, new_brand):
    app, name, previous, _ = _a_leaf_that_creates_a_table()
    first, second = new_brand("mig"), new_brand("mig")
    for brand in (first, second):
        _undo(brand.schema_name, app, previous)
        with connection.cursor() as cursor:  # as if the model had never existed there
            cursor.execute(
                f'DELETE FROM "{brand.schema_name}".auth_permission WHERE content_type_id IN ('
                f'SELECT id FROM "{brand.schema_name}".django_content_type WHERE app_label = %s)',
                [app],
            )
            cursor.execute(f'DELETE FROM "{brand.schema_name}".django_content_type WHERE app_label = %s', [app])
    assert (app, name) not in applied_by_schema([first.schema_name])[first.schema_name]

    call_command("migrate_schemas", verbosity=0)

    with connection.cursor() as cursor:  # post_migrate ran in each brand: content types are back
        for brand in (first, second):
            cursor.execute(
                f'SELECT count(*) FROM "{brand.schema_name}".django_content_type WHERE app_label = %s', [app]
            )
            assert cursor.fetchone()[0] > 0

    applied = applied_by_schema([first.schema_name, second.schema_name, "brand_template"])
    assert applied[first.schema_name] == applied[second.schema_name] == applied["brand_template"]
    assert _structure(first.schema_name) == _structure("brand_template")
    assert _structure(second.schema_name) == _structure("brand_template")


def test_an_interrupted_run_leaves_each_brand_whole_and_finishes_when_run_again(committed_db, new_brand):
    app, name, previous, table = _a_leaf_that_creates_a_table()
    good, blocked = new_brand("mig"), new_brand("mig")
    for brand in (good, blocked):
        _undo(brand.schema_name, app, previous)
    with connection.cursor() as cursor:  # the migration's CREATE TABLE fails in this brand
        cursor.execute(f'CREATE TABLE "{blocked.schema_name}"."{table}" (x int)')
    before = _structure(blocked.schema_name)

    with pytest.raises(MigrationsFailed, match=blocked.schema_name):
        call_command("migrate_schemas", verbosity=0)

    applied = applied_by_schema([good.schema_name, blocked.schema_name, "brand_template"])
    assert applied[good.schema_name] == applied["brand_template"]
    assert (app, name) not in applied[blocked.schema_name]
    assert _structure(blocked.schema_name) == before  # nothing half-done
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{blocked.schema_name}"."{table}"')

    call_command("migrate_schemas", verbosity=0)

    assert applied_by_schema([blocked.schema_name])[blocked.schema_name] == applied["brand_template"]
    assert _structure(blocked.schema_name) == _structure("brand_template")


def test_a_plan_of_two_apps_that_do_not_depend_on_each_other_renders_from_the_applied_state(committed_db, new_brand):
    # given a brand behind by the last migration of two brand apps, each changing a model made before (a column,
    # an index), neither app's migration depending on the other's
    loader = MigrationLoader(connection)
    tenant_apps = {name.rsplit(".", 1)[-1] for name in settings.TENANT_APPS}
    picks: dict[str, tuple[str, str]] = {}
    for app, name in sorted(loader.graph.leaf_nodes()):
        migration = loader.graph.nodes[(app, name)]
        parents = [parent for parent in loader.graph.node_map[(app, name)].parents if parent[0] == app]
        if (
            app in tenant_apps
            and app not in picks
            and parents
            and migration.operations
            and not any(isinstance(op, CreateModel) for op in migration.operations)
            and all(getattr(op, "reduces_to_sql", False) for op in migration.operations)
        ):
            picks[app] = (name, parents[0][1])
    if len(picks) < 2:
        pytest.fail("fewer than two brand apps whose last migration changes an existing model")
    brand = new_brand("mig")
    for app, (_name, previous) in list(picks.items())[:2]:
        _undo(brand.schema_name, app, previous)

    # when migrate_schemas brings it level (one plan holding both)
    call_command("migrate_schemas", verbosity=0)

    # then it is the template's structure
    assert _structure(brand.schema_name) == _structure("brand_template")


def test_brands_migrating_in_parallel_share_the_ledger_functions(committed_db, new_brand, monkeypatch):
    # given: four brands before points 0004, which (re)creates the ledger functions in public from every brand
    brands = [new_brand("par", with_app=False) for _ in range(4)]
    for brand in brands:
        _undo(brand.schema_name, "points", "0003_restore_to_lots")
        _undo(brand.schema_name, "miniprograms", "0010_commission_payouts")  # a plan spanning two apps
    with connection.cursor() as cursor:  # as on a database that never had them (the template gets them back)
        cursor.execute(
            "SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND p.proname IN ('points_credit', 'points_debit', 'points_lot_expiry')"
        )
        for (signature,) in cursor.fetchall():
            cursor.execute(f"DROP FUNCTION {signature}")
    _undo("brand_template", "points", "0003_restore_to_lots")
    _undo("brand_template", "miniprograms", "0010_commission_payouts")
    monkeypatch.setenv("EKR_MIGRATE_PARALLEL", "4")

    # when: they migrate at the same time
    call_command("migrate_schemas", verbosity=0)

    # then: every brand applied it, and earning works in each (the one copy in public serves all)
    from members.models import Member
    from points.services import points_earn

    applied = applied_by_schema([b.schema_name for b in brands] + ["brand_template"])
    assert all(("points", "0004_ledger_functions") in applied[schema] for schema in applied)
    assert len(set(applied.values())) == 1  # the brands are level with the template, miniprograms included
    for n, brand in enumerate(brands):
        connection.set_tenant(brand)
        member = Member.objects.create(openid=f"o-par-{n}")
        assert points_earn(member=member, points=5 + n, idempotency_key="k", reason="t").balance_after == 5 + n
    connection.set_schema_to_public()
