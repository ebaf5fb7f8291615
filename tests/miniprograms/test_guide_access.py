"""A guide's own login sees only the orders and commission attributed to them, and is never staff."""

from datetime import timedelta

from django.utils import timezone
from django_tenants.utils import schema_context

from members.models import Guide
from miniprograms.models import CommissionEntry, Order


def _attributed_order(w, guide, number: str, total_fen: int = 5_000) -> Order:
    order = Order.objects.create(
        number=number,
        store=w.s1,
        member=w.alice,
        guide=guide,
        status=Order.Status.PAID,
        subtotal_fen=total_fen,
        total_fen=total_fen,
        paid_at=timezone.now(),
    )
    CommissionEntry.objects.create(
        guide=guide, order=order, store=w.s1, amount_fen=total_fen // 10, payable_at=timezone.now() + timedelta(days=7)
    )
    return order


def _guides_with_logins(w, manager_client):
    with schema_context(w.schema):
        other = Guide.objects.create(name="H", employee_no="E-OTHER-" + w.schema, store=w.s1)
        mine = _attributed_order(w, w.guide, f"G-{w.schema}-1")
        _attributed_order(w, other, f"G-{w.schema}-2")
    # the store manager of the guides' franchisee gives each a login
    manager = manager_client(w, "m1")
    for guide, username in ((w.guide, "guide-g"), (other, "guide-h")):
        response = manager.post(
            f"/api/v1/staff/guides/{guide.pk}/login",
            {"username": username, "password": "guide-pass-123"},
            format="json",
        )
        assert response.status_code == 200, response.content
    return mine


def test_a_guide_sees_only_their_own_orders_and_commission(world, client_for, manager_client):
    mine = _guides_with_logins(world, manager_client)
    guide = client_for(world.brand).as_staff("guide-g", "guide-pass-123")

    orders = guide.get("/api/v1/guide/orders")
    commissions = guide.get("/api/v1/guide/commissions")

    assert orders.status_code == 200, orders.content
    assert [o["number"] for o in orders.json()["results"]] == [mine.number]
    assert [c["order_number"] for c in commissions.json()["results"]] == [mine.number]
    assert commissions.json()["results"][0]["amount_fen"] == 500


def test_a_guide_is_not_staff_and_staff_are_not_guides(world, client_for, manager_client, hq_client):
    _guides_with_logins(world, manager_client)
    guide = client_for(world.brand).as_staff("guide-g", "guide-pass-123")

    for path in ("/api/v1/console/orders", "/api/v1/staff/members", "/api/v1/staff/stores"):
        assert guide.get(path).status_code == 403, path
    assert (
        guide.post("/admin/login/?next=/admin/", {"username": "guide-g", "password": "guide-pass-123"}).status_code
        == 200
    )  # not let into the HQ admin
    assert hq_client(world).get("/api/v1/guide/orders").status_code == 403


def test_another_franchisees_manager_cannot_give_a_guide_a_login(world, manager_client):
    response = manager_client(world, "m2").post(
        f"/api/v1/staff/guides/{world.guide.pk}/login",
        {"username": "sneaky", "password": "guide-pass-123"},
        format="json",
    )
    assert response.status_code == 404


def test_a_guide_login_of_brand_a_means_nothing_on_brand_b(world, world_b, client_for, manager_client):
    _guides_with_logins(world, manager_client)
    on_b = client_for(world_b.brand).as_staff("guide-g", "guide-pass-123").get("/api/v1/guide/orders")
    assert on_b.status_code in (401, 403)
