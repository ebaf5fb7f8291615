"""bench/provision: time to provision a brand by cloning the template schema vs by replaying every migration.

    .venv/bin/python bench/provision.py [--count 50]

Both ways run in the same process against the same database (its own, `<db>_bench_provision`, bootstrapped when
behind: bench/_owndb.py), one after the other, so the ratio is fair on a noisy machine. Brands made here are dropped at the end. Cloning is tenants.cloning.schema_clone; migrating
is django-tenants' create_schema replaying every migration.
"""

import argparse
import statistics
import time
import uuid

import _owndb

_owndb.use("provision", redis_db=15)

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from tenants.models import Brand, Domain  # noqa: E402
from tenants.services import brand_create  # noqa: E402


def provision(count: int, *, clone: bool, tag: str) -> list[float]:
    settings.TENANT_CREATION_FAKES_MIGRATIONS = clone
    times = []
    for i in range(count):
        slug = f"bench{tag}{i}x{uuid.uuid4().hex[:6]}"
        start = time.perf_counter()
        # No HQ admin here: its password hash (PBKDF2, ~0.6 s by design) costs the same both ways.
        brand_create(slug=slug, name=slug)
        times.append(time.perf_counter() - start)
    settings.TENANT_CREATION_FAKES_MIGRATIONS = True
    return times


def drop_bench_brands() -> None:
    connection.set_schema_to_public()
    for brand in Brand.objects.filter(slug__startswith="bench"):
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{brand.schema_name}" CASCADE')
        Domain.objects.filter(tenant=brand).delete()
        Brand.objects.filter(pk=brand.pk).delete()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    drop_bench_brands()
    try:
        # warm-up: imports, connection, first clone
        provision(1, clone=True, tag="w")
        one_clone = provision(1, clone=True, tag="c1")[0]
        one_migrate = provision(1, clone=False, tag="m1")[0]
        many_clone = provision(args.count, clone=True, tag="c")
        many_migrate = provision(args.count, clone=False, tag="m")
        report(args.count, one_clone, one_migrate, many_clone, many_migrate)
    finally:
        print("dropping the bench brands ...", flush=True)
        drop_bench_brands()


def report(count, one_clone, one_migrate, many_clone, many_migrate) -> None:
    print("bench/provision (seconds; brand row + domain + schema with every table)")
    print(
        f"  one brand   clone {one_clone:7.3f}   migrate {one_migrate:7.3f}   migrate/clone {one_migrate / one_clone:5.1f}x"
    )
    print(
        f"  {count} brands   clone {sum(many_clone):7.2f}   migrate {sum(many_migrate):7.2f}   "
        f"migrate/clone {sum(many_migrate) / sum(many_clone):5.1f}x"
    )
    print(
        f"  per brand median   clone {statistics.median(many_clone):.3f}   migrate {statistics.median(many_migrate):.3f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
