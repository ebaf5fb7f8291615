"""`make demo`'s data: two brands with stores, members, points, shops and a market listing; safe to run twice."""

from django_tenants.utils import schema_context

from ekr.demo import DEMO_BRANDS, seed_demo
from members.models import Member, Store
from rights_market.models import Listing


def test_demo_seed_makes_two_brands_and_can_run_again(committed_db, client_for):
    from tenants.models import Brand

    seed_demo()
    seed_demo()

    for spec in DEMO_BRANDS:
        brand = Brand.objects.get(slug=spec["slug"])
        with schema_context(brand.schema_name):
            assert Store.objects.count() == 4
            assert Member.objects.count() == 40
        username, password = spec["admin"]
        assert client_for(brand).as_staff(username, password).get("/api/v1/staff/members").status_code == 200
    assert Listing.objects.filter(brand__slug=DEMO_BRANDS[1]["slug"]).count() == 1
