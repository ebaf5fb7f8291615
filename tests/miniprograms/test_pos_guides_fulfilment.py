import base64

import pytest
from django_tenants.utils import schema_context

from members.models import Member
from miniprograms.models import Order
from miniprograms.selectors import phone_hash
from miniprograms.services.payments import order_mark_paid_from_notification
from miniprograms.services.pos import pos_api_key_create

pytestmark = pytest.mark.django_db


def receipt(w, no, **extra):
    return {"receipt_no": no, "lines": [{"sku_code": w.sku.code, "quantity": 2, "unit_price_fen": 1000}], **extra}


def test_pos_batch_is_idempotent_per_receipt_with_members_and_non_members(world, client_for):
    with schema_context(world.schema):
        key = pos_api_key_create(store=world.s1)
        Member.objects.filter(pk=world.bob.pk).update(phone_hash=phone_hash("13800138000"))
        Member.objects.filter(pk__in=[world.alice.pk, world.bob.pk]).update(store=world.s1)  # in s1's scope
    pos = client_for(world.brand)
    pos.credentials(HTTP_AUTHORIZATION=f"PosKey {key}")
    batch = {
        "receipts": [
            receipt(world, "R1", member_id=world.alice.pk),
            receipt(world, "R2", phone="+86 138-0013-8000", discount_fen=300),
            receipt(world, "R3", phone="13900000000"),
            receipt(world, "R4"),
        ]
    }

    first = pos.post("/api/v1/pos/orders", batch, format="json").json()["results"]
    second = pos.post("/api/v1/pos/orders", batch, format="json").json()["results"]
    reused = pos.post("/api/v1/pos/orders", {"receipts": [receipt(world, "R1", discount_fen=1)]}, format="json").json()[
        "results"
    ]

    assert [r["status"] for r in first] == ["created"] * 4
    assert [r["status"] for r in second] == ["duplicate"] * 4
    assert [r["order_id"] for r in second] == [r["order_id"] for r in first]
    assert reused[0]["status"] == "error" and reused[0]["error"]["code"] == "receipt_reused"
    with schema_context(world.schema):
        orders = {o.receipt_no: o for o in Order.objects.filter(store=world.s1, channel="pos")}
        assert len(orders) == 4
        assert orders["R1"].member_id == world.alice.pk and orders["R2"].member_id == world.bob.pk
        assert orders["R2"].total_fen == 1700
        assert orders["R3"].member_id is None and len(orders["R3"].buyer_phone_hash) == 64
        assert orders["R4"].member_id is None and orders["R4"].buyer_phone_hash == ""


def test_pos_key_is_per_store_and_per_brand(world, world_b, client_for):
    with schema_context(world.schema):
        key = pos_api_key_create(store=world.s1)
    other_brand = client_for(world_b.brand)
    other_brand.credentials(HTTP_AUTHORIZATION=f"PosKey {key}")
    wrong = client_for(world.brand)
    wrong.credentials(HTTP_AUTHORIZATION=f"PosKey {key[:-2]}xx")

    assert (
        other_brand.post("/api/v1/pos/orders", {"receipts": [receipt(world, "R1")]}, format="json").status_code == 401
    )
    assert wrong.post("/api/v1/pos/orders", {"receipts": [receipt(world, "R1")]}, format="json").status_code == 401
    assert client_for(world.brand).post("/api/v1/pos/orders", {}, format="json").status_code in (401, 403)


def test_pos_bad_input_is_400(world, client_for):
    with schema_context(world.schema):
        key = pos_api_key_create(store=world.s1)
    pos = client_for(world.brand)
    pos.credentials(HTTP_AUTHORIZATION=f"PosKey {key}")
    response = pos.post("/api/v1/pos/orders", {"receipts": [{"receipt_no": "X", "lines": []}]}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"


def test_guide_share_code_via_wxacode_and_touch_attributes_order(world, manager_client, member_client, fake_wechat):
    made = manager_client(world, "m1").post(
        f"/api/v1/console/guides/{world.guide.pk}/share-codes", {"shop_id": world.shop1.pk}, format="json"
    )
    denied = manager_client(world, "m2").post(
        f"/api/v1/console/guides/{world.guide.pk}/share-codes", {"shop_id": world.shop1.pk}, format="json"
    )
    scene = made.json()["scene"]
    client = member_client(world, world.alice)
    touched = client.post("/api/v1/mp/guide-touches", {"scene": scene}, format="json")
    order = client.post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop1.pk, "items": [{"sku_id": world.sku.pk, "quantity": 1}]},
        format="json",
    ).json()

    assert made.status_code == 201 and base64.b64decode(made.json()["image_base64"]).endswith(scene.encode())
    assert denied.status_code == 404
    assert touched.json() == {"guide_id": world.guide.pk}
    assert client.post("/api/v1/mp/guide-touches", {"scene": "nope"}, format="json").status_code == 404
    with schema_context(world.schema):
        assert Order.objects.get(pk=order["id"]).guide_id == world.guide.pk


def test_fulfilment_statuses_seen_by_member_and_commission_report(world, member_client, manager_client, fake_wechat):
    client = member_client(world, world.alice)
    order_id = client.post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop1.pk, "items": [{"sku_id": world.sku.pk, "quantity": 1}]},
        format="json",
    ).json()["id"]
    m1 = manager_client(world, "m1")
    assert (
        m1.post(
            f"/api/v1/console/orders/{order_id}/fulfilment", {"status": "ready_for_pickup"}, format="json"
        ).status_code
        == 409
    )  # not paid yet
    client.post(f"/api/v1/mp/orders/{order_id}/pay")
    with schema_context(world.schema):
        order_mark_paid_from_notification(data=fake_wechat.pay_notification(Order.objects.get(pk=order_id).number))

    skip = m1.post(f"/api/v1/console/orders/{order_id}/fulfilment", {"status": "picked_up"}, format="json")
    ready = m1.post(f"/api/v1/console/orders/{order_id}/fulfilment", {"status": "ready_for_pickup"}, format="json")
    done = m1.post(f"/api/v1/console/orders/{order_id}/fulfilment", {"status": "picked_up"}, format="json")
    seen = client.get(f"/api/v1/mp/orders/{order_id}").json()

    assert skip.status_code == 409 and skip.json()["error"]["code"] == "bad_transition"
    assert ready.status_code == 200 and done.json()["fulfilment_status"] == "picked_up"
    assert [e["status"] for e in seen["events"]] == ["placed", "paid", "ready_for_pickup", "picked_up"]
    report = m1.get("/api/v1/console/reports/commission")
    assert report.status_code == 200 and report.json()["results"] == []
