"""Rules that let brands spread over several database machines (docs/scaling.md): a brand's schema never points
into the public schema or another brand's tables through a foreign key, the public schema never points into a
brand's, and every table of ours has a bigint primary key."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection

OUR_PACKAGES = {
    "tenants",
    "core",
    "callbacks",
    "members",
    "points",
    "miniprograms",
    "rights_market",
    "livestream",
    "analytics",
    "console",
    "ekr",
}


def _our_labels() -> set[str]:
    return {config.label for config in apps.get_app_configs() if config.name.split(".")[0] in OUR_PACKAGES}


def _our_tables() -> set[str]:
    return {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label in _our_labels()
    }


def _app_label(dotted: str) -> str:
    return next(config.label for config in apps.get_app_configs() if config.name == dotted)


def _labels(names) -> set[str]:
    return {_app_label(name) for name in names}


def _foreign_keys():
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and field.related_model is not None:
                yield model, field


def test_brand_tables_point_only_at_brand_tables():
    tenant_labels = _labels(settings.TENANT_APPS)
    wrong = [
        f"{model._meta.label}.{field.name} -> {field.related_model._meta.label}"
        for model, field in _foreign_keys()
        if model._meta.app_label in tenant_labels
        and model._meta.app_label in _our_labels()
        and field.related_model._meta.app_label not in tenant_labels
    ]
    assert wrong == [], "brand-schema models with a foreign key outside the brand schema: " + ", ".join(wrong)


def test_public_tables_point_only_at_public_tables():
    shared_only = _labels(settings.SHARED_APPS) - _labels(settings.TENANT_APPS)
    wrong = [
        f"{model._meta.label}.{field.name} -> {field.related_model._meta.label}"
        for model, field in _foreign_keys()
        if model._meta.app_label in shared_only
        and field.related_model._meta.app_label not in shared_only
        and field.related_model._meta.app_label not in ("contenttypes", "auth")
    ]
    assert wrong == [], "public models with a foreign key into a brand schema: " + ", ".join(wrong)


@pytest.mark.parametrize("schema", ["brand_template", "public"])
def test_every_table_of_ours_has_a_bigint_primary_key(db, schema):
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT c.relname, format_type(a.atttypid, a.atttypmod)
            FROM pg_index i
            JOIN pg_class c ON c.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
            WHERE i.indisprimary AND n.nspname = %s""",
            [schema],
        )
        rows = cur.fetchall()
    ours = [(table, kind) for table, kind in rows if table in _our_tables()]
    assert len(ours) > 5, f"found too few of our tables in {schema}: {ours}"
    wrong = [(table, kind) for table, kind in ours if kind != "bigint"]
    assert wrong == []
