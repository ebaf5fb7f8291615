"""The facts analytics needs, written by the apps that own them: a member's visit (members) and a non-member
buyer's identity (miniprograms)."""

from __future__ import annotations

from django_tenants.utils import schema_context

from members.models import MemberVisit
from members.services import member_visit_record
from tests.analytics.conftest import D, at, member


def test_a_members_session_records_one_visit_a_day(world, client_for, fake_wechat):
    with schema_context(world.schema):
        alice = member(joined=at(D), openid="o-visit-1")
    fake_wechat.codes["c1"] = {"openid": "o-visit-1", "session_key": "sk"}
    fake_wechat.codes["c2"] = {"openid": "o-visit-1", "session_key": "sk"}
    fake_wechat.codes["c3"] = {"openid": "o-not-member", "session_key": "sk"}
    client = client_for(world.brand)
    for code in ("c1", "c2", "c3"):
        response = client.post("/api/v1/mp/session", {"appid": "wxalpha000000000001", "code": code}, format="json")
        assert response.status_code == 200, response.content
    with schema_context(world.schema):
        assert list(MemberVisit.objects.values_list("member_id", flat=True)) == [alice.pk]
        member_visit_record(member_id=alice.pk, at=at(D))
        member_visit_record(member_id=alice.pk, at=at(D, 23))
        assert MemberVisit.objects.filter(member=alice).count() == 2


def test_pos_sales_without_a_member_keep_the_buyers_identity(world):
    from miniprograms.models import NonMemberBuyer, Product, Sku
    from miniprograms.services.pos import pos_orders_record

    with schema_context(world.schema):
        Sku.objects.create(product=Product.objects.create(name="Tea"), code="TEA-2", price_fen=800)
        known = member(joined=at(D), openid="o-known", store=world.s1)  # in the POS store's franchisee scope
        line = [{"sku_code": "TEA-2", "quantity": 1, "unit_price_fen": 800}]
        results = pos_orders_record(
            store=world.s1,
            receipts=[
                {"receipt_no": "1", "sold_at": at(D, 10), "openid": "o-stranger", "lines": line},
                {"receipt_no": "2", "sold_at": at(D, 11), "phone": "13800138001", "lines": line},
                {"receipt_no": "3", "sold_at": at(D, 23, 30), "lines": line},
                {"receipt_no": "4", "sold_at": at(D, 12), "openid": "o-known", "lines": line},
                {"receipt_no": "3", "sold_at": at(D, 23, 30), "lines": line},  # sent again
            ],
        )
        assert [r.status for r in results] == ["created"] * 4 + ["duplicate"]
        rows = {b.order.receipt_no: (b.kind, b.day, b.store_id) for b in NonMemberBuyer.objects.select_related("order")}
        assert rows == {
            "1": ("openid", D, world.s1.pk),
            "2": ("phone", D, world.s1.pk),
            "3": ("receipt", D, world.s1.pk),
        }
        assert NonMemberBuyer.objects.get(order__receipt_no="3").identity == f"{world.s1.pk}:3"
        from miniprograms.models import Order

        assert Order.objects.get(receipt_no="4").member_id == known.pk
