"""Defect 6: a POS key records sales only for its store's scope, capped, and keys are listed, revoked, limited."""

import pytest
from django_tenants.utils import schema_context

from members.models import Member
from miniprograms.models import Order
from miniprograms.selectors import phone_hash
from miniprograms.services.pos import pos_api_key_create
from tests.miniprograms.conftest import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(brand_a, fake_wechat):
    w = build_world(brand_a, fake_wechat)
    with schema_context(w.schema):
        Member.objects.filter(pk=w.alice.pk).update(store=w.s1, phone_hash=phone_hash("13800138001"))  # f1
        Member.objects.filter(pk=w.bob.pk).update(store=w.s2, phone_hash=phone_hash("13800138002"))  # f2
    return w


def _pos(w, client_for, store):
    with schema_context(w.schema):
        key = pos_api_key_create(store=store)
    client = client_for(w.brand)
    client.credentials(HTTP_AUTHORIZATION=f"PosKey {key}")
    return client, key


def _receipt(w, no, quantity=1, price=1000, **extra):
    return {
        "receipt_no": no,
        "lines": [{"sku_code": w.sku.code, "quantity": quantity, "unit_price_fen": price}],
        **extra,
    }


def test_a_key_cannot_mint_points_for_another_franchisees_member(world, client_for):
    pos, _ = _pos(world, client_for, world.s1)
    results = pos.post(
        "/api/v1/pos/orders",
        {
            "receipts": [
                _receipt(world, "A1", member_id=world.alice.pk),
                _receipt(world, "B1", member_id=world.bob.pk),  # bob belongs to franchisee 2
                _receipt(world, "N1", member_id=987654),  # nobody
                _receipt(world, "B2", phone="13800138002"),  # bob's phone: not matched out of scope
            ]
        },
        format="json",
    ).json()["results"]
    assert [r["status"] for r in results] == ["created", "error", "error", "created"]
    # an id elsewhere and an id nowhere get the same answer
    assert results[1]["error"] == results[2]["error"]
    with schema_context(world.schema):
        assert Order.objects.get(receipt_no="B2").member_id is None
        assert Order.objects.filter(member=world.bob).count() == 0
        assert Order.objects.get(receipt_no="A1").member_id == world.alice.pk


def test_a_line_over_the_cap_is_refused(world, client_for, settings):
    settings.EKR_POS_MAX_LINE_FEN = 100_000
    pos, _ = _pos(world, client_for, world.s1)
    results = pos.post(
        "/api/v1/pos/orders",
        {"receipts": [_receipt(world, "BIG", quantity=9999, price=100_000, member_id=world.alice.pk)]},
        format="json",
    ).json()
    assert results["results"][0]["error"]["code"] == "line_over_cap"
    with schema_context(world.schema):
        assert not Order.objects.filter(receipt_no="BIG").exists()


def test_keys_are_listed_revoked_and_limited_per_store(world, client_for, manager_client, settings):
    settings.EKR_POS_KEYS_PER_STORE = 2
    m1 = manager_client(world, "m1")
    created = m1.post(f"/api/v1/console/stores/{world.s1.pk}/pos-keys", {"label": "till 1"}, format="json")
    assert created.status_code == 201
    raw = created.json()["api_key"]
    assert m1.post(f"/api/v1/console/stores/{world.s1.pk}/pos-keys", {}, format="json").status_code == 201
    third = m1.post(f"/api/v1/console/stores/{world.s1.pk}/pos-keys", {}, format="json")
    assert third.status_code == 409 and third.json()["error"]["code"] == "too_many_keys"

    listed = m1.get(f"/api/v1/console/stores/{world.s1.pk}/pos-keys").json()["results"]
    assert len(listed) == 2 and raw.split(".")[0] in [k["prefix"] for k in listed]
    assert raw.split(".")[1] not in str(listed)
    key_id = next(k["id"] for k in listed if raw.startswith(k["prefix"]))

    # another franchisee's manager sees and revokes nothing of this store
    m2 = manager_client(world, "m2")
    assert m2.get(f"/api/v1/console/stores/{world.s1.pk}/pos-keys").status_code == 404
    assert m2.post(f"/api/v1/console/stores/{world.s1.pk}/pos-keys/{key_id}/revoke").status_code == 404
    assert m2.post(f"/api/v1/console/stores/{world.s2.pk}/pos-keys/{key_id}/revoke").status_code == 404

    pos = client_for(world.brand)
    pos.credentials(HTTP_AUTHORIZATION=f"PosKey {raw}")
    assert pos.post("/api/v1/pos/orders", {"receipts": [_receipt(world, "R1")]}, format="json").status_code == 200
    revoked = m1.post(f"/api/v1/console/stores/{world.s1.pk}/pos-keys/{key_id}/revoke")
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    refused = pos.post("/api/v1/pos/orders", {"receipts": [_receipt(world, "R2")]}, format="json")
    assert refused.status_code == 401 and refused.json()["error"]["code"]
    # a revoked key frees its slot
    assert m1.post(f"/api/v1/console/stores/{world.s1.pk}/pos-keys", {}, format="json").status_code == 201


def test_the_hq_admin_lists_and_revokes_keys(world, client_for):
    _, raw = _pos(world, client_for, world.s1)
    admin = client_for(world.brand)
    admin.post("/admin/login/?next=/admin/", {"username": "alpha-hq", "password": "hq-password-1"})
    page = admin.get("/admin/miniprograms/posapikey/")
    assert page.status_code == 200 and raw.split(".")[0] in page.content.decode()
    assert raw.split(".")[1] not in page.content.decode()
    with schema_context(world.schema):
        from miniprograms.models import PosApiKey

        key = PosApiKey.objects.get(prefix=raw.split(".")[0])
    admin.post("/admin/miniprograms/posapikey/", {"action": "revoke", "_selected_action": [key.pk]})
    with schema_context(world.schema):
        assert PosApiKey.objects.get(pk=key.pk).active is False
