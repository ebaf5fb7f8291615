"""Provisioning brands by cloning the migrated template; commands; the WeChat app registry."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context, schema_exists

from core.errors import Conflict
from tenants.models import Brand, Domain, WeChatApp
from tenants.services import brand_create, wechat_app_add


def _applied_migrations(schema: str) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations')
        return set(cursor.fetchall())


def test_create_brand_command_makes_schema_domain_and_hq_admin(committed_db, capsys):
    call_command(
        "create_brand",
        "--slug",
        "cmdbrand1",
        "--name",
        "Cmd Brand",
        "--industry",
        "beauty",
        "--admin-username",
        "boss",
        "--admin-password",
        "pass-word-1",
    )

    brand = Brand.objects.get(slug="cmdbrand1")
    assert brand.schema_name == "cmdbrand1" and brand.industry == "beauty" and brand.is_active
    assert Domain.objects.get(tenant=brand).domain == "cmdbrand1.localhost"
    assert schema_exists("cmdbrand1")
    with schema_context("cmdbrand1"):
        from django.contrib.auth.models import User

        assert User.objects.get(username="boss").check_password("pass-word-1")
    # the platform's users do not contain the brand's admin
    assert not User.objects.filter(username="boss").exists()


def test_cloned_brand_has_every_migration_of_the_template(committed_db, new_brand):
    brand = new_brand("clone")
    assert _applied_migrations(brand.schema_name) == _applied_migrations("brand_template")
    assert ("members", "0001_initial") in _applied_migrations(brand.schema_name)


def test_clone_does_not_share_rows_or_sequences_with_the_template(committed_db, new_brand):
    from members.models import Member

    first, second = new_brand("seq"), new_brand("seq")
    with schema_context(first.schema_name):
        Member.objects.create(openid="same-openid")
    with schema_context(second.schema_name):
        assert not Member.objects.exists()
        Member.objects.create(openid="same-openid")  # unique per brand, not across brands
    with schema_context("brand_template"):
        assert not Member.objects.exists()


def test_migrate_schemas_keeps_the_template_current(committed_db):
    expected = _applied_migrations("brand_template")
    with connection.cursor() as cursor:
        cursor.execute('DROP SCHEMA "brand_template" CASCADE')
    assert not schema_exists("brand_template")

    call_command("migrate_schemas", interactive=False, verbosity=0)

    assert schema_exists("brand_template")
    assert _applied_migrations("brand_template") == expected
    with schema_context("brand_template"):
        from django.contrib.sessions.models import Session

        assert Session.objects.count() == 0


def test_duplicate_slug_is_a_conflict(db, brand_a):
    with pytest.raises(Conflict):
        brand_create(slug="alpha", name="again")


@pytest.mark.parametrize("slug", ["Upper", "has-dash", "x", "public", "9lives"])
def test_bad_slugs_are_refused_by_the_command(committed_db, slug):
    with pytest.raises(CommandError):
        call_command("create_brand", "--slug", slug, "--name", "Bad")
    assert not Brand.objects.filter(slug=slug).exists()


def test_wechat_secrets_are_encrypted_at_rest(db, brand_a):
    app = WeChatApp.objects.get(appid="wxalpha000000000001")
    assert app.secret == "alpha-secret"
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, token, aes_key FROM tenants_wechatapp WHERE id = %s", [app.id])
        raw = cursor.fetchone()
    assert "alpha-secret" not in raw[0] and "alphatoken" not in raw[1] and "k" * 43 not in raw[2]


def test_an_appid_belongs_to_one_brand(db, brand_b):
    with pytest.raises(Conflict):
        wechat_app_add(brand=brand_b, appid="wxalpha000000000001", secret="s", token="t")


def test_add_wechat_app_command_masks_the_secret(db, brand_b, capsys):
    call_command(
        "add_wechat_app",
        "--brand",
        "beta",
        "--appid",
        "wxbeta0000000000099",
        "--secret",
        "super-secret-value",
        "--token",
        "tkn",
        "--aes-key",
        "a" * 43,
        "--mch-id",
        "1900000109",
        "--mch-key",
        "m" * 32,
    )
    out = capsys.readouterr().out
    assert "super-secret-value" not in out and "alue" in out
    assert WeChatApp.objects.get(appid="wxbeta0000000000099").mch_id == "1900000109"


def test_add_wechat_app_command_refuses_a_bad_aes_key(db, brand_b):
    with pytest.raises(CommandError):
        call_command(
            "add_wechat_app",
            "--brand",
            "beta",
            "--appid",
            "wxbeta0000000000098",
            "--secret",
            "s",
            "--token",
            "t",
            "--aes-key",
            "short",
        )


def _structure(schema: str):
    """Columns, constraints (with definitions), index names and triggers of a schema, without its name."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attidentity
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %s AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'i')""",
            [schema],
        )
        columns = set(cursor.fetchall())
        cursor.execute(
            """SELECT con.conname, con.contype, pg_get_constraintdef(con.oid) FROM pg_constraint con
               JOIN pg_namespace n ON n.oid = con.connamespace WHERE n.nspname = %s""",
            [schema],
        )
        constraints = {
            (name, kind, definition.replace(f"{schema}.", "")) for name, kind, definition in cursor.fetchall()
        }
        cursor.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", [schema])
        indexes = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            """SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT t.tgisinternal""",
            [schema],
        )
        triggers = {row[0] for row in cursor.fetchall()}
    return columns, constraints, indexes, triggers


def test_a_cloned_brand_has_the_templates_structure_under_the_same_names(committed_db, new_brand):
    brand = new_brand("struct")
    columns, constraints, indexes, triggers = _structure(brand.schema_name)
    t_columns, t_constraints, t_indexes, t_triggers = _structure("brand_template")

    assert columns == t_columns
    assert constraints == t_constraints
    assert indexes == t_indexes  # the same names: later migrations that name an index work on every brand
    assert triggers == t_triggers and "points_entry_append_only" in triggers


def test_a_cloned_brand_writes_nothing_into_the_template(committed_db, new_brand):
    before = _structure("brand_template")
    new_brand("noleak")
    assert _structure("brand_template") == before
