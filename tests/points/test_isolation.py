"""Two brands on one database session: the ledger functions (one copy, in public) write to the brand in use."""

from __future__ import annotations

from django_tenants.utils import schema_context

from members.models import Member
from points.models import PointsEntry, PointsLot
from points.services import points_earn, points_redeem


def test_ledger_functions_follow_the_brand_on_the_same_connection(brand_a, brand_b):
    # given: the functions' statements planned on this session while in alpha
    with schema_context(brand_a.schema_name):
        alice = Member.objects.create(openid="o-iso-a")
        points_earn(member=alice, points=10, idempotency_key="iso-1", reason="a")
        points_redeem(member=alice, points=1, idempotency_key="iso-2", reason="a")

    # when: the same statements run in beta, then alpha again
    with schema_context(brand_b.schema_name):
        bob = Member.objects.create(openid="o-iso-b")
        points_earn(member=bob, points=20, idempotency_key="iso-1", reason="a")  # same key: another brand
        points_redeem(member=bob, points=2, idempotency_key="iso-2", reason="a")
    with schema_context(brand_a.schema_name):
        points_earn(member=alice, points=30, idempotency_key="iso-3", reason="a")

    # then: each brand's tables hold only its own rows
    with schema_context(brand_a.schema_name):
        assert sorted(PointsEntry.objects.values_list("idempotency_key", "amount")) == [
            ("iso-1", 10),
            ("iso-2", -1),
            ("iso-3", 30),
        ]
        assert PointsLot.objects.filter(account__member__openid="o-iso-a").count() == 2
    with schema_context(brand_b.schema_name):
        assert sorted(PointsEntry.objects.values_list("idempotency_key", "amount")) == [("iso-1", 20), ("iso-2", -2)]
        assert bob.points_account.balance == 18
